"""
The kernels' arithmetic in numpy, operation for operation, and the error of their int8 tables.

This is the specification the kernel library is tested against (bit for bit).

For each row ``m`` of ``x`` and each K-block of 512 inputs (128 groups of 4; ``K`` padded with
zeros to a multiple of 16), with float32 operations in this order:

* ``amax = max_j (((|x0| + |x1|) + |x2|) + |x3|)`` over the block's groups; ``scale = amax/127``,
  ``inv = 127/amax`` (0 when ``amax = 0``);
* table entry ``i`` of group ``j``: ``T = (((s0 x0 + s1 x1) + s2 x2) + s3 x3)`` with ``s_q = +1``
  where bit ``q`` of ``i`` is set and ``-1`` elsewhere, ``q_j[i] = clip(rint(T inv), -127, 127)``
  (round half to even);
* for output ``n`` and the first ``b`` planes: ``acc = sum_p 2^(b-1-p) sum_j q_j[i_pj]`` with
  ``i_pj`` the 4 plane bits of output ``n`` at group ``j`` (exact integers);
* ``yacc = fma(float(acc), scale, yacc)`` over the K-blocks in order (single rounding);
* ``y = yacc * (s_n 2^-b) + bias_n`` (a rounded product, then a rounded sum).

Error against the dequantized weights (:func:`table_error_bound`): every table entry is within
half a table step of ``T / scale``, and the plane weights sum to ``2^b - 1``, so
``|y - x . w_hat| <= |s_n| 2^-b (2^b - 1) sum_kb (scale_kb / 2) G_kb`` plus float rounding
(``G_kb`` groups in block ``kb``); typical errors are far smaller (random signs: the RMS grows
like the square root of the group count, about 1 % of the output scale on ViT-sized layers).
"""

from __future__ import annotations

import numpy as np

__all__ = ['BLOCK_GROUPS', 'row_tables', 'lut_linear_reference', 'table_error_bound', 'fma32']

#: Groups of 4 inputs per K-block (512 inputs).
BLOCK_GROUPS = 128

_F32 = np.float32


def fma32(a, b, c) -> np.ndarray:
    """Correctly rounded float32 ``a * b + c`` (numpy has no fma; this fixes double rounding)."""
    a, b, c = (np.asarray(v, dtype=np.float32) for v in (a, b, c))
    p = a.astype(np.float64) * b.astype(np.float64)  # exact: 24 + 24 bits < 53
    c64 = c.astype(np.float64)
    s = p + c64
    bp = s - c64  # TwoSum: s + e == p + c exactly
    e = (p - bp) + (c64 - (s - bp))
    f = s.astype(np.float32)
    # double rounding can only bite when s sits exactly halfway between two float32 values
    up = np.nextafter(f, np.float32(np.inf))
    down = np.nextafter(f, np.float32(-np.inf))
    f64 = f.astype(np.float64)
    halfway_up = (s - f64) == (up.astype(np.float64) - f64) / 2
    halfway_down = (f64 - s) == (f64 - down.astype(np.float64)) / 2
    f = np.where(halfway_up & (e > 0), up, f)
    f = np.where(halfway_down & (e < 0), down, f)
    return f


def _padded(x: np.ndarray) -> np.ndarray:
    m, k = x.shape
    kp = -(-k // 16) * 16
    out = np.zeros((m, kp), dtype=np.float32)
    out[:, :k] = x
    return out


def row_tables(x) -> tuple[np.ndarray, np.ndarray]:
    """
    Tables and scales of every row: ``int8 [M][G][16]`` and ``float32 [M][nkb]``.

    ``G = Kp / 4`` groups, ``nkb = ceil(G / 128)`` K-blocks.
    """
    xp = _padded(np.asarray(x, dtype=np.float32))
    m, kp = xp.shape
    groups = kp // 4
    g = xp.reshape(m, groups, 4)
    a = np.abs(g)
    sums = ((a[..., 0] + a[..., 1]) + a[..., 2]) + a[..., 3]
    nkb = -(-groups // BLOCK_GROUPS)
    scales = np.zeros((m, nkb), dtype=np.float32)
    inv = np.zeros((m, groups), dtype=np.float32)
    for kb in range(nkb):
        j0, j1 = kb * BLOCK_GROUPS, min((kb + 1) * BLOCK_GROUPS, groups)
        amax = sums[:, j0:j1].max(axis=1)
        scales[:, kb] = amax / _F32(127)
        with np.errstate(divide='ignore'):
            block_inv = np.where(amax > 0, _F32(127) / np.where(amax > 0, amax, _F32(1)),
                                 _F32(0)).astype(np.float32)
        inv[:, j0:j1] = block_inv[:, None]
    tables = np.zeros((m, groups, 16), dtype=np.int8)
    for i in range(16):
        t = g[..., 0] if i & 1 else -g[..., 0]
        t = t + (g[..., 1] if i & 2 else -g[..., 1])
        t = t + (g[..., 2] if i & 4 else -g[..., 2])
        t = t + (g[..., 3] if i & 8 else -g[..., 3])
        tables[..., i] = np.clip(np.rint(t * inv), -127, 127).astype(np.int8)
    return tables, scales


def _nibbles(planes: np.ndarray, bits: int, groups: int) -> np.ndarray:
    """``[bits][N][G]`` 4-bit indices from the plane bits (LSB first along K)."""
    p = np.asarray(planes[:bits], dtype=np.uint8)
    lo, hi = p & 15, p >> 4
    out = np.empty((bits, p.shape[1], 2 * p.shape[2]), dtype=np.int64)
    out[..., 0::2], out[..., 1::2] = lo, hi
    return out[..., :groups]


def lut_linear_reference(x, planes, bits: int, wscale, bias=None) -> np.ndarray:
    """
    ``y = x . w_b^T (+ bias)`` computed exactly as the kernel library does (see the module).

    ``x``: ``M x K`` float32; ``planes``: the plane bits ``uint8 [P][N][Kp/8]``
    (:func:`~qcoinf_ros.core.lut.planes.plane_bits`); ``wscale``: ``N`` floats; ``bias``: ``N``
    floats or ``None``. Slow (a test oracle), exact to the last bit of the kernels.
    """
    x = np.asarray(x, dtype=np.float32)
    tables, scales = row_tables(x)
    m, groups, _ = tables.shape
    n = planes.shape[1]
    idx = _nibbles(planes, bits, groups)  # [b][N][G]
    t64 = tables.astype(np.int64)
    yacc = np.zeros((m, n), dtype=np.float32)
    for kb in range(scales.shape[1]):
        j0, j1 = kb * BLOCK_GROUPS, min((kb + 1) * BLOCK_GROUPS, groups)
        acc = np.zeros((m, n), dtype=np.int64)
        for p in range(bits):
            s = np.zeros((m, n), dtype=np.int64)
            for j in range(j0, j1):
                s += t64[:, j, :][:, idx[p, :, j]]
            acc = 2 * acc + s
        yacc = fma32(acc.astype(np.float32), scales[:, kb:kb + 1], yacc)
    c = (np.asarray(wscale, dtype=np.float32) * np.float32(2.0 ** -bits)).astype(np.float32)
    y = (yacc * c[None, :]).astype(np.float32)
    if bias is not None:
        y = (y + np.asarray(bias, dtype=np.float32)[None, :]).astype(np.float32)
    return y


def table_error_bound(x, bits: int, wscale) -> np.ndarray:
    """
    Worst-case ``|y_kernel - x . w_hat|`` per output, ``M x N`` (float rounding aside).

    Half a table step per lookup, ``2^b - 1`` plane weight per group, scaled by ``s 2^-b``.
    """
    x = np.asarray(x, dtype=np.float32)
    _, scales = row_tables(x)
    kp = -(-x.shape[1] // 16) * 16
    groups = kp // 4
    counts = np.array([min((kb + 1) * BLOCK_GROUPS, groups) - kb * BLOCK_GROUPS
                       for kb in range(scales.shape[1])], dtype=np.float64)
    per_row = (scales.astype(np.float64) / 2.0) @ counts  # [M]
    ws = np.abs(np.asarray(wscale, dtype=np.float64)).reshape(1, -1)
    return per_row[:, None] * ws * (2.0 ** bits - 1.0) * 2.0 ** -bits
