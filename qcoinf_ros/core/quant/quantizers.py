"""
Sign-magnitude weight quantizers: uniform and power-of-two logarithmic (paper section II-C).

The sign of every weight is kept and only its magnitude ``theta = |w|`` is quantized (paper
section II-C); a bit-width ``b`` counts the sign bit, so the magnitude gets ``m = b - 1`` bits
(the rate ``R = b - 1`` of problem (P1)). A code is the ``b``-bit integer whose most significant
bit is the sign (1 = negative) and whose ``m`` low bits are the magnitude code ``c``.

Uniform (fixed step, [31]); ``s`` = max |w| of the tensor or of the output channel::

    step = s * 2**-m,   c = min(floor(|w| / step), 2**m - 1),   |w_hat| = (c + 1/2) * step

A floor-coded, midpoint-reconstructed (mid-rise) grid: the error is at most ``step / 2``, zero
never is a level, and ``b = 1`` (``m = 0``) gives ``w_hat = sign(w) * s / 2``. Floor coding makes
the codes *nested*: the code at ``b`` is the code at ``B_max`` with its ``B_max - b`` least
significant magnitude bits dropped (``floor(floor(x 2**M) / 2**(M-m)) = floor(x 2**m)``).

Power-of-two logarithmic (PoT-log, INQ [32]); ``K = 2**m - 1`` levels below the scale
``s = 2**n1`` with ``n1 = floor(log2(4/3 max|w|))`` (INQ's choice, so max|w| < 1.5 s)::

    levels {0} U {s * 2**-k : k = 0 .. K-1},    code c = K - k (c = 0 is the level 0)

A magnitude in ``[0.75 * 2**j, 1.5 * 2**j)`` goes to ``2**j`` (INQ's thresholds, nearest level
in the linear domain); one below ``0.75 * s * 2**-(K-1)`` (three quarters of the smallest
level) goes to 0. Dropping the smallest exponents keeps the codes nested: the code at ``b`` is
``max(c_Bmax - (2**(B_max-1) - 2**(b-1)), 0)``. ``b = 1`` leaves the single level 0 (every weight
becomes 0) and ``b = 2`` the levels ``{0, s}``. A non-zero ``w_hat`` is within ``|w_hat| / 2`` of
``w``; a zeroed weight is below three quarters of the smallest level.

Per-channel scaling uses one scale per index of ``channel_axis`` (the output channel of
``nn.Linear`` and ``nn.Conv*`` weights, axis 0). A channel of zeros gets scale 0 and stays 0.
Computation happens in float32 (float64 for float64 weights); values come back in the input dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from qcoinf_ros.core.quant.config import check_bit_width, check_scheme, QuantConfig

__all__ = [
    'QuantizedTensor',
    'quantize_tensor',
    'stored_or_quantized',
    'dequantize',
    'dequantize_codes',
    'reduce_codes',
    'quantize_',
    'default_filter',
    'quantizable_weights',
    'code_dtype',
    'check_weight',
]

FilterFn = Callable[[nn.Module, str], bool]
_QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def code_dtype(bits: int) -> torch.dtype:
    """Smallest integer dtype holding a ``bits``-bit code (uint8 up to 8 bits, else int32)."""
    return torch.uint8 if bits <= 8 else torch.int32


def check_weight(w, name: str = 'w') -> torch.Tensor:
    """Return ``w`` if it is a non-empty, finite, floating-point tensor; raise ``ValueError``."""
    if not isinstance(w, torch.Tensor):
        raise ValueError(f'{name} must be a torch.Tensor, got {type(w).__name__}')
    if not torch.is_floating_point(w):
        raise ValueError(f'{name} must be a floating-point tensor, got dtype {w.dtype}')
    if w.numel() == 0:
        raise ValueError(f'{name} must not be empty, got shape {tuple(w.shape)}')
    if not bool(torch.isfinite(w).all()):
        raise ValueError(f'{name} must be finite, got NaN or inf in a tensor of shape '
                         f'{tuple(w.shape)}')
    return w


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _channel_axis(w: torch.Tensor, axis: int) -> int:
    if not -w.ndim <= axis < w.ndim:
        raise ValueError(f'channel_axis {axis} is out of range for a weight of shape '
                         f'{tuple(w.shape)}')
    return axis % w.ndim


def _absmax(theta: torch.Tensor, granularity: str, axis: int) -> torch.Tensor:
    """Max magnitude per tensor (0-d) or per channel (shape broadcastable against ``theta``)."""
    if granularity == 'per_tensor' or theta.ndim == 0:
        return theta.amax()
    axis = _channel_axis(theta, axis)
    dims = [d for d in range(theta.ndim) if d != axis]
    return theta.amax(dim=dims, keepdim=True) if dims else theta


def _floor_log2(x: torch.Tensor) -> torch.Tensor:
    """Exact ``floor(log2(x))`` for x > 0 (from the binary exponent), as int32."""
    return torch.frexp(x).exponent - 1


def _pot_scale(absmax: torch.Tensor) -> torch.Tensor:
    """INQ scale ``2**floor(log2(4/3 max|w|))``; 0 for an all-zero tensor or channel."""
    positive = absmax > 0
    exponent = _floor_log2(torch.where(positive, absmax * 4.0 / 3.0, torch.ones_like(absmax)))
    return torch.where(positive, torch.ldexp(torch.ones_like(absmax), exponent),
                       torch.zeros_like(absmax))


def _encode_magnitude(theta: torch.Tensor, scale: torch.Tensor, scheme: str,
                      mbits: int) -> torch.Tensor:
    """Magnitude codes (int32) of ``theta = |w|`` at ``mbits`` bits."""
    if scheme == 'uniform':
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        x = torch.where(scale > 0, theta / safe, torch.zeros_like(theta))
        codes = torch.floor(x * float(2 ** mbits)).clamp_(max=2 ** mbits - 1)
        return codes.to(torch.int32)
    levels = 2 ** mbits - 1
    if levels == 0:
        return torch.zeros(theta.shape, dtype=torch.int32, device=theta.device)
    positive = (theta > 0) & (scale > 0)
    ones = torch.ones_like(theta)
    j = _floor_log2(torch.where(positive, theta * 4.0 / 3.0, ones))
    n1 = _floor_log2(torch.where(scale > 0, scale, torch.ones_like(scale)))
    codes = (j - n1 + levels).clamp_(min=0, max=levels)
    return torch.where(positive, codes, torch.zeros_like(codes)).to(torch.int32)


def _decode_magnitude(codes: torch.Tensor, scale: torch.Tensor, scheme: str, mbits: int,
                      dtype: torch.dtype) -> torch.Tensor:
    """Reconstructed magnitudes from magnitude codes (see the module docstring)."""
    scale = scale.to(dtype)
    if scheme == 'uniform':
        return (codes.to(dtype) + 0.5) * (scale * float(2.0 ** -mbits))
    levels = 2 ** mbits - 1
    exponent = codes.to(torch.int32) - levels
    value = torch.ldexp(scale.expand(codes.shape), exponent.to(dtype))
    return torch.where(codes > 0, value, torch.zeros_like(value))


def _split(codes: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``bits``-bit codes into (negative: bool, magnitude code: int32)."""
    wide = codes.to(torch.int32)
    mbits = bits - 1
    return (wide >> mbits) & 1 == 1, wide & (2 ** mbits - 1)


def _join(negative: torch.Tensor, magnitude: torch.Tensor, bits: int) -> torch.Tensor:
    mbits = bits - 1
    return (magnitude | (negative.to(torch.int32) << mbits)).to(code_dtype(bits))


@dataclass(frozen=True, eq=False)
class QuantizedTensor:
    """
    A quantized weight: dequantized ``values``, integer ``codes`` and ``scale``.

    ``codes`` holds ``bits``-bit integers (sign in bit ``bits - 1``, magnitude code below);
    ``scale`` is float32, 0-d per tensor or keep-dim per channel (broadcasts against values).
    """

    values: torch.Tensor
    codes: torch.Tensor
    scale: torch.Tensor
    bits: int
    scheme: str
    granularity: str

    @property
    def negative(self) -> torch.Tensor:
        """Boolean sign plane (True where the weight is negative)."""
        return _split(self.codes, self.bits)[0]

    @property
    def magnitude_codes(self) -> torch.Tensor:
        """Magnitude codes, ``bits - 1`` bits each, as int32."""
        return _split(self.codes, self.bits)[1]

    @property
    def step(self) -> torch.Tensor:
        """Uniform step ``scale * 2**-(bits-1)`` (the error bound is half of it)."""
        if self.scheme != 'uniform':
            raise ValueError(f'step is defined for the uniform scheme, not "{self.scheme}"')
        return self.scale * float(2.0 ** -(self.bits - 1))

    def packed(self) -> np.ndarray:
        """Bit-packed codes, ``ceil(numel * bits / 8)`` bytes (see :mod:`.packing`)."""
        from qcoinf_ros.core.quant.packing import pack_codes
        return pack_codes(self.codes, self.bits)

    @property
    def packed_nbytes(self) -> int:
        """Bytes of the packed codes plus the float32 scales."""
        return -(-self.codes.numel() * self.bits // 8) + 4 * self.scale.numel()


def quantize_tensor(w: torch.Tensor, config: QuantConfig) -> QuantizedTensor:
    """Quantize ``w`` as ``config`` says (pure function; ``w`` is left untouched)."""
    if not isinstance(config, QuantConfig):
        raise ValueError(f'config must be a QuantConfig, got {type(config).__name__}')
    check_weight(w)
    work = _work_dtype(w.dtype)
    with torch.no_grad():
        wf = w.detach().to(work)
        theta = wf.abs()
        absmax = _absmax(theta, config.granularity, config.channel_axis)
        scale = absmax if config.scheme == 'uniform' else _pot_scale(absmax)
        mbits = config.bits - 1
        mag = _encode_magnitude(theta, scale, config.scheme, mbits)
        codes = _join(wf < 0, mag, config.bits)
        scale32 = scale.to(torch.float32)
        values = _dequantize(codes, scale32, config.bits, config.scheme, w.dtype)
    return QuantizedTensor(values, codes, scale32, config.bits, config.scheme,
                           config.granularity)


def stored_or_quantized(w: torch.Tensor, config: QuantConfig,
                        stored: QuantizedTensor | None = None,
                        name: str = 'weight') -> QuantizedTensor:
    """
    Return the codes of ``w`` under ``config``: ``stored`` if it records them, else new ones.

    ``stored`` (e.g. the codes a shipped checkpoint keeps, whose dequantized values ``w`` was
    loaded from) is used as it is when its scheme, bit-width and granularity are ``config``'s,
    so the kernels run on the stored bytes; otherwise ``w`` is quantized. A ``stored`` entry
    whose shape is not ``w``'s raises ``ValueError`` naming ``name``.
    """
    if stored is None or (stored.scheme, stored.bits, stored.granularity) != (
            config.scheme, config.bits, config.granularity):
        return quantize_tensor(w, config)
    if tuple(stored.codes.shape) != tuple(w.shape):
        raise ValueError(f'the stored codes of {name} have shape {tuple(stored.codes.shape)}, '
                         f'the weight {tuple(w.shape)}')
    values = stored.values if stored.values.dtype == w.dtype else stored.values.to(w.dtype)
    return QuantizedTensor(values, stored.codes, stored.scale, stored.bits, stored.scheme,
                           stored.granularity)


def _dequantize(codes: torch.Tensor, scale: torch.Tensor, bits: int, scheme: str,
                dtype: torch.dtype) -> torch.Tensor:
    negative, mag = _split(codes, bits)
    work = _work_dtype(dtype)
    out = _decode_magnitude(mag, scale, scheme, bits - 1, work)
    return torch.where(negative, -out, out).to(dtype)


def dequantize_codes(codes: torch.Tensor, scale: torch.Tensor, bits: int, scheme: str,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Weights from ``bits``-bit sign-magnitude ``codes`` and ``scale`` (inverse of the coder)."""
    bits = check_bit_width(bits)
    check_scheme(scheme)
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f'codes must be an integer tensor, got dtype {codes.dtype}')
    if int(codes.max()) >= 2 ** bits or int(codes.min()) < 0:
        raise ValueError(f'codes must lie in [0, 2**{bits}), got values in '
                         f'[{int(codes.min())}, {int(codes.max())}]')
    return _dequantize(codes, scale, bits, scheme, dtype)


def dequantize(qt: QuantizedTensor) -> torch.Tensor:
    """Weights reconstructed from ``qt.codes`` and ``qt.scale`` (equal to ``qt.values``)."""
    return dequantize_codes(qt.codes, qt.scale, qt.bits, qt.scheme, qt.values.dtype)


def reduce_codes(codes: torch.Tensor, from_bits: int, to_bits: int, scheme: str) -> torch.Tensor:
    """
    Codes at ``to_bits`` derived from nested codes at ``from_bits`` (one integer pass).

    Uniform drops the least significant magnitude bits; PoT-log drops the smallest exponents
    (``c -> max(c - (2**(B-1) - 2**(b-1)), 0)``). Both equal direct quantization at
    ``to_bits`` with the same scale (see the module docstring and the tests).
    """
    from_bits = check_bit_width(from_bits, name='from_bits')
    to_bits = check_bit_width(to_bits, from_bits, 'to_bits')
    check_scheme(scheme)
    negative, mag = _split(codes, from_bits)
    if scheme == 'uniform':
        mag = mag >> (from_bits - to_bits)
    else:
        mag = (mag - (2 ** (from_bits - 1) - 2 ** (to_bits - 1))).clamp_(min=0)
    return _join(negative, mag, to_bits)


def default_filter(module: nn.Module, fqn: str) -> bool:
    """Quantize the weights of ``nn.Linear`` and ``nn.Conv1d/2d/3d`` layers (not biases)."""
    return isinstance(module, _QUANTIZABLE)


def quantizable_weights(model: nn.Module,
                        filter_fn: FilterFn | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(name, weight)`` for each module selected by ``filter_fn`` (tied weights once)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f'model must be a torch.nn.Module, got {type(model).__name__}')
    filter_fn = filter_fn or default_filter
    seen = set()
    for fqn, module in model.named_modules():
        weight = getattr(module, 'weight', None)
        if not isinstance(weight, torch.Tensor) or id(weight) in seen:
            continue
        if filter_fn(module, fqn):
            seen.add(id(weight))
            yield (f'{fqn}.weight' if fqn else 'weight'), weight


def quantize_(model: nn.Module, config: QuantConfig,
              filter_fn: FilterFn | None = None) -> nn.Module:
    """
    Overwrite, in place, the weights of the layers ``filter_fn`` selects (torchao style).

    ``filter_fn(module, fqn) -> bool`` defaults to :func:`default_filter`. Biases, norms and
    embeddings keep their values unless the filter selects them. Returns ``model``.
    """
    if not isinstance(config, QuantConfig):
        raise ValueError(f'config must be a QuantConfig, got {type(config).__name__}')
    with torch.no_grad():
        for name, weight in list(quantizable_weights(model, filter_fn)):
            check_weight(weight, name)
            weight.copy_(quantize_tensor(weight, config).values)
    return model
