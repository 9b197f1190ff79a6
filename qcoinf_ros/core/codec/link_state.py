"""
``qcoinf/link_state`` (std_msgs/String, JSON, latched): does the edge server answer the robot.

Published by the agent encoder on every transition of its link monitor
(:mod:`qcoinf_ros.core.failover.link_state`) and, while counters move, at most once a second: the
state (``SPLIT``, ``SUSPECT``, ``LOST``), why and since when (seconds of the agent's ROS clock),
the timeout in force and the counters. Decoded with the bounded, strict JSON decoder
(:func:`qcoinf_ros.core.codec.json_text.decode_record`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json

from qcoinf_ros.core.codec.json_text import decode_record
from qcoinf_ros.core.failover.link_state import LinkSnapshot, STATES
from qcoinf_ros.core.validation import physical_quantity_reason

__all__ = ['decode_link_state', 'encode_link_state', 'LinkStateMessage', 'MAX_LINK_STATE_BYTES']

#: Longest accepted message.
MAX_LINK_STATE_BYTES = 4096
_TEXT_LIMIT = 1024
_COUNTERS = ('missed', 'answers', 'in_flight', 'sent', 'answered', 'missed_total', 'late',
             'transitions')


@dataclass(frozen=True)
class LinkStateMessage:
    """The content of one ``qcoinf/link_state`` message."""

    state: str
    reason: str
    since: float          # ROS time of the last transition [s]
    timeout_s: float      # the answer timeout in force (T0 when known) [s]
    missed: int           # consecutive missed answers
    answers: int          # consecutive answers within the timeout
    decoders: int | None  # decoders present (null: not known yet)
    alive: bool           # the decoder's liveliness
    in_flight: int
    sent: int
    answered: int
    missed_total: int
    late: int
    rtt_s: float | None   # the last round trip measured [s]
    transitions: int

    def __post_init__(self):
        if self.state not in STATES:
            raise ValueError(f'state must be one of {list(STATES)}, got {self.state!r:.80}')
        if not isinstance(self.reason, str) or len(self.reason) > _TEXT_LIMIT:
            raise ValueError(f'reason must be a string of at most {_TEXT_LIMIT} characters, '
                             f'got {self.reason!r:.80}')
        for key, positive in (('since', False), ('timeout_s', True), ('rtt_s', False)):
            value = getattr(self, key)
            if value is None and key == 'rtt_s':
                continue
            reason = physical_quantity_reason(value, positive=positive)
            if reason is not None:
                raise ValueError(f'{key} {reason}')
            object.__setattr__(self, key, float(value))
        for key in _COUNTERS + ('decoders',):
            value = getattr(self, key)
            if value is None and key == 'decoders':
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f'{key} must be an integer >= 0, got {value!r:.80}')
        if not isinstance(self.alive, bool):
            raise ValueError(f'alive must be a boolean, got {self.alive!r:.80}')

    @classmethod
    def from_snapshot(cls, snap: LinkSnapshot, since: float) -> 'LinkStateMessage':
        """Build the message of ``snap``, its transition time given as ``since`` (ROS time)."""
        fields = asdict(snap)
        fields['since'] = max(0.0, since)
        fields['reason'] = snap.reason[:_TEXT_LIMIT]
        return cls(**fields)


def encode_link_state(msg: LinkStateMessage) -> str:
    """Serialize to the JSON text carried in ``std_msgs/String.data``."""
    return json.dumps(asdict(msg), sort_keys=True)


def decode_link_state(text) -> LinkStateMessage:
    """Inverse of :func:`encode_link_state`; ``ValueError`` with the reason for bad content."""
    return decode_record(text, LinkStateMessage, what='link state',
                         max_bytes=MAX_LINK_STATE_BYTES)
