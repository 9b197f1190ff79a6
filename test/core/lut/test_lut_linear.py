"""LutLinear / LutConv2d and the agent runtimes (lut, int8, reference) on real model code."""

from __future__ import annotations

import copy
import statistics
import time

import pytest
import torch
from torch import nn

from qcoinf_ros.core import runtime as rt
from qcoinf_ros.core.lut.library import load_library
from qcoinf_ros.core.lut.linear import BitWidth, is_patchify_conv, LutConv2d, LutLinear
from qcoinf_ros.core.lut.reference import table_error_bound
from qcoinf_ros.core.quant import (
    dequantize_codes, NestedQuantizedModel, QuantConfig, quantize_tensor, reduce_codes)


@pytest.fixture(scope='module')
def lib():
    library = load_library()
    if library is None:
        pytest.fail('the kernel library is not built (test_lut_kernels.py says why)')
    return library


def _reference_linear(linear: nn.Linear, qt, b: int) -> nn.Linear:
    ref = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        ref.weight.copy_(dequantize_codes(reduce_codes(qt.codes, qt.bits, b, 'uniform'),
                                          qt.scale, b, 'uniform'))
        if linear.bias is not None:
            ref.bias.copy_(linear.bias)
    return ref


@pytest.mark.parametrize('granularity', ['per_tensor', 'per_channel'])
def test_lut_linear_follows_the_shared_bit_width_and_matches_the_reference(lib, granularity):
    torch.manual_seed(0)
    linear = nn.Linear(300, 70)
    qt = quantize_tensor(linear.weight.detach(), QuantConfig('uniform', 8, 8, granularity))
    state = BitWidth(8)
    lut = LutLinear.from_linear(linear, qt, state, lib)
    x = torch.randn(2, 5, 300)  # any leading shape
    for b in (8, 3, 1, 6):
        state.set(b)
        with torch.no_grad():
            y = lut(x)
            ref = _reference_linear(linear, qt, b)(x)
        assert y.shape == (2, 5, 70)
        ws = qt.scale.reshape(-1).expand(70).numpy()
        bound = torch.from_numpy(table_error_bound(x.reshape(-1, 300).numpy(), b, ws))
        assert torch.all((y - ref).abs().reshape(-1, 70) <= bound + 1e-5), b
    # 1 bit per weight and plane: N padded to tiles of 16, K to 16, + the AVX2 sign sums
    assert lut.packed_nbytes <= 1.06 * 8 * 80 * 304 / 8
    assert lut.weight.numel() == 0 and lut.weight.dtype == torch.float32  # a dtype marker


def test_lut_conv2d_is_the_patchify_convolution(lib):
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 24, kernel_size=8, stride=8)
    assert is_patchify_conv(conv)
    assert not is_patchify_conv(nn.Conv2d(3, 24, kernel_size=8, stride=4))
    assert not is_patchify_conv(nn.Conv2d(3, 24, kernel_size=8, stride=8, padding=1))
    qt = quantize_tensor(conv.weight.detach(), QuantConfig('uniform', 8, 8, 'per_channel'))
    state = BitWidth(8, 5)
    lut = LutConv2d(conv, qt, state, lib)
    x = torch.randn(2, 3, 35, 42)  # not multiples of 8: the convolution drops the remainder
    ref = nn.Conv2d(3, 24, kernel_size=8, stride=8)
    with torch.no_grad():
        ref.weight.copy_(dequantize_codes(reduce_codes(qt.codes, 8, 5, 'uniform'), qt.scale, 5,
                                          'uniform'))
        ref.bias.copy_(conv.bias)
        y, want = lut(x), ref(x)
    assert y.shape == want.shape == (2, 24, 4, 5)
    assert torch.allclose(y, want, atol=0.02 * float(want.abs().max()))


def test_lut_layers_refuse_what_they_cannot_run(lib):
    linear = nn.Linear(16, 8)
    pot = quantize_tensor(linear.weight.detach(), QuantConfig('potlog', 4, 4))
    with pytest.raises(ValueError, match='PoT-log has no linear bit-plane form'):
        LutLinear.from_linear(linear, pot, BitWidth(4), lib)
    uni = quantize_tensor(linear.weight.detach(), QuantConfig('uniform', 4, 4))
    with pytest.raises(ValueError, match='b_max = 8'):
        LutLinear.from_linear(linear, uni, BitWidth(8), lib)
    with pytest.raises(ValueError, match='stride == kernel_size'):
        LutConv2d(nn.Conv2d(3, 8, 3), uni, BitWidth(4), lib)
    lut = LutLinear.from_linear(linear, uni, BitWidth(4), lib)
    with pytest.raises(ValueError, match='input has 15 features'):
        lut(torch.zeros(2, 15))
    with pytest.raises(ValueError, match='bit_width must be in'):
        BitWidth(4).set(5)


def _tiny_agent():
    from qcoinf_ros.core.models import tiny
    from qcoinf_ros.core.models.git import GitSplit
    return GitSplit.from_model(tiny.tiny_git(width=64, layers=2, image_size=32, patch_size=8))


@pytest.mark.parametrize('scheme', ['uniform', 'potlog'])
def test_every_kernel_runs_the_model_close_to_the_reference(lib, scheme):
    x = _tiny_agent().example_inputs(2, seed=3)
    outs = {}
    for kernel in ('reference', 'int8', 'lut', 'qint8', 'auto'):
        split = _tiny_agent()  # the same seeded weights every time
        if kernel in ('lut', 'qint8') and scheme == 'potlog':
            with pytest.raises(ValueError, match='needs the uniform scheme'):
                rt.build_runtime(split.agent_module, kernel, scheme, 8)
            continue
        runtime = rt.build_runtime(split.agent_module, kernel, scheme, 8, 'per_channel',
                                   bit_width=6)
        assert runtime.module is split.agent_module and runtime.bit_width == 6
        outs[kernel] = split.encode(x)
        assert runtime.kernel == {'auto': 'lut+qint8' if scheme == 'uniform'
                                  else 'reference'}.get(kernel, kernel), runtime.reason
    ref = outs['reference']
    for kernel, out in outs.items():
        rel = float((out - ref).abs().max() / ref.abs().max())
        assert rel < 0.05, (kernel, rel)


def test_lut_switch_is_constant_time_and_changes_the_output(lib):
    split = _tiny_agent()
    runtime = rt.build_runtime(split.agent_module, 'lut', 'uniform', 8)
    assert runtime.isa == lib.variant_name and runtime.dequantized_layers == 0
    x = split.example_inputs(1)
    y8 = split.encode(x)
    times = [runtime.set_bit_width(b) for _ in range(200) for b in (2, 7)]
    assert statistics.median(times) < 100e-6  # one shared assignment (10 us on a quiet core)
    runtime.set_bit_width(2)
    y2 = split.encode(x)
    runtime.set_bit_width(8)
    assert torch.equal(split.encode(x), y8) and not torch.equal(y2, y8)
    with pytest.raises(ValueError, match='bit_width must be in'):
        runtime.set_bit_width(9)


def test_layers_the_kernels_cannot_run_switch_by_reference(lib):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
    ref = NestedQuantizedModel(copy.deepcopy(model), 'uniform', 8)
    runtime = rt.build_runtime(model, 'lut', 'uniform', 8)
    assert runtime.dequantized_layers == 1  # the 3x3 convolution
    assert isinstance(model[2], LutLinear)
    x = torch.randn(1, 3, 8, 8)
    for b in (3, 8, 1):
        runtime.set_bit_width(b)
        ref.set_bit_width(b)
        assert model[0].weight is not ref.model[0].weight
        assert torch.equal(model[0].weight, ref.model[0].weight)  # exact dequantized weights
        with torch.no_grad():
            want = ref.model(x)
            assert torch.allclose(model(x), want, atol=0.03 * float(want.abs().max()))


def test_auto_falls_back_to_reference_and_lut_refuses_without_the_library(monkeypatch):
    from qcoinf_ros.core.lut import library
    monkeypatch.setattr(library, 'load_library', lambda: None)
    monkeypatch.setattr(library, 'library_status', lambda: 'not built here (test)')
    kernel, reason = rt.resolve_kernel('auto', 'uniform')
    assert kernel == 'reference' and 'not built here (test)' in reason
    for kernel in ('lut', 'qint8'):
        with pytest.raises(ValueError, match=f'kernel "{kernel}" requested but'):
            rt.resolve_kernel(kernel, 'uniform')
    with pytest.raises(ValueError, match='Invalid kernel'):
        rt.resolve_kernel('fast', 'uniform')
    split = _tiny_agent()
    runtime = rt.build_runtime(split.agent_module, 'auto', 'uniform', 4)
    assert runtime.kernel == 'reference' and runtime.isa == 'torch'


def test_int8_switch_rebuilds_the_int8_layers(lib):
    split = _tiny_agent()
    runtime = rt.build_runtime(split.agent_module, 'int8', 'uniform', 8)
    int8 = [m for m in split.agent_module.modules()
            if type(m).__module__.startswith('torch.ao.nn.quantized')]
    assert int8 and not any(isinstance(m, nn.Linear) and not hasattr(m, '_packed_params')
                            for m in split.agent_module.modules()
                            if type(m) is nn.Linear)
    x = split.example_inputs(1)
    y8 = split.encode(x)
    start = time.perf_counter()
    runtime.set_bit_width(2)
    assert runtime.last_switch_s <= time.perf_counter() - start
    assert not torch.equal(split.encode(x), y8)


def test_routes_switch_the_kernel_with_the_bit_width_and_trim_keeps_what_they_use(lib):
    x = _tiny_agent().example_inputs(2, seed=4)
    want = {}
    for kernel in ('lut', 'qint8'):
        split = _tiny_agent()
        runtime = rt.build_runtime(split.agent_module, kernel, 'uniform', 8)
        assert runtime.choices == (kernel,) and runtime.routes == (kernel,) * 8
        for b in (2, 6):
            runtime.set_bit_width(b)
            want[kernel, b] = split.encode(x)
    split = _tiny_agent()
    runtime = rt.build_runtime(split.agent_module, 'lut+qint8', 'uniform', 8)
    assert runtime.choices == ('lut', 'qint8')
    full = runtime.packed_nbytes
    routes = ('lut',) * 3 + ('qint8',) * 5
    assert runtime.set_routes(routes) == routes and runtime.kernel_at(6) == 'qint8'
    for b in (2, 6):  # the same kernels on the same bytes: bit for bit
        runtime.set_bit_width(b)
        assert torch.equal(split.encode(x), want[runtime.kernel_at(b), b]), b
    times = [runtime.set_bit_width(b) for _ in range(200) for b in (2, 7)]
    assert statistics.median(times) < 100e-6  # the kernel switches with b: still O(1)
    freed = runtime.trim()
    assert 0 < freed < full and runtime.packed_nbytes == full - freed
    layer = next(m for m in split.agent_module.modules() if isinstance(m, LutLinear))
    assert layer.planes == 3 and layer.codes is not None and 'planes=3' in repr(layer)
    for b in (2, 6):  # trimmed planes are the top 3 of 8: outputs unchanged
        runtime.set_bit_width(b)
        assert torch.equal(split.encode(x), want[runtime.kernel_at(b), b]), b
    with pytest.raises(ValueError, match='b = 4 on lut'):
        runtime.set_routes(('lut',) * 4 + ('qint8',) * 4)
    assert runtime.routes == routes
    with pytest.raises(ValueError, match='routes must name one of'):
        runtime.set_routes(('lut',) * 7)
    runtime.set_routes(('qint8',) * 8)
    runtime.trim()
    assert layer.planes == 0 and layer.packed is None and runtime.choices == ('qint8',)


def test_a_layer_without_the_form_its_route_names_says_so(lib):
    torch.manual_seed(5)
    linear = nn.Linear(40, 16)
    qt = quantize_tensor(linear.weight.detach(), QuantConfig('uniform', 8, 8))
    state = BitWidth(8)
    with pytest.raises(ValueError, match='needs the planes'):
        LutLinear.from_linear(linear, qt, state, lib, planes=0)
    layer = LutLinear.from_linear(linear, qt, state, lib, planes=4)
    state.set(4)
    layer(torch.randn(3, 40))
    state.set(5)
    with pytest.raises(ValueError, match='bit-width 5 is routed to lut, which this layer no '
                                         'longer holds'):
        layer(torch.randn(3, 40))
    state.set_routes(('qint8',) * 8)
    with pytest.raises(ValueError, match='codes dropped'):
        layer(torch.randn(3, 40))
