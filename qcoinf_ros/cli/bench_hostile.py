"""
``qcoinf bench hostile``: the real pipeline under hostile traffic, and each node's memory.

The harness, what it measures and when it fails: :mod:`qcoinf_ros.bench.hostile`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from qcoinf_ros.bench.hostile import run, verdict


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf bench hostile', description=__doc__.split(
        '\n\n')[0])
    parser.add_argument('--phase', type=float, default=15.0, help='seconds per phase (15)')
    parser.add_argument('--camera-rate', type=float, default=4.0, help='camera frames/s (4)')
    parser.add_argument('--flood-rate', type=float, default=500.0,
                        help='foreign valid frames/s during the hostile phase (500)')
    parser.add_argument('--model', default='tiny', help='tiny, default, git:DIR or blip2:DIR')
    parser.add_argument('--min-share', type=float, default=0.5,
                        help='camera captions during the flood, as a share of before (0.5)')
    parser.add_argument('--max-growth-mb', type=float, default=64.0,
                        help='largest RSS growth after vs before per node [MB] (64)')
    parser.add_argument('--startup-timeout', type=float, default=120.0)
    parser.add_argument('--json', default=None, help='also write the results to this file')
    return parser


def report(result: dict, args, console) -> None:
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
    bad = verdict(result, args)
    console.print('PASS' if not bad else 'FAIL: ' + '; '.join(bad))


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console()
    if not (args.phase > 0 and args.camera_rate > 0 and args.flood_rate >= 0):
        console.print('qcoinf bench hostile: --phase and --camera-rate must be > 0, '
                      '--flood-rate >= 0', style='red', markup=False)
        return 2
    try:
        result = run(args, console)
    except RuntimeError as exc:
        console.print(f'qcoinf bench hostile: {exc}', style='red', markup=False)
        return 1
    report(result, args, console)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, sort_keys=True))
    return 1 if verdict(result, args) else 0


if __name__ == '__main__':
    sys.exit(main())
