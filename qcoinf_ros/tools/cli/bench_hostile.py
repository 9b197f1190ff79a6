"""
``qcoinf bench hostile``: the real pipeline under hostile traffic, and each node's memory.

The harness, what it measures and when it fails: :mod:`qcoinf_ros.tools.bench.hostile`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from qcoinf_ros.tools.bench.hostile import HostileConfig, PATTERNS, run, verdict
from qcoinf_ros.tools.cli.args import config_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf bench hostile', description=__doc__.split(
        '\n\n')[0])
    parser.add_argument('--phase', type=float, default=HostileConfig.phase,
                        help='seconds per phase (15)')
    parser.add_argument('--camera-rate', type=float, default=HostileConfig.camera_rate,
                        help='camera frames/s (4)')
    parser.add_argument('--flood-rate', type=float, default=HostileConfig.flood_rate,
                        help='foreign valid frames/s during the hostile phase (500)')
    parser.add_argument('--pattern', choices=PATTERNS, default=HostileConfig.pattern,
                        help='what the hostile phase sends (mixed: every hostile kind plus an '
                        'image flood; the others one flood or forged-stamp pattern each)')
    parser.add_argument('--model', default=HostileConfig.model,
                        help='tiny, default, git:DIR or blip2:DIR')
    parser.add_argument('--min-share', type=float, default=HostileConfig.min_share,
                        help='camera captions during the flood, as a share of before (0.5)')
    parser.add_argument('--max-growth-mb', type=float, default=HostileConfig.max_growth_mb,
                        help='largest RSS growth after vs before per node [MB] (64)')
    parser.add_argument('--startup-timeout', type=float, default=HostileConfig.startup_timeout)
    parser.add_argument('--json', default=None, help='also write the results to this file')
    return parser


def report(result: dict, args: HostileConfig, console) -> None:
    from rich.table import Table
    memory = Table(title='resident memory [MB] (VmRSS with children) at the end of each phase')
    for column in ('node', 'before', 'hostile (peak)', 'hostile (end)', 'after',
                   'after - before', 'running'):
        memory.add_column(column, justify='right')
    for n, mb in result['memory_mb'].items():
        memory.add_row(n, f'{mb["before"]:.0f}', f'{mb["hostile_peak"]:.0f}',
                       f'{mb["hostile"]:.0f}', f'{mb["after"]:.0f}',
                       f'{mb["after"] - mb["before"]:+.0f}', str(result['alive'][n]))
    console.print(memory)
    frames = Table(title=f'captions per phase of {args.phase:g} s (camera at '
                   f'{args.camera_rate:g} Hz; flood at {args.flood_rate:g} Hz while hostile)')
    for column in ('phase', 'camera captions', 'flood captions', 'flood frames sent',
                   'hostile batches'):
        frames.add_column(column, justify='right')
    for phase, row in result['phases'].items():
        frames.add_row(phase, *(str(row[k]) for k in ('camera_captions', 'flood_captions',
                                                      'flood_frames_sent', 'hostile_batches')))
    console.print(frames)
    logs = Table(title='log lines per 10 s, per node and phase')
    logs.add_column('node')
    for phase in result['phases']:
        logs.add_column(phase, justify='right')
    for n in result['memory_mb']:
        logs.add_row(n, *(f'{row["log_lines_per_10s"][n]:g}'
                          for row in result['phases'].values()))
    console.print(logs)
    for phase, row in result['phases'].items():
        for name, counts in row['drops'].items():
            console.print(f'dropped during {phase}, {name}: ' + ', '.join(
                f'{c} x{n}' for c, n in sorted(counts.items())))
    bad = verdict(result, args)
    console.print('PASS' if not bad else 'FAIL: ' + '; '.join(bad))


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console()
    try:
        config = config_from_args(HostileConfig, args)
    except ValueError as exc:
        console.print(f'qcoinf bench hostile: {exc}', style='red', markup=False)
        return 2
    try:
        result = run(config, console)
    except RuntimeError as exc:
        console.print(f'qcoinf bench hostile: {exc}', style='red', markup=False)
        return 1
    report(result, config, console)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True))
    return 1 if verdict(result, config) else 0


if __name__ == '__main__':
    sys.exit(main())
