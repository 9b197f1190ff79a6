"""
The content of one ``qcoinf/caption`` message (``qcoinf_ros/msg/Caption``), header aside.

A caption of one camera frame: the text, who made it (the edge server's decoder, or the robot
itself in local mode), the bit-width its embedding was encoded at, the tokens generated and the
latencies that ``qcoinf/latency`` (or ``qcoinf/local_latency``) carries beside it. The message's
header is the camera frame's, copied. Latencies are NaN where unknown (an unstamped frame, or
a caption converted from an old bag that did not say); the end-to-end latency is any finite
age (negative where the camera's clock runs ahead of the captioner's); ``bit_width`` is 0 where
unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

from qcoinf_ros.core.validation import (
    physical_quantity_reason, require_finite, require_int_in_range)

__all__ = ['CaptionRecord', 'MAX_CAPTION_CHARS', 'ORIGIN_EDGE', 'ORIGIN_LOCAL', 'ORIGINS']

#: ``Caption.ORIGIN_EDGE``, ``Caption.ORIGIN_LOCAL``.
ORIGIN_EDGE, ORIGIN_LOCAL = 0, 1
ORIGINS = {ORIGIN_EDGE: 'edge', ORIGIN_LOCAL: 'local'}
#: Longest accepted caption [characters] (a decoder's max_new_tokens is at most a few hundred).
MAX_CAPTION_CHARS = 4096
#: Longest accepted latency [s] (a day).
MAX_LATENCY_S = 86400.0


@dataclass(frozen=True)
class CaptionRecord:
    """A caption and what came with it (the fields of ``Caption.msg`` but the header)."""

    text: str
    origin: int = ORIGIN_EDGE
    bit_width: int = 0  # 0: unknown (converted from an old bag)
    tokens: int = 0
    latency_s: float = float('nan')
    encode_s: float = float('nan')
    decode_s: float = float('nan')

    def __post_init__(self):
        if not isinstance(self.text, str) or len(self.text) > MAX_CAPTION_CHARS:
            raise ValueError(f'text must be a string of at most {MAX_CAPTION_CHARS} characters, '
                             f'got {self.text!r:.80}')
        if self.origin not in ORIGINS or isinstance(self.origin, bool):
            raise ValueError(f'origin must be {ORIGIN_EDGE} (edge) or {ORIGIN_LOCAL} (local), '
                             f'got {self.origin!r}')
        object.__setattr__(self, 'origin', int(self.origin))
        object.__setattr__(self, 'bit_width', require_int_in_range('bit_width', self.bit_width,
                                                                   0, 64))
        object.__setattr__(self, 'tokens', require_int_in_range('tokens', self.tokens, 0,
                                                                1 << 20))
        for key in ('latency_s', 'encode_s', 'decode_s'):
            value = getattr(self, key)
            if isinstance(value, float) and math.isnan(value):
                continue
            # the end-to-end latency: any age (a bag replayed on its recorded stamps is days
            # old; < 0 where the camera's clock is ahead of the captioner's)
            if key == 'latency_s':
                object.__setattr__(self, key, require_finite(key, value))
                continue
            reason = physical_quantity_reason(value, positive=False, high=MAX_LATENCY_S)
            if reason is not None:
                raise ValueError(f'{key} must be a latency [s] or NaN: {reason}')
            object.__setattr__(self, key, float(value))

    @property
    def local(self) -> bool:
        """Made on the robot (local mode), not by the edge server."""
        return self.origin == ORIGIN_LOCAL
