"""``qcoinf bench encode``: arguments and printing; the harness is ``tools.bench.encode``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys


def build_parser() -> argparse.ArgumentParser:
    from qcoinf_ros.tools.cli.args import parse_bit_widths
    parser = argparse.ArgumentParser(
        prog='qcoinf bench encode',
        description="The agent's encode time per kernel and bit-width through "
                    'agent_encoder_node (fp32 = the reference kernel), beside its own '
                    'calibrated prediction.')
    parser.add_argument('--model', default='default',
                        help='default, tiny, git:DIR or blip2:DIR; a GIT-base-shaped one: '
                             'qcoinf make random-git DIR (default: default)')
    parser.add_argument('--kernels', default='auto,int8,reference',
                        help='comma-separated: auto (each b on the faster of lut and qint8, '
                             'as the node chose), lut, qint8, int8 (torch), reference (fp32) '
                             '(default: auto,int8,reference)')
    parser.add_argument('--bits', type=parse_bit_widths, default=[2, 4, 8],
                        help='bit-widths, e.g. 2,4,8 or 1-8 (default: 2,4,8)')
    parser.add_argument('--frames', type=int, default=10, help='timed frames per bit-width')
    parser.add_argument('--size', type=int, default=224, help='frame side in pixels')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--pause', type=float, default=0.05,
                        help='seconds between an embedding and the next frame, as between camera '
                             'frames (default 0.05, the calibration pause of the node; 0: '
                             'back-to-back, hot caches)')
    parser.add_argument('--timeout', type=float, default=600.0)
    parser.add_argument('--json', type=Path, help='also write the results as JSON')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from qcoinf_ros.tools.bench.encode import encode_through_node
    try:
        bits = args.bits
        kernels = args.kernels.split(',')
        results = [encode_through_node(args.model, kernel, bits, args.frames, args.size,
                                       args.threads, args.timeout, pause=args.pause)
                   for kernel in kernels]
    except (ValueError, RuntimeError) as exc:
        print(f'qcoinf bench encode: error: {exc}', file=sys.stderr)
        return 2
    by_kernel = {r.kernel: r for r in results}
    print(f'{args.model}: encode time through agent_encoder_node, {args.size}x{args.size} '
          f'frames, {args.threads} thread(s), median of {args.frames} frames per bit-width, '
          f'{args.pause:g} s between frames')
    print(f'{"kernel":>17} {"b":>3} {"runs on":>8} {"encode ms":>10} {"predicted ms":>13} '
          f'{"error":>7} {"vs fp32":>8} {"vs int8":>8}')
    for r in results:
        for b in bits:
            ms = r.median_ms(b)
            fp32 = by_kernel['reference'].median_ms(b) if 'reference' in by_kernel else None
            int8 = by_kernel['int8'].median_ms(b) if 'int8' in by_kernel else None
            pred = f'{1e3 * r.predicted[b]:.1f}' if b in r.predicted else '-'
            error = f'{1e3 * r.predicted[b] / ms - 1:+.0%}' if b in r.predicted else '-'
            print(f'{r.kernel + "/" + r.isa:>17} {b:>3} {r.routes.get(b, r.kernel):>8} '
                  f'{ms:>10.1f} {pred:>13} {error:>7} '
                  f'{(f"{ms / fp32:.2f}x" if fp32 else "-"):>8} '
                  f'{(f"{ms / int8:.2f}x" if int8 else "-"):>8}')
    top = max(bits)
    for r in results:
        if len(bits) > 1:
            ratios = ', '.join(f'b={b} {r.median_ms(b) / r.median_ms(top):.2f}'
                               for b in bits if b != top)
            print(f'{r.kernel}: t(b) / t({top}) measured: {ratios}')
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
