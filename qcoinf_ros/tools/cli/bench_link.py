"""
``qcoinf bench link``: agent and edge server on two "hosts" joined by a shaped link.

The harness and what it measures: :mod:`qcoinf_ros.tools.bench.link`. Needs root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from qcoinf_ros.tools.bench.link import link_plans, run_two_hosts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='qcoinf bench link', description=__doc__.strip()
                                     .splitlines()[0])
    parser.add_argument('--rate-mbit', type=float, default=20.0, help='link rate [Mbit/s]')
    parser.add_argument('--delay-ms', type=float, default=10.0,
                        help='one-way delay [ms] (needs netem; left out without it)')
    parser.add_argument('--loss', type=float, default=0.01,
                        help='packet loss [0, 1) (needs netem; left out without it)')
    parser.add_argument('--frames', type=int, default=20, help='frames measured')
    parser.add_argument('--camera-hz', type=float, default=2.0)
    parser.add_argument('--timeout', type=float, default=120.0, help='longest wait [s]')
    parser.add_argument('--echo', action='store_true', help="print the nodes' output")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from qcoinf_ros.tools.bench.netns import netns_unavailable

    reason = netns_unavailable()
    if reason:
        print(f'qcoinf bench link: cannot run here: {reason}', file=sys.stderr)
        return 2
    start = time.monotonic()
    run = run_two_hosts(args.rate_mbit * 1e6, args.delay_ms / 1e3, args.loss, args.frames,
                        camera_hz=args.camera_hz, timeout=args.timeout, echo=args.echo)
    if delay_left_out := 'left out' in run.shaping:
        run.delay_s = 0.0
    console = Console()
    console.print(f'link: {run.shaping}')
    if len(run.frames) < args.frames:
        console.print(f'[red]only {len(run.frames)} of {args.frames} frames arrived[/red]')
        print(run.output)
        return 1
    comm = sorted(run.comm_s)
    model = run.model_comm_s
    table = Table(title=f'communication time per frame over the link ({len(comm)} frames)')
    for col in ('payload [bytes]', 'model 8B/R [ms]', 'measured p50 [ms]', 'p95 [ms]',
                'measured / model'):
        table.add_column(col, justify='right')
    p50 = statistics.median(comm)
    table.add_row(f'{run.payload_bytes:.0f}', f'{1e3 * model:.1f}', f'{1e3 * p50:.1f}',
                  f'{1e3 * comm[int(0.95 * (len(comm) - 1))]:.1f}', f'{p50 / model:.3f}')
    console.print(table)
    console.print(f'captions: {len(run.captions)}, e.g. {run.captions[-1]!r}'
                  + (' (delay/loss not emulated: netem missing)' if delay_left_out else ''))
    rate = 8.0 * run.payload_bytes / p50
    t0, without, with_term = link_plans(run.payload_bytes, rate)
    plans = Table(title=f'(P1), paper preset (git), B_max 8, T0 = {t0:.4f} s, E0 = inf; '
                  f'measured rate {rate / 1e6:.2f} Mbit/s')
    for col in ('model', 'b', 'f [GHz]', 'f~ [GHz]', 'predicted T [s]', 'feasible'):
        plans.add_column(col, justify='right')
    for name, plan in (('eq. (8) alone (paper)', without), ('eq. (8) + t_comm', with_term)):
        point = plan.point if plan.feasible else plan.fallback
        plans.add_row(name, str(point.bit_width), f'{point.f / 1e9:.3f}',
                      f'{point.f_server / 1e9:.3f}', f'{point.delay:.4f}', str(plan.feasible))
    console.print(plans)
    console.print(f'done in {time.monotonic() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
