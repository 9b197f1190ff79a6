"""Tests of the bit packer: exact round trip, size ceil(n b / 8), bad input."""

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch

from qcoinf_ros.core.quant.config import QuantConfig
from qcoinf_ros.core.quant.packing import pack_codes, packed_nbytes, unpack_codes
from qcoinf_ros.core.quant.quantizers import quantize_tensor

pytestmark = pytest.mark.check


@settings(max_examples=80, deadline=None)
@given(bits=st.integers(1, 16), data=st.data())
def test_pack_unpack_round_trip(bits, data):
    codes = np.array(data.draw(st.lists(st.integers(0, 2 ** bits - 1), max_size=200)),
                     dtype=np.int64)
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8
    assert packed.size == packed_nbytes(codes.size, bits) == -(-codes.size * bits // 8)
    assert np.array_equal(unpack_codes(packed, bits, codes.size), codes)


def test_bit_layout_is_lsb_first():
    # codes 1, 2, 3 at 2 bits: bits 10 01 11 (LSB first) -> byte 0b00111001
    assert pack_codes(np.array([1, 2, 3]), 2).tolist() == [0b00111001]
    assert pack_codes(np.array([5]), 3).tolist() == [5]


def test_quantized_tensor_packs_to_b_over_32_of_fp32():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(128, 64, generator=gen)
    for bits in range(1, 9):
        qt = quantize_tensor(w, QuantConfig('potlog', bits))
        packed = qt.packed()
        assert packed.nbytes == w.numel() * bits // 8  # exactly b/32 of the fp32 bytes
        assert qt.packed_nbytes == packed.nbytes + 4
        codes = torch.from_numpy(unpack_codes(packed, bits, w.numel()).astype(np.int64))
        assert torch.equal(codes.reshape(w.shape), qt.codes.to(torch.int64))


@pytest.mark.parametrize('codes, bits, message', [
    (np.array([4]), 2, r'codes must lie in \[0, 2\*\*2\)'),
    (np.array([-1]), 3, 'codes must lie'),
    (np.array([0.5]), 3, 'must be integers'),
    (torch.tensor([1.0]), 3, 'integer tensor'),
    (np.array([1]), 17, 'bits must be in'),
])
def test_pack_rejects_bad_input(codes, bits, message):
    with pytest.raises(ValueError, match=message):
        pack_codes(codes, bits)


def test_unpack_rejects_short_buffer():
    with pytest.raises(ValueError, match='bytes'):
        unpack_codes(np.zeros(1, dtype=np.uint8), 3, 4)
