"""Where a part runs (models/device.py), the agent runtime on a device: CPU checks, GPU tests."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qcoinf_ros.core.models.device import (
    DeviceError, place, Placement, resolve_device, synchronize, upload)
from qcoinf_ros.core.quant import NestedQuantizedModel
from qcoinf_ros.core.runtime import build_runtime, resolve_kernel

pytestmark = pytest.mark.check


class MimicCuda:
    """Answers like ``torch.cuda`` on a machine with ``count`` GPUs (0: none)."""

    def __init__(self, count: int):
        self.count = count

    def is_available(self) -> bool:
        return self.count > 0

    def device_count(self) -> int:
        return self.count

    def get_device_name(self, index: int) -> str:
        if not 0 <= index < self.count:
            raise AssertionError(f'asked for the name of GPU {index} of {self.count}')
        return f'Mimic GPU {index}'


@pytest.mark.parametrize('spec', ['gpu', 'cuda:', 'cuda:x', 'cpu:0', 'auto:1', 'CUDA', '',
                                  ' cpu', 'cuda:1234', None, 0])
def test_an_unknown_device_is_refused_naming_it(spec):
    with pytest.raises(ValueError, match='device must be cpu, cuda, cuda:N or auto') as info:
        resolve_device(spec, cuda=MimicCuda(2))
    assert not isinstance(info.value, DeviceError)  # a typo, not a device that may free up


def test_an_unknown_dtype_is_refused_naming_it():
    with pytest.raises(ValueError, match='dtype must be one of float32, float16, bfloat16, '
                                         "got 'half'"):
        resolve_device('cpu', 'half')


def test_cuda_without_a_gpu_is_refused_and_auto_falls_back_to_the_cpu_saying_so():
    none = MimicCuda(0)
    for spec in ('cuda', 'cuda:0'):
        with pytest.raises(DeviceError, match='no CUDA device on this machine'):
            resolve_device(spec, cuda=none)
    auto = resolve_device('auto', 'bfloat16', cuda=none)
    assert auto == Placement('cpu', 'bfloat16', 'cpu', auto.note)
    assert 'no CUDA device' in auto.note and 'CPU' in auto.note and not auto.is_cuda


def test_cuda_picks_the_named_gpu_and_refuses_an_index_the_machine_lacks():
    two = MimicCuda(2)
    assert resolve_device('cuda', cuda=two).device == 'cuda:0'
    second = resolve_device('cuda:1', 'float16', cuda=two)
    assert (second.device, second.name, second.is_cuda) == ('cuda:1', 'Mimic GPU 1', True)
    assert second.torch_dtype is torch.float16 and second.torch_device == torch.device('cuda:1')
    auto = resolve_device('auto', cuda=two)
    assert auto.device == 'cuda:0' and 'CUDA device 0 (Mimic GPU 0)' in auto.note
    with pytest.raises(DeviceError, match=r"'cuda:2': this machine has 2 CUDA device\(s\), "
                                          r'cuda:0..cuda:1'):
        resolve_device('cuda:2', cuda=two)


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16', 'float16'])
def test_a_module_placed_on_the_cpu_takes_the_dtype_and_still_computes(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.LayerNorm(32), nn.Linear(32, 8))
    x = torch.randn(4, 16)
    want = model(x)
    placement = resolve_device('cpu', dtype)
    assert place(model, placement) is model
    assert all(p.dtype is placement.torch_dtype for p in model.parameters())
    got = model(upload(x, placement).to(placement.torch_dtype)).float()
    synchronize(placement)
    assert torch.allclose(got, want, atol=0.05 if dtype != 'float32' else 1e-6)
    assert upload(x, placement) is x  # the CPU needs no copy


def test_place_keeps_the_dtype_when_asked():
    model = nn.Linear(4, 4)
    place(model, resolve_device('cpu', 'float16'), dtype=False)
    assert model.weight.dtype is torch.float32


def test_gpu_kernels_are_refused_on_a_gpu_and_auto_takes_the_reference():
    for kernel in ('lut', 'int8'):
        with pytest.raises(ValueError, match=f'kernel "{kernel}" runs on the CPU only, not on '
                                             'cuda:0'):
            resolve_kernel(kernel, 'uniform', 'cuda:0')
    name, reason = resolve_kernel('auto', 'uniform', 'cuda:0')
    assert name == 'reference' and 'on cuda:0' in reason
    runtime = build_runtime(nn.Sequential(nn.Linear(8, 8)), 'int8', b_max=4)
    with pytest.raises(ValueError, match='the int8 kernels run on the CPU only'):
        runtime.to('cuda:0')


def _model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 6))


def test_moving_the_nested_codes_keeps_every_switch_exact():
    """``to`` rebinds the module's weights and moves the codes; switches stay bit-exact."""
    moved, kept = _model(), _model()
    a = NestedQuantizedModel(moved, b_max=6)
    b = NestedQuantizedModel(kept, b_max=6)
    assert a.to('cpu') is a
    x = torch.randn(3, 12)
    for bits in (1, 3, 6, 2):
        a.set_bit_width(bits)
        b.set_bit_width(bits)
        assert torch.equal(moved(x), kept(x))
    runtime = build_runtime(_model(), 'reference', b_max=6, bit_width=3, device='cpu')
    assert runtime.device == 'cpu' and runtime.isa == 'torch'


@pytest.mark.gpu
def test_the_reference_runtime_on_cuda_matches_the_cpu_at_every_bit_width():
    cpu = build_runtime(_model(), 'reference', b_max=6)
    gpu = build_runtime(_model(), 'auto', b_max=6, device='cuda:0')
    assert gpu.kernel == 'reference' and gpu.device == 'cuda:0' and gpu.isa == 'cuda'
    assert all(p.device.type == 'cuda' for p in gpu.module.parameters())
    x = torch.randn(5, 12)
    for bits in range(1, 7):
        cpu.set_bit_width(bits)
        gpu.set_bit_width(bits)  # dequantized on the device
        torch.testing.assert_close(gpu.module(x.cuda()).cpu(), cpu.module(x), rtol=1e-4,
                                   atol=1e-5)


class Failing(nn.Linear):
    """A module whose move fails as CUDA's do (out of memory, a driver error)."""

    def __init__(self, error: Exception):
        super().__init__(2, 2)
        self.error = error

    def _apply(self, fn, recurse=True):
        raise self.error


def test_cuda_errors_while_placing_become_value_errors_naming_device_and_part():
    gpu = Placement('cuda:1', 'float16', 'Mimic GPU 1', '')
    oom = torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB\nmore')
    with pytest.raises(DeviceError, match=r'the server part on cuda:1 \(Mimic GPU 1\): out of '
                                          r'GPU memory: CUDA out of memory. Tried to allocate '
                                          r'20.00 GiB$'):
        place(Failing(oom), gpu, what='the server part')
    driver = RuntimeError('CUDA error: no kernel image is available for execution')
    with pytest.raises(DeviceError, match='model on cuda:1 .*no kernel image'):
        place(Failing(driver), gpu)
    with pytest.raises(RuntimeError, match='no kernel image'):  # not a CUDA matter on the CPU
        place(Failing(driver), resolve_device('cpu'))
