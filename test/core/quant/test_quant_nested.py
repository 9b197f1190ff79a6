"""Tests of run-time bit-width switching from stored nested codes."""

import pytest
import torch
from torch import nn

from qcoinf_ros.core.quant.config import QuantConfig
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.core.quant.quantizers import quantize_


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 48), nn.ReLU(),
                         nn.Linear(48, 16))


@pytest.mark.parametrize('scheme', ['uniform', 'potlog'])
@pytest.mark.parametrize('granularity', ['per_tensor', 'per_channel'])
def test_switching_equals_direct_quantization(scheme, granularity):
    model = _net()
    nested = NestedQuantizedModel(model, scheme, 8, granularity)
    x = torch.randn(5, 32)
    for bits in (3, 8, 1, 5, 2, 7):  # any order, up and down
        seconds = nested.set_bit_width(bits)
        assert nested.bit_width == bits and seconds >= 0.0
        reference = quantize_(_net(), QuantConfig(scheme, bits, 8, granularity))
        for (name, got), want in zip(model.state_dict().items(),
                                     reference.state_dict().values()):
            assert torch.equal(got, want), (name, bits)
        assert torch.equal(model(x), reference(x))


def test_store_holds_codes_not_fp32_originals():
    model = _net()
    original = model[0].weight.detach().clone()
    nested = NestedQuantizedModel(model, 'uniform', 8, bit_width=2)
    assert nested.parameter_names == ['0.weight', '2.weight', '4.weight']
    assert nested.num_quantized == 32 * 64 + 64 * 48 + 48 * 16
    assert nested.store_bytes() == nested.num_quantized + 4 * 3  # uint8 codes + 3 scales
    for stored in nested._stored:  # nothing float of weight size is kept
        assert stored.codes.dtype == torch.uint8
        assert stored.scale.numel() == 1
    assert not torch.equal(model[0].weight, original)
    # going back up to b_max restores the 8-bit weights, not the originals
    nested.set_bit_width(8)
    assert (model[0].weight - original).abs().max() <= nested.quantized_tensors()[
        '0.weight'].step / 2 + 1e-7


def test_packed_bytes_scale_with_bits():
    nested = NestedQuantizedModel(_net(), 'potlog', 8, 'per_channel')
    n = nested.num_quantized
    scales = 4 * (64 + 48 + 16)
    for bits in range(1, 9):
        assert nested.packed_bytes(bits) == n * bits // 8 + scales
    assert nested.fp32_bytes() == 4 * n
    assert nested.packed_bytes() == nested.packed_bytes(8)


def test_quantized_tensors_match_module_weights():
    model = _net()
    nested = NestedQuantizedModel(model, 'uniform', 6, bit_width=4)
    tensors = nested.quantized_tensors()
    assert torch.equal(tensors['2.weight'].values, model[2].weight)
    assert tensors['2.weight'].bits == 4
    assert nested.quantized_tensors(6)['2.weight'].bits == 6


@pytest.mark.parametrize('bits', [0, 9, 2.5, 'x'])
def test_bad_bit_width_rejected(bits):
    nested = NestedQuantizedModel(_net(), 'uniform', 8)
    with pytest.raises(ValueError, match='bit_width'):
        nested.set_bit_width(bits)
    assert nested.bit_width == 8


def test_bad_construction_rejected():
    with pytest.raises(ValueError, match='Invalid quantization scheme: "foo"'):
        NestedQuantizedModel(_net(), 'foo')
    with pytest.raises(ValueError, match='selected no weight'):
        NestedQuantizedModel(_net(), filter_fn=lambda m, fqn: False)
    with pytest.raises(ValueError, match='b_max must be in'):
        NestedQuantizedModel(_net(), b_max=0)
