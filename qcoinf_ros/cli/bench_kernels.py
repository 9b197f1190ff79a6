"""``qcoinf bench kernels``: arguments and printing; the harness is qcoinf_ros.bench.kernels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys


def _shapes(text: str) -> list[tuple[int, int, int]]:
    out = []
    for part in text.split(','):
        try:
            m, k, n = (int(v) for v in part.lower().split('x'))
        except ValueError:
            raise argparse.ArgumentTypeError(f'invalid shape "{part}" (expected MxKxN)') from None
        out.append((m, k, n))
    return out


def build_parser() -> argparse.ArgumentParser:
    from qcoinf_ros.bench.kernels import SHAPES
    from qcoinf_ros.cli.args import parse_bit_widths
    parser = argparse.ArgumentParser(
        prog='qcoinf bench kernels',
        description='Bit-plane kernels vs fp32 and dynamic int8: latency per bit-width, the '
                    'affine fit and its R^2, error vs the dequantized reference, switch time.')
    parser.add_argument('--variants', default='simd',
                        help='ISA variants to run: simd (default: every SIMD variant this CPU '
                             'runs, else scalar), all (scalar too: slow), or a list, e.g. '
                             'avx2,scalar')
    parser.add_argument('--bits', type=parse_bit_widths, default=list(range(1, 9)),
                        help='bit-widths, e.g. 1-8 or 2,4,8 (default 1-8)')
    parser.add_argument('--shapes', type=_shapes,
                        default=list(SHAPES), help='layers MxKxN, comma-separated (default: '
                        + ','.join('x'.join(map(str, s)) for s in SHAPES) + ')')
    parser.add_argument('--no-block', action='store_true', help='skip the ViT-B block')
    parser.add_argument('--repeats', type=int, default=10, help='timed rounds (default 10)')
    parser.add_argument('--threads', type=int, default=1,
                        help='kernel and torch threads (default 1)')
    parser.add_argument('--json', type=Path, help='also write the results as JSON')
    parser.add_argument('--int8', action='store_true',
                        help='time the exact int8 kernels instead: per b against the lookup '
                             'kernels, torch dynamic int8 and fp32, on the ViT-B MLP shapes '
                             '(197x768x3072, 197x3072x768) unless --shapes says otherwise')
    return parser


def _row_cells(result, bits):
    cells = []
    for b in bits:
        t = result.lut_ms[b]
        cells.append(f'{t:.2f} ({t / result.fp32_ms:.2f}x, {t / result.int8_ms:.2f}x)')
    return cells


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    from rich.console import Console
    from rich.table import Table

    from qcoinf_ros.bench.kernels import bench_block, bench_layer
    from qcoinf_ros.lut.library import library_status, load_library

    lib = load_library()
    if lib is None:
        print(f'qcoinf bench kernels: no kernel library: {library_status()}', file=sys.stderr)
        return 2
    simd = [v for v in lib.supported if v != 'scalar'] or ['scalar']
    variants = {'all': lib.supported, 'simd': simd}.get(args.variants,
                                                        args.variants.split(','))
    try:
        for v in variants:
            lib.variant_id(v)
        if args.threads < 1 or args.repeats < 1 or not args.bits or min(args.bits) < 1 \
                or max(args.bits) > 8:
            raise ValueError('threads and repeats must be >= 1, bits in 1..8')
    except ValueError as exc:
        print(f'qcoinf bench kernels: error: {exc}', file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    bits = sorted(set(args.bits))
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(f'kernel library: {library_status()}; variants {", ".join(variants)}; '
                  f'{args.threads} thread(s), median of {args.repeats} interleaved rounds')
    if args.int8:
        return _main_int8(args, lib, variants, bits, console)
    console.print('cells: ms (ratio to fp32, ratio to dynamic int8)')
    results = {'layers': [], 'block': []}
    for variant in variants:
        table = Table(title=f'{variant}: single layers', title_justify='left')
        for col in ('M x K -> N', 'fp32 ms', 'int8 ms', *(f'b={b}' for b in bits),
                    't(b) = t0 + b tp [ms]', 'R^2', 'err b=1 / b=8'):
            table.add_column(col, justify='right')
        for m, k, n in args.shapes:
            r = bench_layer(lib, variant, m, k, n, bits, args.repeats, args.threads)
            results['layers'].append(r.to_dict())
            table.add_row(f'{m}x{k}->{n}', f'{r.fp32_ms:.2f}', f'{r.int8_ms:.2f}',
                          *_row_cells(r, bits), f'{r.t_fixed_ms:.3f} + {r.t_plane_ms:.3f} b',
                          f'{r.r2:.3f}', f'{r.rel_error[bits[0]]:.2%} / '
                          f'{r.rel_error[bits[-1]]:.2%}')
        console.print(table)
        if args.no_block:
            continue
        r = bench_block(lib, variant, bits, args.repeats, args.threads)
        results['block'].append(r.to_dict())
        table = Table(title=f'{variant}: ViT-B/16 encoder block (197 tokens, transformers '
                            f'GitVisionEncoderLayer; Linear layers on the kernels)',
                      title_justify='left')
        for col in ('fp32 ms', 'int8 ms', *(f'b={b}' for b in bits), 't(b) = t0 + b tp [ms]',
                    'R^2', 'err b=1 / b=8', 'switch us: lut / reference / int8'):
            table.add_column(col, justify='right')
        table.add_row(f'{r.fp32_ms:.2f}', f'{r.int8_ms:.2f}', *_row_cells(r, bits),
                      f'{r.t_fixed_ms:.2f} + {r.t_plane_ms:.2f} b', f'{r.r2:.3f}',
                      f'{r.rel_error[bits[0]]:.2%} / {r.rel_error[bits[-1]]:.2%}',
                      f'{r.switch_us["lut"]:.1f} / {r.switch_us["reference"]:.0f} / '
                      f'{r.switch_us["int8"]:.0f}')
        console.print(table)
        faster = [b for b in bits if r.lut_ms[b] < r.int8_ms]
        console.print(
            f'{variant} block: t(1)/fp32 = {r.lut_ms[bits[0]] / r.fp32_ms:.2f}, '
            f't({bits[-1]})/fp32 = {r.lut_ms[bits[-1]] / r.fp32_ms:.2f}; faster than dynamic '
            f'int8 at b in {faster or "none"}; per-plane cost {r.t_plane_ms:.2f} ms = '
            f'{r.t_plane_ms / r.int8_ms:.2f} of the int8 block')
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _main_int8(args, lib, variants, bits, console) -> int:
    from rich.table import Table

    from qcoinf_ros.bench.kernels import bench_int8, INT8_SHAPES, SHAPES
    shapes = INT8_SHAPES if list(args.shapes) == list(SHAPES) else args.shapes
    console.print('cells: int8 kernel ms (ratio to the lookup kernel at that b, ratio to torch '
                  'dynamic int8); below 1 is faster')
    results = []
    for variant in variants:
        table = Table(title=f'{variant}: exact int8 kernels (qlut_int8)', title_justify='left')
        for col in ('M x K -> N', 'fp32 ms', 'torch int8 ms', *(f'b={b}' for b in bits),
                    'int8 / fp32', 'err b=1 / b=8'):
            table.add_column(col, justify='right')
        for m, k, n in shapes:
            r = bench_int8(lib, variant, m, k, n, bits, args.repeats, args.threads)
            results.append(r.to_dict())
            cells = [f'{r.int8_ms[b]:.2f} ({r.int8_ms[b] / r.lut_ms[b]:.2f}x, '
                     f'{r.int8_ms[b] / r.torch_int8_ms:.2f}x)' for b in bits]
            table.add_row(f'{m}x{k}->{n}', f'{r.fp32_ms:.2f}', f'{r.torch_int8_ms:.2f}', *cells,
                          f'{min(r.int8_ms.values()) / r.fp32_ms:.2f}-'
                          f'{max(r.int8_ms.values()) / r.fp32_ms:.2f}',
                          f'{r.rel_error[bits[0]]:.2%} / {r.rel_error[bits[-1]]:.2%}')
        console.print(table)
    if args.json:
        args.json.write_text(json.dumps({'int8': results}, indent=2))
        console.print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
