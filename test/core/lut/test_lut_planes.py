"""The bit-plane decomposition of the uniform codes is exact and nested (core/lut/planes.py)."""

import numpy as np
import pytest
import torch

from qcoinf_ros.core.lut.planes import padded_k, plane_bits, planes_to_weights, unsigned_codes
from qcoinf_ros.core.quant import dequantize_codes, QuantConfig, quantize_tensor, reduce_codes

pytestmark = pytest.mark.check


@pytest.mark.parametrize('granularity', ['per_tensor', 'per_channel'])
@pytest.mark.parametrize('b_max', [1, 3, 8])
def test_planes_reconstruct_every_nested_bit_width_exactly(granularity, b_max):
    torch.manual_seed(b_max)
    w = torch.randn(13, 37) * torch.rand(13, 1)  # channels of different scales
    qt = quantize_tensor(w, QuantConfig('uniform', b_max, b_max, granularity))
    planes = plane_bits(qt.codes, b_max)
    assert planes.shape == (b_max, 13, padded_k(37) // 8) and planes.dtype == np.uint8
    for b in range(1, b_max + 1):
        codes = reduce_codes(qt.codes, b_max, b, 'uniform')
        want = dequantize_codes(codes, qt.scale, b, 'uniform', torch.float64)
        got = planes_to_weights(planes, qt.scale, b, 37)
        # sum of +-1 planes: exact integers times s 2^-b; the codes' float32 path rounds once
        assert torch.allclose(got, want, rtol=0, atol=1e-6 * float(qt.scale.max())), b
        # nested: the first b planes of the B_max codes are the planes of the b-bit codes
        assert np.array_equal(plane_bits(codes, b), planes[:b])


def test_the_odd_integer_of_a_code_is_twice_the_unsigned_code_minus_its_offset():
    b = 4
    codes = torch.arange(2 ** b)  # every sign-magnitude code
    u = unsigned_codes(codes, b)
    negative, magnitude = codes >> (b - 1), codes & (2 ** (b - 1) - 1)
    v = torch.where(negative == 1, -(2 * magnitude + 1), 2 * magnitude + 1)
    assert torch.equal(2 * u - (2 ** b - 1), v)
    assert sorted(u.tolist()) == list(range(2 ** b))  # a bijection onto b-bit integers


def test_padding_bits_are_zero_and_the_bit_order_is_lsb_first():
    codes = torch.full((2, 5), 0b01)  # b = 2: positive, magnitude 1 -> u = 3 -> both planes 1
    planes = plane_bits(codes, 2)
    assert planes.shape == (2, 2, 2)
    assert planes[0, 0].tolist() == [0b00011111, 0]  # k = 0..4 set, k = 5..15 padding
    assert planes[1, 1].tolist() == [0b00011111, 0]


@pytest.mark.parametrize('codes, bits, needle', [
    (torch.zeros(3, 3, dtype=torch.float32), 4, 'integer tensor'),
    (torch.full((3, 3), 16), 4, r'\[0, 2\*\*4\)'),
    (torch.full((3, 3), -1), 4, r'\[0, 2\*\*4\)'),
])
def test_bad_codes_are_refused_with_the_reason(codes, bits, needle):
    with pytest.raises(ValueError, match=needle):
        unsigned_codes(codes, bits)


def test_bad_plane_arguments_are_refused():
    with pytest.raises(ValueError, match='N x K'):
        plane_bits(torch.zeros(3, dtype=torch.int64), 2)
    planes = plane_bits(torch.zeros(2, 8, dtype=torch.int64), 3)
    with pytest.raises(ValueError, match='bits'):
        planes_to_weights(planes, 1.0, 4, 8)
    with pytest.raises(ValueError, match='k must be'):
        planes_to_weights(planes, 1.0, 2, 17)
