"""``qcoinf bench kernels``: arguments and printing; the harness is ``tools.bench.kernels``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import subprocess
import sys

#: Set in the child that --as-isa starts (the ISA it forces), so it does not re-execute.
AS_ISA_MARKER = 'QCOINF_BENCH_AS_ISA'


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
    from qcoinf_ros.tools.bench.kernels import SHAPES
    from qcoinf_ros.tools.cli.args import parse_bit_widths
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
    parser.add_argument('--threads', type=_threads, default=[1],
                        help='kernel and torch threads (default 1); with --envelope a list, '
                             'e.g. 1,2, timed interleaved')
    parser.add_argument('--json', type=Path, help='also write the results as JSON')
    parser.add_argument('--int8', action='store_true',
                        help='time the exact int8 kernels instead: per b against the lookup '
                             'kernels, torch dynamic int8 and fp32, on the ViT-B MLP shapes '
                             '(197x768x3072, 197x3072x768) unless --shapes says otherwise')
    parser.add_argument('--envelope', action='store_true',
                        help='the ViT-B block on both kernels (lookup and exact int8) per b, the '
                             'faster one against fp32 and torch int8, per thread count, and the '
                             "lookup kernels' per-plane cost (against --baseline-library)")
    parser.add_argument('--baseline-library', type=Path, metavar='PATH',
                        help='with --envelope: also time a second build of the kernel library '
                             '(e.g. an older _qlut.so) in the same interleaved rounds and print '
                             'the per-plane slope ratio')
    parser.add_argument('--cpu-time', action='store_true',
                        help='with --envelope at one thread: time CPU time of the calling thread '
                             'instead of wall time (a shared, loaded machine)')
    parser.add_argument('--as-isa', choices=('avx2',),
                        help='re-run the bench in a child process with every contender forced '
                             'to this ISA (the kernel library, fbgemm, MKL, oneDNN, ATen)')
    return parser


def _threads(text: str) -> list[int]:
    try:
        out = sorted({int(v) for v in text.split(',')})
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid thread count "{text}"') from None
    if not out or out[0] < 1:
        raise argparse.ArgumentTypeError(f'thread counts must be >= 1, got "{text}"')
    return out


def as_isa_child(isa: str, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Return the command and environment re-running this bench with everything at ``isa``."""
    from qcoinf_ros.tools.bench.kernels import isa_environment
    env = dict(os.environ)
    env.update(isa_environment(isa))
    env[AS_ISA_MARKER] = isa
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == '--as-isa':
            skip = True
        elif not arg.startswith('--as-isa='):
            rest.append(arg)
    return [sys.executable, '-m', 'qcoinf_ros.tools.cli.bench_kernels', *rest], env


def _isa_header() -> str:
    import torch
    from qcoinf_ros.tools.bench.kernels import ISA_ENVIRONMENT
    isa = os.environ.get(AS_ISA_MARKER)
    if not isa:
        return ''
    seen = ' '.join(f'{key}={os.environ.get(key, "(unset)")}' for key in ISA_ENVIRONMENT[isa])
    return (f'forced ISA {isa} (re-executed by --as-isa): {seen}; torch CPU capability '
            f'{torch.backends.cpu.get_cpu_capability()}')


def _row_cells(result, bits):
    cells = []
    for b in bits:
        t = result.lut_ms[b]
        cells.append(f'{t:.2f} ({t / result.fp32_ms:.2f}x, {t / result.int8_ms:.2f}x)')
    return cells


def _omp_wait_policy() -> str:
    """Return the OpenMP wait policy of torch's workers (the environment's, read at start)."""
    return os.environ.get('OMP_WAIT_POLICY', 'unset')


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.as_isa and os.environ.get(AS_ISA_MARKER) != args.as_isa:
        # torch, fbgemm and the kernel library read their ISA variables when they load: a
        # fresh process is the only honest way to force them
        cmd, env = as_isa_child(args.as_isa, argv)
        return subprocess.call(cmd, env=env)
    if len(args.threads) > 1 and not args.envelope:
        print('qcoinf bench kernels: error: several thread counts need --envelope',
              file=sys.stderr)
        return 2
    if args.cpu_time and (not args.envelope or args.threads != [1]):
        print('qcoinf bench kernels: error: --cpu-time needs --envelope and --threads 1',
              file=sys.stderr)
        return 2
    if args.baseline_library and not args.envelope:
        print('qcoinf bench kernels: error: --baseline-library needs --envelope', file=sys.stderr)
        return 2
    import torch
    from rich.console import Console
    from rich.table import Table

    from qcoinf_ros.core.lut.library import library_status, load_library
    from qcoinf_ros.tools.bench.kernels import bench_block, bench_layer

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
        if args.repeats < 1 or not args.bits or min(args.bits) < 1 or max(args.bits) > 8:
            raise ValueError('threads and repeats must be >= 1, bits in 1..8')
    except ValueError as exc:
        print(f'qcoinf bench kernels: error: {exc}', file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads[0])
    bits = sorted(set(args.bits))
    console = Console(width=None if sys.stdout.isatty() else 200)
    header = _isa_header()
    if header:
        console.print(header)
    console.print(f'kernel library: {library_status()}; variants {", ".join(variants)}; '
                  f'{",".join(map(str, args.threads))} thread(s), median of {args.repeats} '
                  f'interleaved rounds; OMP_WAIT_POLICY={_omp_wait_policy()} (PASSIVE: '
                  "torch's OpenMP workers leave the cores at once, as in the agent)")
    if args.envelope:
        return _main_envelope(args, lib, variants, bits, console)
    args.threads = args.threads[0]
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

    from qcoinf_ros.tools.bench.kernels import bench_int8, INT8_SHAPES, SHAPES
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


def _main_envelope(args, lib, variants, bits, console) -> int:
    from rich.table import Table

    from qcoinf_ros.core.lut.library import KernelLibrary
    from qcoinf_ros.tools.bench.kernels import bench_envelope
    libs = {'new': lib}
    if args.baseline_library:
        try:
            libs['baseline'] = KernelLibrary(args.baseline_library)
        except ValueError as exc:
            print(f'qcoinf bench kernels: error: {exc}', file=sys.stderr)
            return 2
        console.print(f'baseline library: {args.baseline_library}')
    results = []
    for variant in variants:
        env = bench_envelope(libs, variant, bits, args.repeats, args.threads,
                             cpu_time=args.cpu_time)
        results.append(env.to_dict())
        for t in env.threads:
            ms = env.ms[t]
            fp32, tint8 = ms['fp32'], ms['torch_int8']
            clock = 'CPU time' if args.cpu_time else 'wall time'
            table = Table(title=f'{variant}, {t} thread(s), {clock}: ViT-B block (197 tokens); '
                                f'fp32 {fp32:.2f} ms, torch dynamic int8 {tint8:.2f} ms',
                          title_justify='left')
            cols = ['b', 'lut ms', 'int8 ms', 'chosen', 'chosen / fp32', 'chosen / torch int8']
            if 'baseline' in libs:
                cols += ['baseline lut ms', 'baseline int8 ms']
            for col in cols:
                table.add_column(col, justify='right')
            for b in bits:
                kernel, best = env.chosen(t, b)
                row = [str(b), f'{ms[f"new/lut/{b}"]:.2f}', f'{ms[f"new/int8/{b}"]:.2f}',
                       f'{kernel} {best:.2f}', f'{best / fp32:.2f}x', f'{best / tint8:.2f}x']
                if 'baseline' in libs:
                    row += [f'{ms[f"baseline/lut/{b}"]:.2f}', f'{ms[f"baseline/int8/{b}"]:.2f}']
                table.add_row(*row)
            console.print(table)
            for name in libs:
                t0, tp, r2 = env.fits[t][name]
                console.print(f'{variant} {t}T {name} lut fit: t(b) = {t0:.2f} + {tp:.2f} b ms '
                              f'(R^2 {r2:.3f})')
            if 'baseline' in libs:
                ratio = env.fits[t]['new'][1] / env.fits[t]['baseline'][1]
                console.print(f'{variant} {t}T per-plane cost new / baseline = {ratio:.2f}')
            ok = all(env.chosen(t, b)[1] <= min(fp32, tint8) for b in bits)
            console.print(f'{variant} {t}T chosen <= min(fp32, torch int8) at every b: {ok}; '
                          f't({bits[0]}) / fp32 = {env.chosen(t, bits[0])[1] / fp32:.2f}')
        one = env.threads[0]
        for t in env.threads[1:]:
            cells = []
            for b in bits:
                parts = [f'{k} {env.ms[t][f"new/{k}/{b}"] / env.ms[one][f"new/{k}/{b}"]:.2f}'
                         for k in ('lut', 'int8')]
                cells.append(f'b={b}: ' + ', '.join(parts))
            console.print(f'{variant} t({t} threads) / t({one}): ' + '; '.join(cells))
    if args.json:
        args.json.write_text(json.dumps({'envelope': results,
                                         'omp_wait_policy': _omp_wait_policy()}, indent=2))
        console.print(f'wrote {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
