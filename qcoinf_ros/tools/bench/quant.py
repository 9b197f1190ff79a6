"""
Switch time, packed bytes and agent latency per bit-width and scheme (``qcoinf bench quant``).

For each model and scheme the agent part is quantized once at ``B_max`` (nested codes), then for
each bit-width ``b`` the command measures: the run-time switch of the reference path
(:meth:`set_bit_width`, a weight rewrite), the bit-packed weight bytes against float32 (ideal
``b / 32``), and the agent latency on CPU with fake-quantized fp32 weights, with the package's
bit-plane lookup-table kernels (uniform scheme: :mod:`qcoinf_ros.core.lut`, cost growing with b),
with torch's dynamic int8 kernels (``b <= 8``, flat in b) and with torch's int4 weight-only
kernel (uniform ``b <= 4``; labelled as what it is: on CPUs without its fast path it is much
slower than fp32), each as a ratio to the fp32 latency, to set beside the ``b / 32`` the
workload model of eq. (4) assumes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import statistics
from typing import Any, Callable

import torch
from torch import nn

from qcoinf_ros.core.models.base import count_flops, PartFlops
from qcoinf_ros.core.quant.config import check_granularity, check_scheme, SCHEMES
from qcoinf_ros.core.quant.kernels import int4_weight_only, int8_dynamic, measure_latency
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.core.quant.quantizers import quantizable_weights
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['BenchTarget', 'BenchRow', 'ModelBench', 'build_target', 'bench_target',
           'MODELS']

MODELS = ('fcdnn', 'git-tiny', 'blip2-tiny', 'minilm', 'vit-block')
DEFAULT_MODELS = ('fcdnn', 'git-tiny')


@dataclass
class BenchTarget:
    """What to benchmark: the agent module, its inputs and how to run it."""

    name: str
    module: nn.Module
    inputs: Any
    run: Callable[[nn.Module, Any], Any]
    flops: PartFlops


@dataclass(frozen=True)
class BenchRow:
    """Measurements at one (scheme, bit-width); latencies in milliseconds, None = no kernel."""

    scheme: str
    bit_width: int
    switch_ms: float
    packed_bytes: int
    bytes_ratio: float
    fake_ms: float
    int8_ms: float | None
    int4_ms: float | None
    int4_layers: int
    lut_ms: float | None = None


@dataclass
class ModelBench:
    """All rows of one model, with its fp32 reference latency and FLOP counts."""

    model: str
    num_quantized: int
    fp32_bytes: int
    fp32_ms: float
    flops: PartFlops
    threads: int
    batch: int
    rows: list[BenchRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready)."""
        out = asdict(self)
        out['flops'] = {'agent': self.flops.agent, 'server': self.flops.server}
        return out


def _agent_run(module: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    return module(inputs)


def _bert_run(module: nn.Module, batch: dict) -> torch.Tensor:
    return module(**batch).last_hidden_state


def build_target(name: str, batch: int = 1) -> BenchTarget:
    """
    Build one of :data:`MODELS`, or ``git=DIR`` / ``blip2=DIR`` for a local checkpoint.

    ``vit-block`` is one ViT-B/16 encoder block at 197 tokens (GIT-base's vision tower is twelve
    of them): the size at which the bit-width changes the agent's cost.
    """
    batch = require_int_in_range('batch', batch, 1)
    family, _, path = name.partition('=')
    if family == 'fcdnn' and not path:
        from qcoinf_ros.core.models.fcdnn import digits_split, FcdnnSplit
        split = FcdnnSplit()
        inputs = digits_split()[1][:batch]
    elif family in ('git-tiny', 'blip2-tiny') and not path:
        from qcoinf_ros.core.models import tiny
        if family == 'git-tiny':
            from qcoinf_ros.core.models.git import GitSplit
            split = GitSplit.from_model(tiny.tiny_git(width=128, layers=4, image_size=64,
                                                      patch_size=16), model_id=family)
        else:
            from qcoinf_ros.core.models.blip2 import Blip2Split
            split = Blip2Split.from_model(tiny.tiny_blip2(width=128, layers=4, image_size=64,
                                                          patch_size=16), model_id=family)
        inputs = split.example_inputs(batch)
    elif family in ('git', 'blip2') and path:
        from qcoinf_ros.core.models.blip2 import Blip2Split
        from qcoinf_ros.core.models.git import GitSplit
        split = (GitSplit if family == 'git' else Blip2Split).from_pretrained(path)
        inputs = split.example_inputs(batch)
    elif family == 'vit-block' and not path:
        from qcoinf_ros.tools.bench.kernels import vit_block, ViTBlockCall
        module = ViTBlockCall(vit_block())
        inputs = torch.randn(batch, 197, 768, generator=torch.Generator().manual_seed(0))
        flops = PartFlops(count_flops(_agent_run, module, inputs), 0)
        return BenchTarget('vit-block', module, inputs, _agent_run, flops)
    elif family == 'minilm':
        from qcoinf_ros.core.models.minilm import MiniLM, SENTENCES
        minilm = MiniLM.load(path or None)
        sentences = [SENTENCES[i % len(SENTENCES)] for i in range(batch)]
        tokens = minilm.tokenize(sentences)
        flops = PartFlops(count_flops(_bert_run, minilm.model, tokens), 0)
        return BenchTarget('minilm', minilm.model, tokens, _bert_run, flops)
    else:
        raise ValueError(f'Invalid bench model: "{name}" (expected one of {MODELS}, git=DIR or '
                         f'blip2=DIR)')
    return BenchTarget(name, split.agent_module, inputs, _agent_run, split.flops(inputs))


def bench_target(target: BenchTarget, schemes=SCHEMES, bit_widths=range(1, 9), b_max: int = 8,
                 granularity: str = 'per_tensor', repeats: int = 20, warmup: int = 3,
                 kernels: bool = True, progress: Callable[[str], None] | None = None,
                 int4: bool = True) -> ModelBench:
    """
    Measure every (scheme, bit-width) of ``target``; its weights are restored afterwards.

    ``kernels``: also time the lut, int8 and (``int4``) int4 kernels.
    """
    schemes = [check_scheme(s) for s in schemes]
    check_granularity(granularity)
    bits = sorted({require_int_in_range('bit_width', b, 1, b_max) for b in bit_widths})
    module, inputs = target.module, target.inputs
    weights = dict(quantizable_weights(module))
    originals = {k: w.detach().clone() for k, w in weights.items()}

    def latency(m: nn.Module) -> float:
        return 1e3 * measure_latency(target.run, m, inputs, repeats=repeats, warmup=warmup)

    latency(module)  # extra warm-up: the first timed calls of a process run slow
    result = ModelBench(target.name, sum(w.numel() for w in originals.values()),
                        4 * sum(w.numel() for w in originals.values()), latency(module),
                        target.flops, torch.get_num_threads(),
                        _batch_size(inputs))
    try:
        for scheme in schemes:
            lut = None
            if kernels and scheme == 'uniform':
                lut = _lut_copy(module, originals, weights, b_max, granularity)
            nested = NestedQuantizedModel(module, scheme, b_max, granularity)
            for b in bits:
                if progress:
                    progress(f'{target.name} {scheme} b={b}')
                switch = statistics.median(nested.set_bit_width(b) for _ in range(3))
                int8_ms = latency(int8_dynamic(module)) if kernels and b <= 8 else None
                int4_ms, int4_layers = None, 0
                if kernels and int4 and scheme == 'uniform' and b <= 4:
                    int4_module, int4_layers = int4_weight_only(module,
                                                                nested.quantized_tensors(b))
                    int4_ms = latency(int4_module) if int4_layers else None
                packed = nested.packed_bytes(b)
                lut_ms = None
                if lut is not None:
                    lut[1].set_bit_width(b)
                    lut_ms = latency(lut[0])
                result.rows.append(BenchRow(scheme, b, 1e3 * switch, packed,
                                            packed / result.fp32_bytes, latency(module),
                                            int8_ms, int4_ms, int4_layers, lut_ms))
            _restore(weights, originals)
    finally:
        _restore(weights, originals)
    # fp32 reference = mean of the latencies measured before and after the sweep (drift)
    result.fp32_ms = 0.5 * (result.fp32_ms + latency(module))
    return result


def _lut_copy(module, originals, weights, b_max, granularity):
    """``(copy of module on the lookup-table kernels, its runtime)``; None without the library."""
    import copy

    from qcoinf_ros.core.lut.library import load_library
    from qcoinf_ros.core.runtime import build_runtime
    if load_library() is None:
        return None
    _restore(weights, originals)
    clone = copy.deepcopy(module)
    return clone, build_runtime(clone, 'lut', 'uniform', b_max, granularity,
                                threads=torch.get_num_threads())


def _batch_size(inputs) -> int:
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    return int(first.shape[0])


def _restore(weights: dict[str, torch.Tensor], originals: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for k, w in weights.items():
            w.copy_(originals[k])
