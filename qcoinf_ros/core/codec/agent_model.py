"""
``qcoinf/agent_model`` (std_msgs/String, JSON, latched): what the agent encoder runs.

Published by the agent encoder once configured: the model id, the quantization scheme, B_max,
and lambda with its Kolmogorov-Smirnov statistic, fitted to the agent part's full-precision
weights (eq. (3)); the planner takes lambda from it. Decoded with the bounded, strict JSON
decoder (:func:`qcoinf_ros.core.codec.json_text.loads_bounded`): ``ValueError`` with the reason is
the only exception :func:`decode_agent_model` raises, whatever the text holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import json

from qcoinf_ros.core.codec.json_text import decode_record
from qcoinf_ros.core.validation import require_int_in_range, require_physical

__all__ = ['AgentModelInfo', 'decode_agent_model', 'encode_agent_model', 'MAX_AGENT_MODEL_BYTES']

#: Longest accepted message (the agent's own is ~200 bytes).
MAX_AGENT_MODEL_BYTES = 4096
_TEXT_LIMIT = 256


@dataclass(frozen=True)
class AgentModelInfo:
    """The content of one ``qcoinf/agent_model`` message."""

    model_id: str
    scheme: str
    b_max: int
    lam: float
    ks: float
    num_params: int

    def __post_init__(self):
        for key in ('model_id', 'scheme'):
            value = getattr(self, key)
            if not isinstance(value, str) or not value or len(value) > _TEXT_LIMIT:
                raise ValueError(f'{key} must be a non-empty string of at most {_TEXT_LIMIT} '
                                 f'characters, got {value!r:.80}')
        require_int_in_range('b_max', self.b_max, 1, 64)
        object.__setattr__(self, 'lam', require_physical('lam', self.lam))
        object.__setattr__(self, 'ks', require_physical('ks', self.ks, positive=False, high=1.0))
        require_int_in_range('num_params', self.num_params, 0)


def encode_agent_model(info: AgentModelInfo) -> str:
    """Serialize to the JSON text carried in ``std_msgs/String.data``."""
    return json.dumps(asdict(info), sort_keys=True)


def decode_agent_model(text) -> AgentModelInfo:
    """Inverse of :func:`encode_agent_model`; ``ValueError`` with the reason for bad content."""
    return decode_record(text, AgentModelInfo, what='agent model info',
                         max_bytes=MAX_AGENT_MODEL_BYTES)
