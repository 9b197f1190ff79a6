"""
``qcoinf bench soak``: many frames through camera -> agent encoder -> edge decoder processes.

The harness, what it measures and when it fails: :mod:`qcoinf_ros.tools.bench.soak`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from qcoinf_ros.tools.bench.soak import DEFAULT_MAX_GROWTH, soak, SoakConfig, SoakResult
from qcoinf_ros.tools.cli.args import config_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf bench soak',
                                     description=__doc__.splitlines()[1])
    parser.add_argument('--frames', type=int, default=SoakConfig.frames,
                        help='frames to send (10000)')
    parser.add_argument('--rate', type=float, default=SoakConfig.rate,
                        help='camera rate [Hz]; 0 (default) calibrates and runs at '
                        '--rate-fraction of the measured throughput')
    parser.add_argument('--rate-fraction', type=float, default=SoakConfig.rate_fraction,
                        help='share of the calibrated throughput to run at (0.6)')
    parser.add_argument('--calibrate', type=float, default=SoakConfig.calibrate,
                        help='length of the calibration flood [s] (20)')
    parser.add_argument('--calibrate-rate', type=float, default=SoakConfig.calibrate_rate,
                        help='camera rate of the calibration flood [Hz] (100)')
    parser.add_argument('--model', default=SoakConfig.model, help='default, git:DIR or blip2:DIR')
    parser.add_argument('--max-new-tokens', type=int, default=SoakConfig.max_new_tokens)
    parser.add_argument('--scenes', type=int, default=SoakConfig.scenes,
                        help='distinct scene frames the camera cycles through (100)')
    parser.add_argument('--max-rss-growth', type=float, default=SoakConfig.max_rss_growth,
                        help='largest end/baseline RssAnon ratio per process '
                        f'({DEFAULT_MAX_GROWTH})')
    parser.add_argument('--baseline-fraction', type=float, default=SoakConfig.baseline_fraction,
                        help='share of the frames captioned before the RSS baseline (0.1)')
    parser.add_argument('--rss-period', type=float, default=SoakConfig.rss_period,
                        help='RSS sampling period [s] (1.0)')
    parser.add_argument('--drain', type=float, default=SoakConfig.drain,
                        help='longest wait for the last captions after the camera ends [s]')
    parser.add_argument('--startup-timeout', type=float, default=SoakConfig.startup_timeout,
                        help='longest wait for the nodes to start [s]')
    parser.add_argument('--json', default=None, help='also write the results to this file')
    return parser


def report(result: SoakResult, console) -> None:
    """Print the tables of a soak."""
    from rich.table import Table

    frames = Table(title=f'soak: {result.frames_sent} frames at {result.rate_hz:g} Hz '
                   f'({result.rate_source}), {result.duration_s:.0f} s')
    frames.add_column('frames')
    frames.add_column('count', justify='right')
    frames.add_column('per frame [ms]')
    frames.add_column('p50 / p95 / p99 / max', justify='right')

    def ms(stats: dict) -> str:
        return ' / '.join(f'{1e3 * stats[k]:.1f}' for k in ('p50', 'p95', 'p99', 'max'))

    frames.add_row('sent (camera)', str(result.frames_sent), '', '')
    frames.add_row('encoded (agent)', str(result.frames_encoded), 'encode', ms(result.encode_s))
    frames.add_row('captioned (decoder)', str(result.frames_captioned), 'decode',
                   ms(result.decode_s))
    frames.add_row('dropped', str(result.dropped), 'camera -> caption', ms(result.latency_s))
    console.print(frames)
    if result.drop_bursts:
        console.print(f'drops between captioned frames: {sum(result.drop_bursts)} in '
                      f'{len(result.drop_bursts)} runs, the longest {max(result.drop_bursts)} '
                      'frames')
    if result.agent_drops:
        console.print('dropped by the agent, by class: ' + ', '.join(
            f'{cls} {n}' for cls, n in sorted(result.agent_drops.items())))
    elif result.frames_encoded < result.frames_sent:
        console.print('the agent dropped none of the frames it received: '
                      f'{result.frames_sent - result.frames_encoded} never reached it')
    memory = Table(title='memory [MB]: VmRSS and RssAnon (anonymous, where a leak shows); '
                   f'bound: RssAnon end/baseline <= {result.max_rss_growth:g}')
    memory.add_column('')
    for r in result.rss:
        memory.add_column(r['name'], justify='right')
    rows = (('samples', 'samples', '{:d}'), ('RSS start', 'first_mb', '{:.1f}'),
            ('RSS baseline', 'baseline_mb', '{:.1f}'), ('RSS end', 'end_mb', '{:.1f}'),
            ('RSS peak', 'peak_mb', '{:.1f}'), ('RSS growth', 'rss_growth', '{:.3f}'),
            ('anon baseline', 'anon_baseline_mb', '{:.1f}'), ('anon end', 'anon_end_mb', '{:.1f}'),
            ('anon peak', 'anon_peak_mb', '{:.1f}'), ('anon growth', 'growth', '{:.3f}'),
            ('anon per 1000 frames', 'anon_mb_per_1000_frames', '{:+.2f}'))
    for label, key, fmt in rows:
        memory.add_row(label, *(fmt.format(r[key]) for r in result.rss))
    console.print(memory)
    verdict = []
    verdict.append('no frame dropped' if result.dropped == 0 else
                   f'{result.dropped} frames dropped at {result.rate_hz:g} Hz')
    verdict.append('memory within the bound' if result.memory_ok else
                   'memory grew beyond the bound')
    console.print(('PASS: ' if result.ok else 'FAIL: ') + ', '.join(verdict))


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console()
    try:
        config = config_from_args(SoakConfig, args)
    except ValueError as exc:
        console.print(f'qcoinf bench soak: {exc}', style='red', markup=False)
        return 2
    try:
        result = soak(config, console)
    except RuntimeError as exc:
        console.print(f'qcoinf bench soak: {exc}', style='red', markup=False)
        return 1
    report(result, console)
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    return 0 if result.ok else 1


if __name__ == '__main__':
    sys.exit(main())
