"""
``qcoinf bench quant``: switch time, packed bytes and agent latency per bit-width and scheme.

For each model and scheme the agent part is quantized once at ``B_max`` (nested codes), then for
each bit-width ``b`` the command measures: the run-time switch (:meth:`set_bit_width`), the
bit-packed weight bytes against float32 (ideal ``b / 32``), and the agent latency on CPU with
fake-quantized fp32 weights and with the real integer kernels torch has on CPU (int8 dynamic for
``b <= 8``, int4 weight-only for uniform ``b <= 4``), each as a ratio to the fp32 latency, to
set beside the ``b / 32`` the workload model of eq. (4) assumes.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
import json
from pathlib import Path
import statistics
import sys
from typing import Any, Callable

import torch
from torch import nn

from qcoinf_ros.models.base import count_flops, PartFlops
from qcoinf_ros.quant.config import check_granularity, check_scheme, SCHEMES
from qcoinf_ros.quant.kernels import int4_weight_only, int8_dynamic, measure_latency
from qcoinf_ros.quant.nested import NestedQuantizedModel
from qcoinf_ros.quant.quantizers import quantizable_weights
from qcoinf_ros.validation import require_int_in_range

__all__ = ['BenchTarget', 'BenchRow', 'ModelBench', 'build_target', 'bench_target',
           'MODELS', 'main']

MODELS = ('fcdnn', 'git-tiny', 'blip2-tiny', 'minilm')
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
    """Build one of :data:`MODELS`, or ``git=DIR`` / ``blip2=DIR`` for a local checkpoint."""
    batch = require_int_in_range('batch', batch, 1)
    family, _, path = name.partition('=')
    if family == 'fcdnn' and not path:
        from qcoinf_ros.models.fcdnn import digits_split, FcdnnSplit
        split = FcdnnSplit()
        inputs = digits_split()[1][:batch]
    elif family in ('git-tiny', 'blip2-tiny') and not path:
        from qcoinf_ros.models import tiny
        if family == 'git-tiny':
            from qcoinf_ros.models.git import GitSplit
            split = GitSplit.from_model(tiny.tiny_git(width=128, layers=4, image_size=64,
                                                      patch_size=16), model_id=family)
        else:
            from qcoinf_ros.models.blip2 import Blip2Split
            split = Blip2Split.from_model(tiny.tiny_blip2(width=128, layers=4, image_size=64,
                                                          patch_size=16), model_id=family)
        inputs = split.example_inputs(batch)
    elif family in ('git', 'blip2') and path:
        from qcoinf_ros.models.blip2 import Blip2Split
        from qcoinf_ros.models.git import GitSplit
        split = (GitSplit if family == 'git' else Blip2Split).from_pretrained(path)
        inputs = split.example_inputs(batch)
    elif family == 'minilm':
        from qcoinf_ros.models.minilm import MiniLM, SENTENCES
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
                 kernels: bool = True, progress: Callable[[str], None] | None = None
                 ) -> ModelBench:
    """Measure every (scheme, bit-width) of ``target``; its weights are restored afterwards."""
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
            nested = NestedQuantizedModel(module, scheme, b_max, granularity)
            for b in bits:
                if progress:
                    progress(f'{target.name} {scheme} b={b}')
                switch = statistics.median(nested.set_bit_width(b) for _ in range(3))
                int8_ms = latency(int8_dynamic(module)) if kernels and b <= 8 else None
                int4_ms, int4_layers = None, 0
                if kernels and scheme == 'uniform' and b <= 4:
                    int4_module, int4_layers = int4_weight_only(module,
                                                                nested.quantized_tensors(b))
                    int4_ms = latency(int4_module) if int4_layers else None
                packed = nested.packed_bytes(b)
                result.rows.append(BenchRow(scheme, b, 1e3 * switch, packed,
                                            packed / result.fp32_bytes, latency(module),
                                            int8_ms, int4_ms, int4_layers))
            _restore(weights, originals)
    finally:
        _restore(weights, originals)
    # fp32 reference = mean of the latencies measured before and after the sweep (drift)
    result.fp32_ms = 0.5 * (result.fp32_ms + latency(module))
    return result


def _batch_size(inputs) -> int:
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    return int(first.shape[0])


def _restore(weights: dict[str, torch.Tensor], originals: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for k, w in weights.items():
            w.copy_(originals[k])


def _fmt(value: float | None, spec: str) -> str:
    return '-' if value is None else format(value, spec)


def render(result: ModelBench, console=None) -> None:
    """Print one model's table (rich; plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    title = (f'{result.model}: {result.num_quantized:,} quantized weights, fp32 agent '
             f'{result.fp32_ms:.3f} ms (batch {result.batch}, {result.threads} thread(s)); '
             f'FLOPs agent {result.flops.agent:,}, server {result.flops.server:,}')
    table = Table(title=title, title_justify='left')
    for column in ('scheme', 'b', 'switch ms', 'packed KiB', 'bytes/fp32', 'b/32', 'fake ms',
                   'fake/fp32', 'int8 ms', 'int8/fp32', 'int4 ms', 'int4/fp32'):
        table.add_column(column, justify='right')
    ref = result.fp32_ms
    for row in result.rows:
        int8_ratio = None if row.int8_ms is None else row.int8_ms / ref
        int4_ratio = None if row.int4_ms is None else row.int4_ms / ref
        table.add_row(
            row.scheme, str(row.bit_width), f'{row.switch_ms:.2f}',
            f'{row.packed_bytes / 1024:,.1f}', f'{row.bytes_ratio:.4f}',
            f'{row.bit_width / 32:.4f}', f'{row.fake_ms:.3f}', f'{row.fake_ms / ref:.2f}',
            _fmt(row.int8_ms, '.3f'), _fmt(int8_ratio, '.2f'), _fmt(row.int4_ms, '.3f'),
            _fmt(int4_ratio, '.2f'))
    console.print(table)


def _bit_list(text: str) -> list[int]:
    out = []
    for part in text.split(','):
        low, _, high = part.partition('-')
        try:
            out.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            raise argparse.ArgumentTypeError(f'invalid bit-width list: "{text}"') from None
    return out


def main(argv: list[str] | None = None) -> int:
    """Benchmark run-time bit-width switching, packed size and agent latency per bit-width."""
    parser = argparse.ArgumentParser(prog='qcoinf bench quant', description=main.__doc__)
    parser.add_argument('--models', default=','.join(DEFAULT_MODELS),
                        help=f'comma-separated, from {MODELS}, git=DIR, blip2=DIR '
                             f'(default: %(default)s)')
    parser.add_argument('--schemes', default=','.join(SCHEMES), help='default: %(default)s')
    parser.add_argument('--bits', type=_bit_list, default=list(range(1, 9)),
                        help='bit-widths, e.g. 1-8 or 2,4,8 (default: 1-8)')
    parser.add_argument('--b-max', type=int, default=8)
    parser.add_argument('--granularity', default='per_tensor',
                        choices=('per_tensor', 'per_channel'))
    parser.add_argument('--batch', type=int, default=1, help='inputs per agent call')
    parser.add_argument('--repeats', type=int, default=20, help='timed calls per latency')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1: steadier on a shared machine)')
    parser.add_argument('--no-kernels', action='store_true', help='skip the int8/int4 kernels')
    parser.add_argument('--json', type=Path, help='also write the results as JSON')
    args = parser.parse_args(argv)
    try:
        schemes = [check_scheme(s) for s in args.schemes.split(',')]
        torch.set_num_threads(require_int_in_range('threads', args.threads, 1))
        results = []
        for name in args.models.split(','):
            target = build_target(name, args.batch)
            results.append(bench_target(target, schemes, args.bits, args.b_max,
                                        args.granularity, args.repeats,
                                        kernels=not args.no_kernels, progress=_progress))
            render(results[-1])
    except ValueError as exc:
        print(f'qcoinf bench quant: error: {exc}', file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    return 0


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        print(f'\r{message:<40}', end='', file=sys.stderr, flush=True)
