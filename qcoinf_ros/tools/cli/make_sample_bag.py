"""``qcoinf make sample-bag [OUT]``: write the sample bag (camera frames, battery, deadlines)."""

from __future__ import annotations

import argparse
from pathlib import Path
import shutil
import sys

from rich.console import Console
from rich.progress import Progress

from qcoinf_ros.core.bags.sample import (
    CAMERA, CAMERA_FORMATS, sample_messages, SampleScenario, write_sample_bag)


def main(argv: list[str] | None = None) -> int:
    """Write the sample bag: camera frames, a draining battery and deadline changes."""
    parser = argparse.ArgumentParser(prog='qcoinf make sample-bag',
                                     description=main.__doc__)
    parser.add_argument('output', nargs='?', default='test/data/sample_bag',
                        help='bag directory to write (default: test/data/sample_bag)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--force', action='store_true',
                        help='replace the output if it is a bag already')
    parser.add_argument('--camera-format', choices=CAMERA_FORMATS, default='rgb8',
                        help='frames as a camera driver sends them: rgb8 (default), a raw '
                        'driver encoding (yuv422_yuy2, bayer_rggb8, ...) or jpeg/png '
                        'CompressedImage on <camera topic>/compressed')
    parser.add_argument('--camera-topic', default=CAMERA,
                        help=f'image topic of the camera (default {CAMERA}), e.g. '
                        '/usb_cam/image_raw')
    parser.add_argument('--edge', choices=('typed', 'legacy'), default=None,
                        help="write an edge server's inputs instead (the agent's embeddings, "
                        'model and cost): typed (qcoinf_ros messages) or legacy (the '
                        'String/CompressedImage types before 0.2, converted on replay)')
    args = parser.parse_args(argv)
    if args.edge is not None:
        return _edge(args, parser)
    try:
        scenario = SampleScenario(camera_format=args.camera_format,
                                  camera_base=args.camera_topic)
    except ValueError as exc:
        parser.error(str(exc))
    out = Path(args.output)
    if out.exists():
        if not (args.force and (out / 'metadata.yaml').is_file()):
            parser.error(f'{out} exists (use --force to replace a bag)')
        shutil.rmtree(out)
    console = Console(highlight=False, soft_wrap=True)
    messages = sample_messages(scenario)
    with Progress(console=console) as progress:
        task = progress.add_task(f'writing {out}', total=len(messages))
        info = write_sample_bag(out, args.storage, scenario,
                                progress=lambda size: progress.advance(task))
    size = sum(p.stat().st_size for p in out.iterdir())
    console.print(f'{out}: {info.message_count} messages over {info.duration_s:.2f} s, '
                  f'{size / 1024:.0f} KiB ({info.storage})')
    for topic in info.topics:
        console.print(f'  {topic.spec.name}: {topic.count} x {topic.spec.msgtype}')
    return 0


def _edge(args, parser) -> int:
    from qcoinf_ros.core.bags.sample import write_edge_bag
    out = Path(args.output)
    if out.exists():
        if not (args.force and (out / 'metadata.yaml').is_file()):
            parser.error(f'{out} exists (use --force to replace a bag)')
        shutil.rmtree(out)
    info = write_edge_bag(out, legacy=args.edge == 'legacy', storage=args.storage)
    console = Console(highlight=False, soft_wrap=True)
    console.print(f'{out}: {info.message_count} messages over {info.duration_s:.2f} s')
    for topic in info.topics:
        console.print(f'  {topic.spec.name}: {topic.count} x {topic.spec.msgtype}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
