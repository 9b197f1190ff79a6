"""
``qcoinf bench pipeline``: end-to-end latency through ROS 2 vs the same split model in-process.

The harness and what it measures: :mod:`qcoinf_ros.tools.bench.pipeline`.
"""

from __future__ import annotations

import argparse
import statistics
import sys

from qcoinf_ros.core.stats import percentile
from qcoinf_ros.tools.bench.encode import frames as bench_frames
from qcoinf_ros.tools.bench.pipeline import embedding_sizes, in_process, through_ros
from qcoinf_ros.tools.cli.args import add_device_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf bench pipeline',
                                     description=__doc__.splitlines()[1])
    parser.add_argument('--model', default='default',
                        help='default, git:DIR or blip2:DIR (default: default)')
    parser.add_argument('--frames', type=int, default=30, help='frames per side (default 30)')
    parser.add_argument('--warmup', type=int, default=3, help='frames not timed (default 3)')
    parser.add_argument('--size', type=int, default=96,
                        help='side of the scene frames in pixels (default 96)')
    parser.add_argument('--max-new-tokens', type=int, default=20)
    parser.add_argument('--timeout', type=float, default=60.0,
                        help='longest wait for one caption [s]')
    add_device_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    torch.set_num_threads(1)
    frames = bench_frames(args.frames + args.warmup, args.size)
    local = in_process(args.model, frames, args.warmup, args.max_new_tokens, args.device,
                       args.dtype)
    parts = through_ros(args.model, frames, args.warmup, args.max_new_tokens, args.timeout,
                        args.device, args.dtype)
    ros = [e2e for e2e, _, _ in parts]
    # what the nodes spent computing, and the rest: DDS hops, executors, message conversion
    compute = [agent + server for _, agent, server in parts]
    overhead = [e2e - c for e2e, c in zip(ros, compute)]
    med_local, med_ros = statistics.median(local), statistics.median(ros)
    ratio = med_ros / med_local
    print(f'model {args.model} on {args.device} ({args.dtype} server part), {len(local)} timed '
          'frames per side, frames '
          f'{frames[0].shape[1]}x{frames[0].shape[0]}')
    print(f'in-process median {1e3 * med_local:.1f} ms (p90 '
          f'{1e3 * percentile(local, 90):.1f} ms)')
    print(f'through ROS 2 (2 processes, DDS) median {1e3 * med_ros:.1f} ms (p90 '
          f'{1e3 * percentile(ros, 90):.1f} ms)')
    print(f'  of which in the nodes computing: median {1e3 * statistics.median(compute):.1f} ms; '
          f'the rest (3 DDS hops, executors, conversions): median '
          f'{1e3 * statistics.median(overhead):.1f} ms')
    print(f'ratio ROS / in-process: {ratio:.3f} (target <= 1.10: '
          f'{"met" if ratio <= 1.10 else "missed"})')
    shape, sizes = embedding_sizes(args.model, frames[0])
    raw = frames[0].nbytes
    print(f'raw rgb8 frame: {raw} bytes; embedding {shape}:')
    for codec, size in sizes.items():
        print(f'  {codec:>5}: {size:>8} bytes per frame ({size / raw:.2f} x raw)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
