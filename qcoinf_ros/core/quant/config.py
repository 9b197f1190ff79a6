"""
Validated configuration of the weight quantizers (paper section II-C, section VI-A).

Bit accounting, used everywhere in this package: a bit-width ``b`` counts the sign bit, so the
magnitude gets ``b - 1`` bits, which is the paper's rate ``R = b - 1`` of problem (P1).
"""

from __future__ import annotations

from dataclasses import dataclass

from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['SCHEMES', 'GRANULARITIES', 'MAX_BIT_WIDTH', 'QuantConfig', 'check_scheme',
           'check_granularity', 'check_bit_width']

SCHEMES = ('uniform', 'potlog')
GRANULARITIES = ('per_tensor', 'per_channel')
# Largest B_max accepted: codes are stored as uint8 up to 8 bits and int32 beyond; PoT-log levels
# below 2**-149 (about b > 8 for PoT-log) underflow to 0 in fp32, which is harmless.
MAX_BIT_WIDTH = 16


def check_scheme(scheme) -> str:
    """Return ``scheme``; raise ``ValueError`` unless it is one of :data:`SCHEMES`."""
    if scheme not in SCHEMES:
        raise ValueError(f'Invalid quantization scheme: "{scheme}" (expected one of {SCHEMES})')
    return scheme


def check_granularity(granularity) -> str:
    """Return ``granularity``; raise ``ValueError`` unless it is one of :data:`GRANULARITIES`."""
    if granularity not in GRANULARITIES:
        raise ValueError(
            f'Invalid quantization granularity: "{granularity}" (expected one of {GRANULARITIES})')
    return granularity


def check_bit_width(bits, b_max: int = MAX_BIT_WIDTH, name: str = 'bits') -> int:
    """Return ``bits`` as an int in ``[1, b_max]``; raise ``ValueError`` naming it otherwise."""
    return require_int_in_range(name, bits, 1, b_max)


@dataclass(frozen=True)
class QuantConfig:
    """
    How to quantize weights: scheme, bit-width ``b`` (sign included), B_max, granularity.

    - ``scheme='uniform'``: magnitudes on a fixed-step grid, step ``scale * 2**-(b-1)``,
      floor-coded and reconstructed at the cell midpoint (error <= step / 2).
    - ``scheme='potlog'``: magnitudes in ``{0} U {scale * 2**-k, k = 0 .. 2**(b-1) - 2}``
      with ``scale`` a power of two (INQ, Zhou et al. 2017).
    - ``granularity``: one scale per tensor, or one per output channel (``channel_axis``).
    """

    scheme: str = 'uniform'
    bits: int = 8
    b_max: int = 8
    granularity: str = 'per_tensor'
    channel_axis: int = 0

    def __post_init__(self):
        """Validate every field; raise ``ValueError`` naming the bad value."""
        check_scheme(self.scheme)
        check_granularity(self.granularity)
        b_max = check_bit_width(self.b_max, MAX_BIT_WIDTH, 'b_max')
        bits = check_bit_width(self.bits, b_max, 'bits')
        axis = require_int_in_range('channel_axis', self.channel_axis, -8, 7)
        object.__setattr__(self, 'b_max', b_max)
        object.__setattr__(self, 'bits', bits)
        object.__setattr__(self, 'channel_axis', axis)

    @property
    def magnitude_bits(self) -> int:
        """Bits left for the magnitude, ``R = b - 1`` (paper eq. (30) evaluates D(b - 1))."""
        return self.bits - 1

    def with_bits(self, bits: int) -> 'QuantConfig':
        """Return a copy at another bit-width (validated against ``b_max``)."""
        return QuantConfig(self.scheme, bits, self.b_max, self.granularity, self.channel_axis)
