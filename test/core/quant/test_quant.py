"""Tests of the weight quantizers: config validation, error bounds, nesting, quantize_."""

from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
import numpy as np
import pytest
import torch
from torch import nn

from qcoinf_ros.core.quant.config import QuantConfig
from qcoinf_ros.core.quant.quantizers import (
    default_filter, dequantize, dequantize_codes, quantizable_weights, quantize_, quantize_tensor,
    reduce_codes)

SCHEMES = ('uniform', 'potlog')
GRANULARITIES = ('per_tensor', 'per_channel')

finite = st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False, width=32)
weights = arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 9)), elements=finite)


def _laplace(shape, seed=0, scale=0.05):
    gen = torch.Generator().manual_seed(seed)
    sign = torch.randint(0, 2, shape, generator=gen) * 2 - 1
    return (sign * torch.empty(shape).exponential_(1.0 / scale, generator=gen)).float()


# --- config -------------------------------------------------------------------------------

def test_config_defaults_and_magnitude_bits():
    config = QuantConfig()
    assert (config.scheme, config.bits, config.b_max, config.granularity) == (
        'uniform', 8, 8, 'per_tensor')
    assert QuantConfig(bits=3).magnitude_bits == 2
    assert QuantConfig(bits=5).with_bits(2).bits == 2


@pytest.mark.parametrize('kwargs, message', [
    ({'scheme': 'foo'}, 'Invalid quantization scheme: "foo"'),
    ({'granularity': 'per_row'}, 'Invalid quantization granularity: "per_row"'),
    ({'bits': 0}, 'bits must be in'),
    ({'bits': 9, 'b_max': 8}, 'bits must be in'),
    ({'bits': 2.5}, 'bits must be an integer'),
    ({'b_max': 17, 'bits': 4}, 'b_max must be in'),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QuantConfig(**kwargs)


@pytest.mark.parametrize('bad, message', [
    (torch.arange(6), 'floating-point tensor'),
    (torch.tensor([1.0, float('nan')]), 'finite'),
    (torch.tensor([1.0, float('inf')]), 'finite'),
    (torch.empty(0), 'empty'),
    (np.ones(3, dtype=np.float32), 'torch.Tensor'),
])
def test_quantize_tensor_rejects_bad_weights(bad, message):
    with pytest.raises(ValueError, match=message):
        quantize_tensor(bad, QuantConfig())


def test_quantize_tensor_rejects_non_config():
    with pytest.raises(ValueError, match='QuantConfig'):
        quantize_tensor(torch.ones(3), {'scheme': 'uniform'})


def test_dequantize_codes_rejects_out_of_range_codes():
    with pytest.raises(ValueError, match=r'codes must lie in \[0, 2\*\*3\)'):
        dequantize_codes(torch.tensor([8], dtype=torch.uint8), torch.tensor(1.0), 3, 'uniform')
    with pytest.raises(ValueError, match='integer tensor'):
        dequantize_codes(torch.tensor([1.0]), torch.tensor(1.0), 3, 'uniform')


# --- exact values ---------------------------------------------------------------------------

def test_uniform_levels_by_hand():
    w = torch.tensor([1.0, 0.6, 0.1, -0.3, 0.0])
    qt = quantize_tensor(w, QuantConfig('uniform', bits=3))  # m = 2: step 0.25, midpoints
    assert torch.equal(qt.magnitude_codes, torch.tensor([3, 2, 0, 1, 0], dtype=torch.int32))
    assert torch.equal(qt.negative, torch.tensor([False, False, False, True, False]))
    assert torch.allclose(qt.values, torch.tensor([0.875, 0.625, 0.125, -0.375, 0.125]))
    assert float(qt.step) == 0.25
    one_bit = quantize_tensor(w, QuantConfig('uniform', bits=1))  # sign * scale / 2
    assert torch.equal(one_bit.values, torch.tensor([0.5, 0.5, 0.5, -0.5, 0.5]))


def test_potlog_levels_by_hand():
    w = torch.tensor([1.0, 0.6, 0.3, -0.2, 0.05, 0.0])
    qt = quantize_tensor(w, QuantConfig('potlog', bits=3))  # scale 1, levels {0, 1, 1/2, 1/4}
    assert float(qt.scale) == 1.0
    assert torch.equal(qt.values, torch.tensor([1.0, 0.5, 0.25, -0.25, 0.0, 0.0]))
    assert torch.equal(quantize_tensor(w, QuantConfig('potlog', bits=2)).values,
                       torch.tensor([1.0, 0.0, 0.0, -0.0, 0.0, 0.0]))
    assert torch.count_nonzero(quantize_tensor(w, QuantConfig('potlog', bits=1)).values) == 0
    # INQ scale: 2**floor(log2(4/3 max|w|)); max 1.4 -> 1, max 1.6 -> 2
    assert float(quantize_tensor(torch.tensor([1.4]), QuantConfig('potlog', bits=4)).scale) == 1
    assert float(quantize_tensor(torch.tensor([1.6]), QuantConfig('potlog', bits=4)).scale) == 2


def test_per_channel_scales_rows_and_keeps_zero_rows():
    w = torch.tensor([[1.0, -0.5], [0.0, 0.0], [0.01, 0.02]])
    qt = quantize_tensor(w, QuantConfig('uniform', bits=8, granularity='per_channel'))
    assert qt.scale.shape == (3, 1)
    assert torch.allclose(qt.scale.flatten(), torch.tensor([1.0, 0.0, 0.02]))
    assert torch.equal(qt.values[1], torch.zeros(2))
    err = (qt.values - w).abs()
    assert bool((err <= qt.scale / 256 * (1 + 1e-6)).all())  # half a step of each row
    assert float(err[2].max()) <= 0.02 / 256 * (1 + 1e-6)


def test_dtype_and_input_preserved():
    w = _laplace((16, 8)).to(torch.float64)
    copy = w.clone()
    qt = quantize_tensor(w, QuantConfig('potlog', bits=4))
    assert qt.values.dtype == torch.float64 and torch.equal(w, copy)
    assert qt.codes.dtype == torch.uint8
    assert quantize_tensor(w, QuantConfig(bits=12, b_max=12)).codes.dtype == torch.int32
    half = quantize_tensor(w.to(torch.bfloat16), QuantConfig(bits=4))
    assert half.values.dtype == torch.bfloat16


# --- properties ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(w=weights, bits=st.integers(1, 8), granularity=st.sampled_from(GRANULARITIES))
def test_uniform_error_bounded_by_half_step(w, bits, granularity):
    qt = quantize_tensor(torch.from_numpy(w), QuantConfig('uniform', bits, 8, granularity))
    err = (qt.values - torch.from_numpy(w)).abs()
    bound = (qt.step / 2).expand_as(err)
    # fp32 ulps, and fp32's spacing at 0 (2^-149): the step of an all-subnormal tensor underflows
    rounding = 4 * torch.finfo(torch.float32).eps * torch.from_numpy(w).abs() + 2.0 ** -148
    assert bool((err <= bound + rounding).all())
    assert torch.equal(dequantize(qt), qt.values)
    assert bool((qt.values.abs() <= qt.scale.expand_as(err) + 1e-12).all())


@settings(max_examples=60, deadline=None)
@given(w=weights, bits=st.integers(1, 8), granularity=st.sampled_from(GRANULARITIES))
def test_potlog_error_bound_and_levels(w, bits, granularity):
    wt = torch.from_numpy(w)
    qt = quantize_tensor(wt, QuantConfig('potlog', bits, 8, granularity))
    err = (qt.values - wt).abs()
    nonzero = qt.values != 0
    # a non-zero level is within half of itself; a zeroed weight is below 3/4 of the
    # smallest level (or every weight is zero at b = 1)
    assert bool((err[nonzero] <= qt.values.abs()[nonzero] / 2).all())
    levels = 2 ** (bits - 1) - 1
    smallest = qt.scale.expand_as(wt) * 2.0 ** -(levels - 1) if levels else None
    if smallest is not None:
        assert bool((wt.abs()[~nonzero] < 0.75 * smallest[~nonzero] + 1e-12).all())
    else:
        assert not bool(nonzero.any())
    # every non-zero value is a power of two (the scale is one too)
    mantissa, _ = torch.frexp(qt.values[nonzero].abs())
    assert bool((mantissa == 0.5).all())
    assert torch.equal(dequantize(qt), qt.values)


@settings(max_examples=40, deadline=None)
@given(w=weights, scheme=st.sampled_from(SCHEMES), granularity=st.sampled_from(GRANULARITIES),
       b_max=st.integers(1, 10))
def test_nested_codes_equal_direct_quantization(w, scheme, granularity, b_max):
    wt = torch.from_numpy(w)
    top = quantize_tensor(wt, QuantConfig(scheme, b_max, b_max, granularity))
    for bits in range(1, b_max + 1):
        direct = quantize_tensor(wt, QuantConfig(scheme, bits, b_max, granularity))
        derived = reduce_codes(top.codes, b_max, bits, scheme)
        assert torch.equal(derived, direct.codes)
        assert torch.equal(dequantize_codes(derived, top.scale, bits, scheme), direct.values)


@pytest.mark.parametrize('scheme', SCHEMES)
@pytest.mark.parametrize('granularity', GRANULARITIES)
def test_mean_error_decreases_with_bits_on_laplace_weights(scheme, granularity):
    w = _laplace((256, 64))
    errors = [float((quantize_tensor(w, QuantConfig(scheme, b, 8, granularity)).values - w)
                    .abs().mean()) for b in range(1, 9)]
    assert all(b <= a for a, b in zip(errors, errors[1:])), errors
    if scheme == 'uniform':  # halves per extra bit
        assert errors[-1] < errors[2] / 16


def test_reduce_codes_rejects_growing_bits():
    with pytest.raises(ValueError, match='to_bits must be in'):
        reduce_codes(torch.zeros(3, dtype=torch.uint8), 4, 5, 'uniform')
    with pytest.raises(ValueError, match='Invalid quantization scheme'):
        reduce_codes(torch.zeros(3, dtype=torch.uint8), 4, 2, 'log')


# --- quantize_ --------------------------------------------------------------------------------

def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5),
                         nn.LayerNorm(5), nn.Linear(5, 3))


def test_quantize_in_place_overwrites_selected_weights_only():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    config = QuantConfig('uniform', bits=3)
    assert quantize_(net, config) is net
    for name, value in net.state_dict().items():
        if name.endswith('weight') and name.split('.')[0] in ('0', '3', '5'):
            assert torch.equal(value, quantize_tensor(before[name], config).values), name
            assert not torch.equal(value, before[name])
        else:  # biases and the LayerNorm
            assert torch.equal(value, before[name]), name


def test_quantize_filter_selects_layers():
    net = _net()
    before = net[0].weight.clone()
    quantize_(net, QuantConfig('potlog', bits=2), lambda m, fqn: isinstance(m, nn.Linear))
    assert torch.equal(net[0].weight, before)
    assert [n for n, _ in quantizable_weights(net)] == ['0.weight', '3.weight', '5.weight']
    assert default_filter(nn.Conv1d(1, 1, 1), '') and not default_filter(nn.Embedding(2, 2), '')


def test_quantize_rejects_bad_model_and_config():
    with pytest.raises(ValueError, match='torch.nn.Module'):
        quantize_('model', QuantConfig())
    with pytest.raises(ValueError, match='QuantConfig'):
        quantize_(_net(), 'uniform')


def test_step_only_for_uniform():
    with pytest.raises(ValueError, match='uniform scheme'):
        quantize_tensor(torch.ones(3), QuantConfig('potlog', 3)).step
