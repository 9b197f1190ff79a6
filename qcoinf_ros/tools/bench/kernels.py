"""
``qcoinf bench kernels``: the bit-plane kernels against fp32 and int8, per ISA variant.

For each variant this CPU runs, on single layers (``M x K -> N``: 1x768x768, 197x768x768,
197x768x3072, 197x3072x768 by default) and on a whole ViT-B/16 encoder block (transformers'
``GitVisionEncoderLayer``: 197 tokens, width 768, MLP 3072, 12 heads; its Linear layers on the
kernels, attention, LayerNorm and GELU in fp32 torch), at b = 1..8:

* latency (median of interleaved rounds, one thread unless asked), its ratio to fp32
  (``F.linear``, or the float block) and to torch's dynamic int8 Linear, which is flat in b;
* the affine fit ``t(b) = t_fixed + b t_plane`` and its R^2;
* the error against the dequantized reference (RMS of the difference over the RMS of the output);
* for the block, the switch time b -> b' (median of many switches) of each kernel.

With ``--int8`` it times instead the exact int8 kernels (``qlut_int8_*``: one u8 x s8 GEMM
on the stored codes per b) against the lookup kernels at the same b, torch's dynamic int8 Linear
and fp32, on the ViT-B MLP shapes (:func:`bench_int8`).

Timings come from whatever machine runs the command; the ratios are what carries over.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
import statistics
import time
from typing import Callable

import torch
from torch import nn

from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['SHAPES', 'INT8_SHAPES', 'Timing', 'Int8Timing', 'bench_layer', 'bench_block',
           'bench_int8', 'vit_block', 'ViTBlockCall', 'interleaved_medians', 'int8_linear',
           'ISA_ENVIRONMENT', 'isa_environment', 'kernel_block', 'Envelope',
           'bench_envelope']

#: ``(M, K, N)`` of the single-layer rows: one token, and ViT-B's four shapes at 197 tokens.
SHAPES = ((1, 768, 768), (197, 768, 768), (197, 768, 3072), (197, 3072, 768))
#: ``(M, K, N)`` of the int8 comparison: ViT-B's MLP at 197 tokens.
INT8_SHAPES = ((197, 768, 3072), (197, 3072, 768))


def interleaved_medians(fns: dict, repeats: int, warmup: int = 1,
                        clock: Callable[[], float] = time.perf_counter) -> dict:
    """
    Median seconds of each ``fn()``, timed in ``repeats`` rounds that visit every fn once.

    ``clock``: wall time by default; ``time.thread_time`` counts only the calling thread's CPU
    time (one-thread runs on a shared machine: time spent descheduled is not counted).
    """
    repeats = require_int_in_range('repeats', repeats, 1)
    with torch.no_grad():
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        samples = {key: [] for key in fns}
        for _ in range(repeats):
            for key, fn in fns.items():
                start = clock()
                fn()
                samples[key].append(clock() - start)
    return {key: statistics.median(v) for key, v in samples.items()}


def int8_linear(linear: nn.Linear) -> nn.Module:
    """Return torch's dynamic int8 Linear of ``linear`` (activations quantized per call)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        linear = copy.deepcopy(linear)
        linear.qconfig = torch.ao.quantization.default_dynamic_qconfig
        return DynamicLinear.from_float(linear)


def _fit(bits, seconds):
    from qcoinf_ros.core.system.calibration import fit_affine
    return fit_affine(list(bits), [seconds[b] for b in bits])


def _rel_rms(out: torch.Tensor, ref: torch.Tensor) -> float:
    ref = ref.double()
    return float((out.double() - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt())


@dataclass
class Timing:
    """One variant on one workload; latencies in ms, switch times in microseconds."""

    variant: str
    shape: tuple[int, int, int]  # (M, K, N) of a layer; (tokens, width, MLP width) of a block
    fp32_ms: float
    int8_ms: float
    lut_ms: dict[int, float]
    t_fixed_ms: float
    t_plane_ms: float
    r2: float
    rel_error: dict[int, float]
    switch_us: dict[str, float] = field(default_factory=dict)

    def to_dict(self):
        """Plain data (JSON-ready)."""
        return asdict(self)


def _timing(variant, shape, base, lut_s, errors, switch=None) -> Timing:
    """Build a :class:`Timing` from seconds: fp32/int8 medians, lut per b, its affine fit."""
    bits = sorted(lut_s)
    fit = _fit(bits, lut_s)
    return Timing(variant, shape, 1e3 * base['fp32'], 1e3 * base['int8'],
                  {b: 1e3 * t for b, t in lut_s.items()}, 1e3 * fit.t_fixed, 1e3 * fit.t_plane,
                  fit.r2, errors, switch or {})


def _lut_times(set_bits: Callable[[int], object], run: Callable[[], object], bits,
               repeats: int) -> dict[int, float]:
    # b is switched inside the timed rounds' setup, never inside a timed call
    fns = {}
    for b in bits:
        def fn(b=b):
            set_bits(b)
            return run()
        fns[b] = fn
    # time only the call: measure set_bits separately and subtract (it is ~microseconds)
    seconds = interleaved_medians(fns, repeats)
    switch = statistics.median(_timed(lambda: set_bits(bits[0])) for _ in range(50))
    return {b: max(seconds[b] - switch, 1e-9) for b in bits}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_layer(lib, variant: str, m: int, k: int, n: int, bits=range(1, 9), repeats: int = 10,
                threads: int = 1, b_max: int = 8, seed: int = 0) -> Timing:
    """Time one ``M x K -> N`` layer on ``variant`` at each b, with fp32 and int8 beside it."""
    from qcoinf_ros.core.lut.linear import BitWidth, LutLinear
    from qcoinf_ros.core.quant import dequantize_codes, QuantConfig, quantize_tensor, reduce_codes
    bits = sorted(bits)
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(k, n)
    with torch.no_grad():
        linear.weight.normal_(0.0, 0.02, generator=gen)
    x = torch.randn(m, k, generator=gen)
    qt = quantize_tensor(linear.weight.detach(), QuantConfig('uniform', b_max, b_max))
    state = BitWidth(b_max)
    saved = lib.variant
    lib.variant = lib.variant_id(variant)
    try:
        lut = LutLinear.from_linear(linear, qt, state, lib, threads)
        int8 = int8_linear(linear)
        base = interleaved_medians({'fp32': lambda: linear(x), 'int8': lambda: int8(x)},
                                   repeats)
        lut_s = _lut_times(state.set, lambda: lut(x), bits, repeats)
        errors = {}
        with torch.no_grad():
            for b in bits:
                state.set(b)
                w = dequantize_codes(reduce_codes(qt.codes, b_max, b, 'uniform'), qt.scale, b,
                                     'uniform')
                errors[b] = _rel_rms(lut(x), nn.functional.linear(x, w, linear.bias))
    finally:
        lib.variant = saved
    return _timing(variant, (m, k, n), base, lut_s, errors)


def vit_block(width: int = 768, heads: int = 12, mlp: int = 3072, seed: int = 0) -> nn.Module:
    """Build a ViT-B/16 encoder block: transformers' ``GitVisionEncoderLayer`` (GIT-base)."""
    from transformers import GitVisionConfig
    from transformers.models.git.modeling_git import GitVisionEncoderLayer
    config = GitVisionConfig(hidden_size=width, intermediate_size=mlp, num_attention_heads=heads,
                             hidden_act='quick_gelu')
    config._attn_implementation = 'sdpa'  # what from_pretrained picks for a real checkpoint
    torch.manual_seed(seed)
    block = GitVisionEncoderLayer(config).eval().requires_grad_(False)
    with torch.no_grad():
        for module in block.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, 0.02)
    return block


class ViTBlockCall(nn.Module):
    """``block(x)`` for a transformers encoder layer (which takes an attention mask too)."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        """Hidden states ``(B, tokens, width)`` -> the same shape."""
        return self.block(x, None)


def bench_block(lib, variant: str, bits=range(1, 9), repeats: int = 10, threads: int = 1,
                tokens: int = 197, b_max: int = 8) -> Timing:
    """Time the ViT-B block on ``variant`` at each b, with fp32, int8 and switch times."""
    from qcoinf_ros.core.runtime import build_runtime
    bits = sorted(bits)
    x = torch.randn(1, tokens, 768, generator=torch.Generator().manual_seed(1))
    fp32 = ViTBlockCall(vit_block())
    saved = lib.variant
    lib.variant = lib.variant_id(variant)
    try:
        lut = ViTBlockCall(vit_block())
        lut_rt = build_runtime(lut, 'lut', 'uniform', b_max, threads=threads)
        ref = ViTBlockCall(vit_block())
        ref_rt = build_runtime(ref, 'reference', 'uniform', b_max, threads=threads)
        int8 = ViTBlockCall(vit_block())
        int8_rt = build_runtime(int8, 'int8', 'uniform', b_max, threads=threads)
    finally:
        lib.variant = saved
    base = interleaved_medians({'fp32': lambda: fp32(x), 'int8': lambda: int8(x)}, repeats)
    lut_s = _lut_times(lut_rt.set_bit_width, lambda: lut(x), bits, repeats)
    errors = {}
    with torch.no_grad():
        for b in bits:
            lut_rt.set_bit_width(b)
            ref_rt.set_bit_width(b)
            errors[b] = _rel_rms(lut(x), ref(x))
    switch = {}
    for name, runtime, count in (('lut', lut_rt, 1000), ('reference', ref_rt, 5),
                                 ('int8', int8_rt, 3)):
        times = [runtime.set_bit_width(b) for _ in range(count) for b in (2, 7)]
        switch[name] = 1e6 * statistics.median(times)
    return _timing(variant, (tokens, 768, 3072), base, lut_s, errors, switch)


@dataclass
class Int8Timing:
    """The int8 and lookup kernels of one variant on one layer, per b; latencies in ms."""

    variant: str
    shape: tuple[int, int, int]
    fp32_ms: float
    torch_int8_ms: float
    int8_ms: dict[int, float]
    lut_ms: dict[int, float]
    rel_error: dict[int, float]  # int8 kernel vs the dequantized reference

    def to_dict(self):
        """Plain data (JSON-ready)."""
        return asdict(self)


def bench_int8(lib, variant: str, m: int, k: int, n: int, bits=range(1, 9), repeats: int = 10,
               threads: int = 1, b_max: int = 8, seed: int = 0) -> Int8Timing:
    """
    Time the int8 kernels against the lookup kernels (per b), torch int8 and fp32 on a layer.

    The kernels are called through the library directly (no module around them); every
    timing is a median of interleaved rounds, so drifts of the machine hit all alike.
    """
    from qcoinf_ros.core.lut.planes import plane_bits, unsigned_codes
    from qcoinf_ros.core.quant import dequantize_codes, QuantConfig, quantize_tensor, reduce_codes
    bits = sorted(bits)
    vid = lib.variant_id(variant)
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(k, n)
    with torch.no_grad():
        linear.weight.normal_(0.0, 0.02, generator=gen)
    x = torch.randn(m, k, generator=gen)
    qt = quantize_tensor(linear.weight.detach(), QuantConfig('uniform', b_max, b_max))
    ws = qt.scale.reshape(-1).to(torch.float32).expand(n).contiguous()
    bias = linear.bias.detach().contiguous()
    packed = torch.from_numpy(lib.int8_pack(unsigned_codes(qt.codes, b_max), b_max))
    planes = torch.from_numpy(lib.pack(plane_bits(qt.codes, b_max), k, vid))
    out = torch.empty(m, n)
    torch_int8 = int8_linear(linear)
    fns = {'fp32': lambda: linear(x), 'torch_int8': lambda: torch_int8(x)}
    for b in bits:
        fns[('int8', b)] = lambda b=b: lib.int8_linear(x, packed, b_max, b, n, ws, bias, out,
                                                       threads, vid)
        fns[('lut', b)] = lambda b=b: lib.linear(x, planes, b_max, b, n, ws, bias, out,
                                                 threads, vid)
    seconds = interleaved_medians(fns, repeats)
    errors = {}
    with torch.no_grad():
        for b in bits:
            w = dequantize_codes(reduce_codes(qt.codes, b_max, b, 'uniform'), qt.scale, b,
                                 'uniform')
            errors[b] = _rel_rms(fns[('int8', b)]().clone(), nn.functional.linear(x, w, bias))
    return Int8Timing(variant, (m, k, n), 1e3 * seconds['fp32'], 1e3 * seconds['torch_int8'],
                      {b: 1e3 * seconds[('int8', b)] for b in bits},
                      {b: 1e3 * seconds[('lut', b)] for b in bits}, errors)


# ---------------------------------------------------------------------------------------------
# The envelope on the ViT-B block: both kernels per b (optionally from a second, baseline build
# of the library), fp32 and torch int8, at one or more thread counts, all interleaved.

#: Environment that forces every contender to one x86 ISA level (read at library/torch load).
ISA_ENVIRONMENT = {
    'avx2': {'QLUT_VARIANT': 'avx2', 'FBGEMM_ENABLE_INSTRUCTIONS': 'AVX2',
             'MKL_ENABLE_INSTRUCTIONS': 'AVX2', 'ONEDNN_MAX_CPU_ISA': 'AVX2',
             'ATEN_CPU_CAPABILITY': 'avx2'},
}


def isa_environment(isa: str) -> dict[str, str]:
    """Variables forcing the kernel library, fbgemm, MKL, oneDNN and ATen to ``isa``."""
    if isa not in ISA_ENVIRONMENT:
        raise ValueError(f'Invalid ISA: "{isa}" (expected one of {tuple(ISA_ENVIRONMENT)})')
    return dict(ISA_ENVIRONMENT[isa])


def kernel_block(lib, kernel: str, bit_width, threads: int = 1, b_max: int = 8) -> nn.Module:
    """
    Build the ViT-B block with every Linear on ``lib``'s ``kernel`` (``lut`` or ``int8``).

    The layers are the agent runtime's :class:`~qcoinf_ros.core.lut.linear.LutLinear` holding one
    form: the planes (``lut``) or the codes for the exact int8 kernels (``int8``, the runtime's
    ``qint8``); ``bit_width`` must route to that form.
    """
    from qcoinf_ros.core.lut.linear import LutLinear
    from qcoinf_ros.core.quant import QuantConfig, quantize_tensor
    block = vit_block()
    for name, child in list(block.named_modules()):
        if not isinstance(child, nn.Linear):
            continue
        qt = quantize_tensor(child.weight.detach(), QuantConfig('uniform', b_max, b_max))
        new = (LutLinear.from_linear(child, qt, bit_width, lib, threads) if kernel == 'lut'
               else LutLinear.from_linear(child, qt, bit_width, lib, threads, planes=0,
                                          codes=True))
        parent_name, _, attr = name.rpartition('.')
        setattr(block.get_submodule(parent_name) if parent_name else block, attr, new)
    return ViTBlockCall(block)


@dataclass
class Envelope:
    """
    Block times per thread count, the lookup fits per library, the chosen kernel per b.

    ``ms[threads][key]``: key ``fp32``, ``torch_int8`` or ``'<library>/<kernel>/<b>'``.
    """

    variant: str
    threads: list[int]
    ms: dict[int, dict[str, float]]
    libraries: list[str]
    fits: dict[int, dict[str, tuple[float, float, float]]]  # threads -> lib -> (t0, tp, r2)

    def chosen(self, threads: int, b: int, lib: str = 'new') -> tuple[str, float]:
        """Return the faster of the two kernels of ``lib`` at ``b``: (kernel, ms)."""
        ms = self.ms[threads]
        return min(((kernel, ms[f'{lib}/{kernel}/{b}']) for kernel in ('lut', 'int8')),
                   key=lambda kv: kv[1])

    def to_dict(self):
        """Plain data (JSON-ready)."""
        return asdict(self)


def bench_envelope(libs: dict, variant: str, bits=range(1, 9), repeats: int = 5,
                   threads=(1,), tokens: int = 197, b_max: int = 8,
                   cpu_time: bool = False) -> Envelope:
    """
    Time the ViT-B block on both kernels of each library in ``libs``, per b and thread count.

    ``libs``: name -> library; fp32 and torch's dynamic int8 beside them, every call in one
    interleaved round. ``cpu_time``: time the calling thread's CPU time (one thread only).
    """
    from qcoinf_ros.core.lut.linear import BitWidth
    bits = sorted(bits)
    threads = sorted(set(threads))
    if cpu_time and threads != [1]:
        raise ValueError('cpu_time measures one thread: threads must be (1,)')
    x = torch.randn(1, tokens, 768, generator=torch.Generator().manual_seed(1))
    fp32 = ViTBlockCall(vit_block())
    int8 = ViTBlockCall(vit_block())
    for name, child in list(int8.block.named_modules()):
        if isinstance(child, nn.Linear):
            parent_name, _, attr = name.rpartition('.')
            setattr(int8.block.get_submodule(parent_name) if parent_name else int8.block, attr,
                    int8_linear(child))
    fns = {}
    for t in threads:
        def torch_call(module, t=t):
            torch.set_num_threads(t)
            return module(x)
        fns[(t, 'fp32')] = lambda f=torch_call: f(fp32)
        fns[(t, 'torch_int8')] = lambda f=torch_call: f(int8)
        for lib_name, lib in libs.items():
            saved = lib.variant
            lib.variant = lib.variant_id(variant)
            try:
                for kernel in ('lut', 'int8'):
                    route = 'lut' if kernel == 'lut' else 'qint8'
                    state = BitWidth(b_max, routes=(route,) * b_max)
                    module = kernel_block(lib, kernel, state, t, b_max)
                    for b in bits:
                        # the block's torch part (attention, LayerNorm, GELU) on as many
                        # threads as its kernels: the rounds interleave thread counts
                        def fn(state=state, module=module, b=b, t=t):
                            torch.set_num_threads(t)
                            state.value = b
                            return module(x)
                        fns[(t, f'{lib_name}/{kernel}/{b}')] = fn
            finally:
                lib.variant = saved
    try:
        seconds = interleaved_medians(fns, repeats,
                                      clock=time.thread_time if cpu_time else time.perf_counter)
    finally:
        torch.set_num_threads(threads[0])
    ms = {t: {key: 1e3 * s for (tt, key), s in seconds.items() if tt == t} for t in threads}
    fits = {}
    for t in threads:
        fits[t] = {}
        for lib_name in libs:
            if len(bits) < 2:
                fits[t][lib_name] = (float('nan'),) * 3
                continue
            fit = _fit(bits, {b: ms[t][f'{lib_name}/lut/{b}'] / 1e3 for b in bits})
            fits[t][lib_name] = (1e3 * fit.t_fixed, 1e3 * fit.t_plane, fit.r2)
    return Envelope(variant, threads, ms, list(libs), fits)
