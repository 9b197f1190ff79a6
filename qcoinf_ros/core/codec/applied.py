"""
``qcoinf/applied_profile`` (std_msgs/String, JSON, latched): what the actuator really set.

Published by the frequency actuator after each profile it applied: the profile name, the clocks
the backend set (null where it sets none: ``dry_run`` reports the request, ``jtop`` a mode), the
backend and a line of detail, and whether the request was clamped to the hardware's range.
Decoded with the bounded, strict JSON decoder
(:func:`qcoinf_ros.core.codec.json_text.loads_bounded`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json

from qcoinf_ros.core.codec.json_text import decode_record
from qcoinf_ros.core.validation import physical_quantity_reason

__all__ = ['AppliedMessage', 'decode_applied', 'encode_applied', 'MAX_APPLIED_BYTES']

#: Longest accepted message.
MAX_APPLIED_BYTES = 4096
_TEXT_LIMIT = 1024


@dataclass(frozen=True)
class AppliedMessage:
    """The content of one ``qcoinf/applied_profile`` message."""

    name: str
    f: float | None
    f_server: float | None
    backend: str
    detail: str = ''
    clamped: bool = False

    def __post_init__(self):
        for key in ('name', 'backend', 'detail'):
            value = getattr(self, key)
            if not isinstance(value, str) or len(value) > _TEXT_LIMIT or \
                    (key != 'detail' and not value):
                raise ValueError(f'{key} must be a string of at most {_TEXT_LIMIT} characters, '
                                 f'got {value!r:.80}')
        for key in ('f', 'f_server'):
            value = getattr(self, key)
            if value is not None:
                reason = physical_quantity_reason(value)
                if reason is not None:
                    raise ValueError(f'{key} must be a clock [Hz] or null: {reason}')
                object.__setattr__(self, key, float(value))
        if not isinstance(self.clamped, bool):
            raise ValueError(f'clamped must be a boolean, got {self.clamped!r}')


def encode_applied(msg: AppliedMessage) -> str:
    """Serialize to the JSON text carried in ``std_msgs/String.data``."""
    return json.dumps(asdict(msg), sort_keys=True)


def decode_applied(text) -> AppliedMessage:
    """Inverse of :func:`encode_applied`; ``ValueError`` with the reason for bad content."""
    return decode_record(text, AppliedMessage, what='applied profile', max_bytes=MAX_APPLIED_BYTES)
