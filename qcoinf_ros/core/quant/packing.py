"""
Bit packing of ``b``-bit codes into bytes (numpy ``packbits``, little-endian bit order).

``n`` codes of ``b`` bits take ``ceil(n * b / 8)`` bytes: the storage of a weight tensor at
bit-width ``b`` is ``b / 32`` of its float32 size (plus the scales). Code ``i`` occupies bits
``[i * b, (i + 1) * b)`` of the stream, least significant bit first.
"""

from __future__ import annotations

import numpy as np
import torch

from qcoinf_ros.core.quant.config import check_bit_width
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['pack_codes', 'unpack_codes', 'packed_nbytes']


def packed_nbytes(count: int, bits: int) -> int:
    """Bytes of ``count`` packed ``bits``-bit codes, ``ceil(count * bits / 8)``."""
    count = require_int_in_range('count', count, 0)
    return -(-count * check_bit_width(bits) // 8)


def _as_uint_array(codes) -> np.ndarray:
    if isinstance(codes, torch.Tensor):
        if codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError(f'codes must be an integer tensor, got dtype {codes.dtype}')
        codes = codes.detach().cpu().to(torch.int64).numpy()
    arr = np.asarray(codes)
    if arr.dtype.kind not in 'iu':
        raise ValueError(f'codes must be integers, got dtype {arr.dtype}')
    return arr.reshape(-1)


def pack_codes(codes, bits: int) -> np.ndarray:
    """Pack integer ``codes`` in ``[0, 2**bits)`` into a flat ``uint8`` array."""
    bits = check_bit_width(bits)
    arr = _as_uint_array(codes)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= 2 ** bits):
        raise ValueError(f'codes must lie in [0, 2**{bits}), got values in '
                         f'[{int(arr.min())}, {int(arr.max())}]')
    as_bytes = arr.astype('<u2').view(np.uint8).reshape(-1, 2)
    bit_planes = np.unpackbits(as_bytes, axis=1, bitorder='little')[:, :bits]
    return np.packbits(bit_planes.reshape(-1), bitorder='little')


def unpack_codes(packed, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``count`` codes (``uint16``) from packed bytes."""
    bits = check_bit_width(bits)
    count = require_int_in_range('count', count, 0)
    packed = np.asarray(packed, dtype=np.uint8).reshape(-1)
    if packed.size < packed_nbytes(count, bits):
        raise ValueError(f'packed holds {packed.size} bytes, {packed_nbytes(count, bits)} are '
                         f'needed for {count} codes of {bits} bits')
    stream = np.unpackbits(packed, count=count * bits, bitorder='little').reshape(count, bits)
    planes = np.zeros((count, 16), dtype=np.uint8)
    planes[:, :bits] = stream
    return np.packbits(planes, axis=1, bitorder='little').view('<u2').reshape(-1)
