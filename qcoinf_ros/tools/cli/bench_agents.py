"""
``qcoinf bench agents``: N agents sharing one edge decoder, with and without batching.

The harness and what it measures: :mod:`qcoinf_ros.tools.bench.agents`.
"""

from __future__ import annotations

import argparse
import sys

from qcoinf_ros.tools.bench.agents import run_agents
from qcoinf_ros.tools.cli.args import add_device_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='qcoinf bench agents', description=__doc__.strip()
                                     .splitlines()[0])
    parser.add_argument('--agents', default='1,2,4,8', help='comma-separated N (default 1,2,4,8)')
    parser.add_argument('--duration', type=float, default=5.0, help='seconds measured per N')
    parser.add_argument('--warmup', type=float, default=2.0, help='seconds before measuring')
    parser.add_argument('--max-new-tokens', type=int, default=20)
    parser.add_argument('--model', default='default',
                        help='default, tiny, git:DIR or blip2:DIR (default: default)')
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    try:
        counts = sorted({int(x) for x in args.agents.split(',') if x.strip()})
        if not counts or counts[0] < 1 or counts[-1] > 64:
            raise ValueError
    except ValueError:
        parser.error(f'--agents must list integers in 1..64, got {args.agents!r}')
    from rich.console import Console
    from rich.table import Table

    console = Console()
    results = run_agents(counts, args.duration, args.warmup, max_new_tokens=args.max_new_tokens,
                         progress=lambda r: console.print(
                             f'N={r.agents} max_batch={r.max_batch}: {r.captions} captions'),
                         model=args.model, device=args.device, dtype=args.dtype)
    table = Table(title=f'N agents, one edge decoder ({args.model} on {args.device}, '
                        f'{args.dtype}; closed loop)')
    for col in ('N', 'max_batch', 'captions/s', 'latency p50 [ms]', 'p95 [ms]',
                'queue delay [ms]', 'throughput batched / unbatched'):
        table.add_column(col, justify='right')
    single = {r.agents: r for r in results if r.max_batch == 1}
    for r in sorted(results, key=lambda r: (r.agents, r.max_batch)):
        base = single.get(r.agents)
        ratio = (f'{r.throughput / base.throughput:.2f}' if r.max_batch > 1 and base
                 and base.throughput else '')
        table.add_row(str(r.agents), str(r.max_batch), f'{r.throughput:.2f}',
                      f'{1e3 * r.latency(0.5):.0f}', f'{1e3 * r.latency(0.95):.0f}',
                      f'{1e3 * r.queue_delay_s:.0f}', ratio)
    console.print(table)
    return 0 if all(r.captions for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
