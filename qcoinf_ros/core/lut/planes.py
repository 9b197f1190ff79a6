"""
Bit planes of the uniform sign-magnitude codes: the exact decomposition the kernels run on.

The uniform mid-rise code of :mod:`qcoinf_ros.core.quant.quantizers` reconstructs a weight as
``w_hat = sign (c + 1/2) step`` with ``step = s 2^-(b-1)``, i.e. ``w_hat = v s 2^-b`` with the
odd integer ``v = sign (2c + 1)`` in ``[-(2^b - 1), 2^b - 1]``. Writing the unsigned
``u = (v + 2^b - 1) / 2`` in binary, ``v = 2u - (2^b - 1) = sum_p 2^(b-1-p) t_p`` with
``t_p = 2 bit_(b-1-p)(u) - 1`` in ``{-1, +1}``, so::

    w_hat = s 2^-b sum_{p < b} 2^(b-1-p) t_p                    (no zero point, no bias)

and ``x . w_hat = s 2^-b sum_p 2^(b-1-p) (x . t_p)``: ``b`` passes of a +-1 GEMM (the planes,
most significant first). The codes are nested (:func:`~qcoinf_ros.core.quant.reduce_codes`), and so
are the planes: the ``b``-bit weights are the first ``b`` planes of the ``B_max``-plane ones
(``u_b = u_B >> (B - b)``), which is why a bit-width switch needs no weight rewrite.

PoT-log codes have no such linear form (their value is ``2^-k``, not a sum of signed bits); a
bit-serial evaluation would cost ``2^(b-1)`` passes, so PoT-log stays on the dequantized path.
"""

from __future__ import annotations

import numpy as np
import torch

from qcoinf_ros.core.quant.config import check_bit_width
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['unsigned_codes', 'plane_bits', 'unsigned_plane_bits', 'planes_to_weights', 'padded_k']


def padded_k(k: int) -> int:
    """Return the inputs per row after padding to 16 (whole groups of 4, pairs, quads)."""
    k = require_int_in_range('k', k, 1)
    return -(-k // 16) * 16


def unsigned_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """
    ``u = (v + 2^b - 1) / 2`` of ``bits``-bit sign-magnitude codes (int64, same shape).

    Positive weights (sign bit 0) give ``u = c + 2^(b-1)``, negative ones ``2^(b-1) - 1 - c``.
    """
    bits = check_bit_width(bits)
    if not isinstance(codes, torch.Tensor) or codes.dtype.is_floating_point \
            or codes.dtype == torch.bool:
        raise ValueError(f'codes must be an integer tensor, got '
                         f'{getattr(codes, "dtype", type(codes).__name__)}')
    wide = codes.to(torch.int64)
    if wide.numel() and (int(wide.min()) < 0 or int(wide.max()) >= 2 ** bits):
        raise ValueError(f'codes must lie in [0, 2**{bits}), got values in '
                         f'[{int(wide.min())}, {int(wide.max())}]')
    half = 2 ** (bits - 1)
    negative = (wide >> (bits - 1)) & 1
    magnitude = wide & (half - 1)
    return torch.where(negative == 1, half - 1 - magnitude, half + magnitude)


def plane_bits(codes: torch.Tensor, bits: int) -> np.ndarray:
    """
    Plane bits of an ``N x K`` code matrix: ``uint8 [bits][N][Kp/8]``, LSB-first along K.

    Bit ``k % 8`` of byte ``k // 8`` in row ``n`` of plane ``p`` is bit ``bits-1-p`` of the
    unsigned code (plane 0 is the most significant); ``K`` is padded with zero bits to
    :func:`padded_k` (the kernels pad the inputs with zeros there, so those bits never count).
    This is the canonical input of the kernel library's ``qlut_pack``.
    """
    if codes.ndim != 2:
        raise ValueError(f'codes must be an N x K matrix, got shape {tuple(codes.shape)}')
    return unsigned_plane_bits(unsigned_codes(codes, bits).cpu().numpy(), bits)


def unsigned_plane_bits(unsigned: np.ndarray, bits: int) -> np.ndarray:
    """
    :func:`plane_bits` of unsigned codes ``u`` (``N x K``, each in ``[0, 2^bits)``).

    The ``P``-plane form of ``B``-bit codes is ``unsigned_plane_bits(u >> (B - P), P)``: the
    top ``P`` planes of the ``B``-plane one (the codes are nested).
    """
    bits = check_bit_width(bits)
    u = np.asarray(unsigned)
    if u.ndim != 2 or u.dtype.kind not in 'iu':
        raise ValueError(f'unsigned codes must be an integer N x K matrix, got '
                         f'{u.dtype} of shape {u.shape}')
    if u.size and (int(u.min()) < 0 or int(u.max()) >= 2 ** bits):
        raise ValueError(f'unsigned codes must lie in [0, 2**{bits}), got values in '
                         f'[{int(u.min())}, {int(u.max())}]')
    n, k = u.shape
    kp = padded_k(k)
    out = np.zeros((bits, n, kp // 8), dtype=np.uint8)
    padded = np.zeros((n, kp), dtype=np.uint8)
    padded[:, :k] = u
    for p in range(bits):
        bit = (padded >> (bits - 1 - p)) & 1
        out[p] = np.packbits(bit, axis=1, bitorder='little')
    return out


def planes_to_weights(planes: np.ndarray, scale, bits: int, k: int) -> torch.Tensor:
    """
    Return ``w_hat = s 2^-b sum_{p < b} 2^(b-1-p) t_p`` from the first ``bits`` planes.

    ``scale``: a number (per tensor) or ``N`` values (per output channel). The inverse of
    :func:`plane_bits` followed by dequantization at ``bits``: equal to
    ``dequantize_codes(reduce_codes(codes, B, bits))`` (tested).
    """
    planes = np.asarray(planes, dtype=np.uint8)
    if planes.ndim != 3:
        raise ValueError(f'planes must be [P][N][Kp/8], got shape {planes.shape}')
    bits = check_bit_width(bits, planes.shape[0], 'bits')
    k = require_int_in_range('k', k, 1, planes.shape[2] * 8)
    v = np.zeros((planes.shape[1], k), dtype=np.float64)
    for p in range(bits):
        t = np.unpackbits(planes[p], axis=1, count=k, bitorder='little').astype(np.float64)
        v += 2.0 ** (bits - 1 - p) * (2.0 * t - 1.0)
    s = np.asarray(scale.detach().cpu() if isinstance(scale, torch.Tensor) else scale,
                   dtype=np.float64).reshape(-1, 1)
    return torch.from_numpy(v * s * 2.0 ** -bits)
