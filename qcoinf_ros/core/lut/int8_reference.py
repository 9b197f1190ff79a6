"""
The int8 kernels' arithmetic in numpy: one integer GEMM per bit-width on the stored code bytes.

This is the specification the library's ``qlut_int8_*`` entry points are tested against (bit
for bit).

Weights: the unsigned codes ``u = (v + 2^B - 1) / 2`` of the ``B``-bit uniform mid-rise codes
(:func:`~qcoinf_ros.core.lut.planes.unsigned_codes`, one byte per weight for ``B <= 8``). The codes
are nested: the ``b``-bit code is the top ``b`` bits of the ``B``-bit one, ``u_b = u_B >> (B -
b)``, and ``v_b = 2 u_b - (2^b - 1)``, so::

    x . w_hat_b = s 2^-b (2 x . u_b - (2^b - 1) sum(x))

one unsigned-8-bit x signed-8-bit GEMM on ``u_B >> (B - b)`` plus a row-sum correction, for
every ``b``, from the same bytes (no weight error beyond the ``b``-bit code itself).

Activations, per row and K-block of 512 inputs (``K`` padded with zeros to a multiple of 16, as
the lookup kernels do), with float32 operations: ``amax = max |x_k|``, ``scale = amax / 127``,
``inv = 127 / amax`` (0 when ``amax = 0``), ``q_k = clip(rint(x_k inv), -127, 127)`` (round half
to even; ``|x_k inv| < 127.5``, so the clip never bites on finite inputs).

Per output ``n`` and K-block: ``acc = 2 sum_k q_k u_b[n, k] - (2^b - 1) sum_k q_k``, an exact
integer with ``|acc| <= 512 * 127 * 255 < 2^24`` (so ``float(acc)`` is exact too); then, as the
lookup kernels finish (:mod:`.reference`): ``yacc = fma(float(acc), scale, yacc)`` over the
K-blocks in order, ``y = yacc * (s_n 2^-b) + bias_n``.

Against the lookup kernels: both share the K-blocks and the float finish, but the lookup
kernels quantize the 16 signed sums of each group of 4 inputs (with ``amax`` the largest sum of
4 magnitudes), this kernel each input; rounding a sum is not summing roundings, so the two agree
bit for bit exactly when both quantizations are exact (inputs on both grids: tested) and
otherwise within the sum of their error bounds (:func:`int8_error_bound` plus
:func:`~qcoinf_ros.core.lut.reference.table_error_bound`).
"""

from __future__ import annotations

import numpy as np

from qcoinf_ros.core.lut.reference import fma32

__all__ = ['BLOCK_INPUTS', 'reduced_codes', 'quantize_rows', 'int8_linear_reference',
           'int8_error_bound']

#: Inputs per K-block (the lookup kernels' 128 groups of 4).
BLOCK_INPUTS = 512

_F32 = np.float32


def _padded_k(k: int) -> int:
    return -(-k // 16) * 16


def reduced_codes(codes, code_bits: int, bits: int) -> np.ndarray:
    """
    ``u_b = u_B >> (B - b)``: the ``bits``-bit unsigned codes of ``code_bits``-bit ones (int64).

    ``codes``: unsigned codes in ``[0, 2^code_bits)`` (any integer array). ``ValueError`` naming
    the value for a bit-width outside ``1 <= bits <= code_bits <= 8`` or a code out of range.
    """
    code_bits, bits = _check_bits(code_bits, bits)
    u = np.asarray(codes)
    if u.dtype.kind not in 'iu':
        raise ValueError(f'codes must be integers, got dtype {u.dtype}')
    u = u.astype(np.int64)
    if u.size and (int(u.min()) < 0 or int(u.max()) >= 2 ** code_bits):
        raise ValueError(f'codes must lie in [0, 2**{code_bits}), got values in '
                         f'[{int(u.min())}, {int(u.max())}]')
    return u >> (code_bits - bits)


def _check_bits(code_bits, bits) -> tuple[int, int]:
    if isinstance(code_bits, bool) or not isinstance(code_bits, (int, np.integer)) \
            or not 1 <= code_bits <= 8:
        raise ValueError(f'code_bits must be an integer in [1, 8], got {code_bits!r}')
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) \
            or not 1 <= bits <= code_bits:
        raise ValueError(f'bits must be an integer in [1, code_bits={code_bits}], got {bits!r}')
    return int(code_bits), int(bits)


def quantize_rows(x) -> tuple[np.ndarray, np.ndarray]:
    """
    Quantized activations and their scales: ``int8 [M][Kp]`` and ``float32 [M][nkb]``.

    ``Kp = 16 ceil(K / 16)`` (the padding quantizes to 0), ``nkb = ceil(Kp / 512)``.
    """
    x = np.asarray(x, dtype=np.float32)
    m, k = x.shape
    kp = _padded_k(k)
    xp = np.zeros((m, kp), dtype=np.float32)
    xp[:, :k] = x
    nkb = -(-kp // BLOCK_INPUTS)
    scales = np.zeros((m, nkb), dtype=np.float32)
    q = np.zeros((m, kp), dtype=np.int8)
    for kb in range(nkb):
        i0, i1 = kb * BLOCK_INPUTS, min((kb + 1) * BLOCK_INPUTS, kp)
        amax = np.abs(xp[:, i0:i1]).max(axis=1)
        scales[:, kb] = amax / _F32(127)
        with np.errstate(divide='ignore'):
            inv = np.where(amax > 0, _F32(127) / np.where(amax > 0, amax, _F32(1)),
                           _F32(0)).astype(np.float32)
        q[:, i0:i1] = np.clip(np.rint(xp[:, i0:i1] * inv[:, None]), -127, 127).astype(np.int8)
    return q, scales


def int8_linear_reference(x, codes, code_bits: int, bits: int, wscale,
                          bias=None) -> np.ndarray:
    """
    ``y = x . w_b^T (+ bias)`` computed exactly as the int8 kernels do (see the module).

    ``x``: ``M x K`` float32; ``codes``: the unsigned ``code_bits``-bit codes ``N x K``;
    ``wscale``: ``N`` floats; ``bias``: ``N`` floats or ``None``.
    """
    x = np.asarray(x, dtype=np.float32)
    u = reduced_codes(codes, code_bits, bits)
    if u.ndim != 2 or x.ndim != 2 or u.shape[1] != x.shape[1]:
        raise ValueError(f'codes must be N x K for x of shape {x.shape}, got shape {u.shape}')
    q, scales = quantize_rows(x)
    m, kp = q.shape
    n, k = u.shape
    up = np.zeros((n, kp), dtype=np.int64)
    up[:, :k] = u
    q64 = q.astype(np.int64)
    yacc = np.zeros((m, n), dtype=np.float32)
    for kb in range(scales.shape[1]):
        i0, i1 = kb * BLOCK_INPUTS, min((kb + 1) * BLOCK_INPUTS, kp)
        dot = q64[:, i0:i1] @ up[:, i0:i1].T
        acc = 2 * dot - (2 ** bits - 1) * q64[:, i0:i1].sum(axis=1, keepdims=True)
        yacc = fma32(acc.astype(np.float32), scales[:, kb:kb + 1], yacc)
    c = (np.asarray(wscale, dtype=np.float32) * np.float32(2.0 ** -bits)).astype(np.float32)
    y = (yacc * c[None, :]).astype(np.float32)
    if bias is not None:
        y = (y + np.asarray(bias, dtype=np.float32)[None, :]).astype(np.float32)
    return y


def int8_error_bound(x, bits: int, wscale) -> np.ndarray:
    """
    Worst-case ``|y_kernel - x . w_hat_b|`` per output, ``M x N`` (float rounding aside).

    Half a quantization step per input, times ``|v| <= 2^b - 1``, scaled by ``|s| 2^-b``.
    """
    x = np.asarray(x, dtype=np.float32)
    _, scales = quantize_rows(x)
    k = x.shape[1]
    counts = np.array([min((kb + 1) * BLOCK_INPUTS, k) - kb * BLOCK_INPUTS
                       for kb in range(scales.shape[1])], dtype=np.float64)
    per_row = (scales.astype(np.float64) / 2.0) @ np.maximum(counts, 0.0)  # [M]
    ws = np.abs(np.asarray(wscale, dtype=np.float64)).reshape(1, -1)
    return per_row[:, None] * ws * (2.0 ** bits - 1.0) * 2.0 ** -bits
