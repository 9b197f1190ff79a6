"""``qcoinf make sample-bag [OUT]``: write the sample bag (camera frames, battery, deadlines)."""

from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import sys

from rich.console import Console
from rich.progress import Progress

from qcoinf_ros.bags.sample import sample_messages, write_sample_bag


def main(argv: list[str] | None = None) -> int:
    """Write the sample bag: camera frames, a draining battery and deadline changes."""
    parser = argparse.ArgumentParser(prog='qcoinf make sample-bag',
                                     description=main.__doc__)
    parser.add_argument('output', nargs='?', default='test/data/sample_bag',
                        help='bag directory to write (default: test/data/sample_bag)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--force', action='store_true',
                        help='replace the output if it is a bag already')
    args = parser.parse_args(argv)
    out = Path(args.output)
    if out.exists():
        if not (args.force and (out / 'metadata.yaml').is_file()):
            parser.error(f'{out} exists (use --force to replace a bag)')
        shutil.rmtree(out)
    console = Console(highlight=False, soft_wrap=True)
    messages = sample_messages()
    with Progress(console=console) as progress:
        task = progress.add_task(f'writing {out}', total=len(messages))
        info = write_sample_bag(out, args.storage,
                                progress=lambda size: progress.advance(task))
    size = sum(p.stat().st_size for p in out.iterdir())
    console.print(f'{out}: {info.message_count} messages over {info.duration_s:.2f} s, '
                  f'{size / 1024:.0f} KiB ({info.storage})')
    for topic in info.topics:
        console.print(f'  {topic.spec.name}: {topic.count} x {topic.spec.msgtype}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
