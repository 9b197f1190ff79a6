"""
Wire format of the planner's frequency profile (``qcoinf/frequency_profile``, std_msgs/String).

A compact JSON object — standard message types only, readable with ``ros2 topic echo``::

    {"name": "medium", "f": 1.0e9, "f_server": 5.0e9, "nvpmodel_mode": 2,
     "bit_width": 6, "feasible": true, "predicted_delay_s": 0.41, "predicted_energy_j": 1.7,
     "predicted_agent_delay_s": 0.12}

``name`` is the profile's name for profile-based solvers and ``"continuous"`` otherwise; clocks
are in Hz; ``feasible`` is false when the planner publishes the safest fallback of an
infeasible instance. The predicted delay and energy are the system model's (eqs. (8)-(9)) for
that operating point, and the agent's part of the delay (eq. (4) or the measured cost model);
the frequency actuator reports them where it cannot measure energy. Messages written before
``predicted_agent_delay_s`` existed (recorded bags) decode with it NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json
import math

from qcoinf_ros.core.codec.json_text import decode_record
from qcoinf_ros.core.validation import physical_quantity_reason, require_int_in_range

#: Longest accepted message (the planner's own is ~300 bytes).
MAX_PROFILE_BYTES = 4096
_NAME_LIMIT = 256


@dataclass(frozen=True)
class ProfileMessage:
    """The content of one ``qcoinf/frequency_profile`` message."""

    name: str
    f: float
    f_server: float
    bit_width: int
    feasible: bool
    nvpmodel_mode: int | None = None
    predicted_delay_s: float = float('nan')
    predicted_energy_j: float = float('nan')
    predicted_agent_delay_s: float = float('nan')

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or len(self.name) > _NAME_LIMIT:
            raise ValueError(f'profile name must be a non-empty string of at most {_NAME_LIMIT} '
                             f'characters, got {self.name!r:.80}')
        for key in ('f', 'f_server'):
            reason = physical_quantity_reason(getattr(self, key))
            if reason is not None:
                raise ValueError(f'{key} must be a positive finite clock [Hz]: {reason}')
            object.__setattr__(self, key, float(getattr(self, key)))
        require_int_in_range('bit_width', self.bit_width, 1, 64)
        if not isinstance(self.feasible, bool):
            raise ValueError(f'feasible must be a boolean, got {self.feasible!r}')
        if self.nvpmodel_mode is not None:
            require_int_in_range('nvpmodel_mode', self.nvpmodel_mode, 0, 1 << 16)
        for key in ('predicted_delay_s', 'predicted_energy_j', 'predicted_agent_delay_s'):
            value = getattr(self, key)
            if isinstance(value, float) and math.isnan(value):
                continue
            reason = physical_quantity_reason(value, positive=False)
            if reason is not None:
                raise ValueError(f'{key} must be a non-negative number or NaN: {reason}')
            object.__setattr__(self, key, float(value))


def encode_profile(msg: ProfileMessage) -> str:
    """Serialize to the JSON text carried in ``std_msgs/String.data``."""
    return json.dumps(asdict(msg), sort_keys=True)  # NaN is written as NaN (JSON5-style)


def decode_profile(text: str) -> ProfileMessage:
    """
    Inverse of :func:`encode_profile`; ``ValueError`` with the reason for bad content.

    ``ValueError`` is the only exception raised, whatever ``text`` holds
    (``test/fuzz/test_fuzz_codec.py``).
    """
    return decode_record(text, ProfileMessage, what='frequency profile',
                         max_bytes=MAX_PROFILE_BYTES, allow_nan=True,  # NaN: not predicted
                         optional=frozenset({'predicted_agent_delay_s'}))
