"""
torch's own low-bit CPU kernels, measured beside the package's (``qcoinf bench quant``).

The agent runs the package's bit-plane lookup-table kernels (:mod:`qcoinf_ros.core.lut`, through
:mod:`qcoinf_ros.core.runtime`); these are the comparators torch offers. The int4 weight-only
kernel is *slower* than fp32 on CPUs without its fast path (22-87x on the project's machines):
it is labelled so wherever it is printed and never used by the agent.

Fake quantization (dequantized fp32 weights) runs the same fp32 kernels at every bit-width, so
its latency cannot follow ``t(b) = b N_FLOP / (b_orig f c)`` (eq. (4)). Two real integer paths
exist in torch 2.13 on CPU and are wrapped here:

- :func:`int8_dynamic`: ``torch.ao.quantization.quantize_dynamic`` (int8 weights and dynamically
  quantized int8 activations, fbgemm/onednn) on every ``nn.Linear``. It re-quantizes the
  (already b-bit) weights to int8 per tensor, so it serves every ``b <= 8`` with one kernel;
  ``torch.ao.quantization`` is deprecated in 2.13 but works.
- :class:`Int4Linear` / :func:`int4_weight_only`: ``aten._weight_int4pack_mm_for_cpu`` (int4
  weights, fp32 activations). Built from the uniform codes, it reproduces the b-bit weights
  exactly for ``b <= 4`` (``w_hat = (q - 8) * step + step / 2`` with ``q`` the 4-bit code), on
  layers with ``out_features % 16 == 0`` and ``in_features % 32 == 0``.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Callable
import warnings

import torch
from torch import nn

from qcoinf_ros.core.quant.quantizers import QuantizedTensor
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['measure_latency', 'int8_dynamic', 'Int4Linear', 'int4_weight_only',
           'INT4_GROUP_SIZE']

INT4_GROUP_SIZE = 32


def measure_latency(fn: Callable, *args, repeats: int = 20, warmup: int = 3, **kwargs) -> float:
    """Median wall time in seconds of ``fn(*args, **kwargs)`` under ``torch.no_grad``."""
    repeats = require_int_in_range('repeats', repeats, 1)
    warmup = require_int_in_range('warmup', warmup, 0)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            fn(*args, **kwargs)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def int8_dynamic(module: nn.Module) -> nn.Module:
    """Copy ``module`` with its ``nn.Linear`` layers on int8 kernels (dynamic quantization)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(module), {nn.Linear}, dtype=torch.qint8)


class Int4Linear(nn.Module):
    """``nn.Linear`` on the CPU int4 weight-only kernel, exact for uniform codes with b <= 4."""

    def __init__(self, linear: nn.Linear, qt: QuantizedTensor):
        super().__init__()
        if not Int4Linear.supports(linear, qt):
            raise ValueError(f'Int4Linear needs a uniform b <= 4 weight with out_features % 16 '
                             f'== 0 and in_features % {INT4_GROUP_SIZE} == 0, got '
                             f'{qt.scheme} b={qt.bits} and shape {tuple(linear.weight.shape)}')
        out_features, in_features = linear.weight.shape
        negative, magnitude = qt.negative, qt.magnitude_codes
        q = torch.where(negative, 7 - magnitude, 8 + magnitude).to(torch.int32)
        self.register_buffer('packed', torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1))
        step = qt.step.to(torch.float32).reshape(-1, 1).expand(out_features, 1)
        step = step.expand(out_features, in_features // INT4_GROUP_SIZE).t()
        self.register_buffer('scales_and_zeros',
                             torch.stack([step, step / 2], dim=-1).contiguous())
        bias = None if linear.bias is None else linear.bias.detach().clone()
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.in_features, self.out_features = in_features, out_features

    @staticmethod
    def supports(linear: nn.Module, qt: QuantizedTensor) -> bool:
        """Whether the kernel can run this layer exactly."""
        if not isinstance(linear, nn.Linear) or qt.scheme != 'uniform' or qt.bits > 4:
            return False
        out_features, in_features = linear.weight.shape
        return out_features % 16 == 0 and in_features % INT4_GROUP_SIZE == 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ w_hat.T + bias`` with the packed int4 weights."""
        flat = x.reshape(-1, self.in_features).to(torch.float32)
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(
            flat, self.packed, INT4_GROUP_SIZE, self.scales_and_zeros)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)


def int4_weight_only(module: nn.Module, tensors: dict[str, QuantizedTensor]) -> tuple[
        nn.Module, int]:
    """
    Copy ``module`` with each supported ``nn.Linear`` on :class:`Int4Linear`.

    ``tensors`` maps weight names (``'layer.weight'``) to their quantized tensors, as given by
    :meth:`NestedQuantizedModel.quantized_tensors`. Returns the copy and the number of layers
    converted (unsupported layers keep their fake-quantized fp32 weights).
    """
    out = copy.deepcopy(module)
    converted = 0
    for name, child in list(out.named_modules()):
        qt = tensors.get(f'{name}.weight')
        if qt is None or not Int4Linear.supports(child, qt):
            continue
        parent_name, _, attr = name.rpartition('.')
        parent = out.get_submodule(parent_name) if parent_name else out
        setattr(parent, attr, Int4Linear(child, qt))
        converted += 1
    return out, converted
