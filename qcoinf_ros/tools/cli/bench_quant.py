"""
``qcoinf bench quant``: switch time, packed bytes and agent latency per bit-width and scheme.

The harness and what each column means: :mod:`qcoinf_ros.tools.bench.quant`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

import torch

from qcoinf_ros.core.quant.config import check_scheme, SCHEMES
from qcoinf_ros.core.validation import require_int_in_range
from qcoinf_ros.tools.bench.quant import (
    bench_target, build_target, DEFAULT_MODELS, ModelBench, MODELS)
from qcoinf_ros.tools.cli.args import parse_bit_widths


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
                   'fake/fp32', 'lut ms', 'lut/fp32', 'int8 ms', 'int8/fp32', 'int4* ms',
                   'int4*/fp32'):
        table.add_column(column, justify='right')
    ref = result.fp32_ms
    for row in result.rows:
        int8_ratio = None if row.int8_ms is None else row.int8_ms / ref
        int4_ratio = None if row.int4_ms is None else row.int4_ms / ref
        lut_ratio = None if row.lut_ms is None else row.lut_ms / ref
        table.add_row(
            row.scheme, str(row.bit_width), f'{row.switch_ms:.2f}',
            f'{row.packed_bytes / 1024:,.1f}', f'{row.bytes_ratio:.4f}',
            f'{row.bit_width / 32:.4f}', f'{row.fake_ms:.3f}', f'{row.fake_ms / ref:.2f}',
            _fmt(row.lut_ms, '.3f'), _fmt(lut_ratio, '.2f'),
            _fmt(row.int8_ms, '.3f'), _fmt(int8_ratio, '.2f'), _fmt(row.int4_ms, '.3f'),
            _fmt(int4_ratio, '.2f'))
    console.print(table)
    console.print("* int4: torch's weight-only int4 kernel (aten._weight_int4pack_mm_for_cpu); "
                  'exact for uniform b <= 4, but slower than fp32 on CPUs without its fast path. '
                  'lut: the bit-plane lookup-table kernels (qcoinf_ros.core.lut), uniform only.')


def main(argv: list[str] | None = None) -> int:
    """Benchmark run-time bit-width switching, packed size and agent latency per bit-width."""
    parser = argparse.ArgumentParser(prog='qcoinf bench quant', description=main.__doc__)
    parser.add_argument('--models', default=','.join(DEFAULT_MODELS),
                        help=f'comma-separated, from {MODELS}, git=DIR, blip2=DIR '
                             f'(default: %(default)s)')
    parser.add_argument('--schemes', default=','.join(SCHEMES), help='default: %(default)s')
    parser.add_argument('--bits', type=parse_bit_widths, default=list(range(1, 9)),
                        help='bit-widths, e.g. 1-8 or 2,4,8 (default: 1-8)')
    parser.add_argument('--b-max', type=int, default=8)
    parser.add_argument('--granularity', default='per_tensor',
                        choices=('per_tensor', 'per_channel'))
    parser.add_argument('--batch', type=int, default=1, help='inputs per agent call')
    parser.add_argument('--repeats', type=int, default=20, help='timed calls per latency')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1: steadier on a shared machine)')
    parser.add_argument('--no-kernels', action='store_true',
                        help='skip the lut/int8/int4 kernels')
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


if __name__ == '__main__':
    sys.exit(main())
