"""
``qcoinf bench pipeline``: end-to-end latency through ROS 2 vs the same split model in-process.

In-process: preprocess, agent encode, embedding codec round trip, server decode — the same work
the nodes do, in one Python process. Through ROS: the agent encoder and edge decoder as separate
processes over DDS (the loopback profile); this process publishes a frame, waits for its caption
(closed loop, so no queueing) and takes the latency the decoder reports from the camera stamp.
Prints the medians, their ratio (target <= 1.10) and the embedding bytes per frame for each
codec against the raw image. Both sides use one torch thread per process.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import numpy as np

from qcoinf_ros.codec import COMPRESSIONS, decode_embedding, EmbeddingMeta, encode_embedding


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
    return parser


def _frames(n: int, size: int) -> list[np.ndarray]:
    try:
        from qcoinf_ros.scenes.generator import iter_scenes, SceneConfig
    except ImportError:  # pragma: no cover - the scenes ship with the package
        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (size, size, 3), np.uint8) for _ in range(n)]
    return [image for image, _, _ in iter_scenes('test', n, SceneConfig(image_size=size))]


def in_process(model: str, frames, warmup: int, max_new_tokens: int) -> list[float]:
    """Per-frame seconds of the whole split inference in this process."""
    import torch

    from qcoinf_ros.models.registry import load_split
    split = load_split(model)
    times = []
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        with torch.no_grad():
            emb = split.encode(split.preprocess(frame))[0]
            payload = encode_embedding(emb, EmbeddingMeta(split.model_id, 8))
            back, _ = decode_embedding(payload)
            ids = split.decode(torch.from_numpy(back).unsqueeze(0),
                               max_new_tokens=max_new_tokens)
            split.captions(ids)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def through_ros(model: str, frames, warmup: int, max_new_tokens: int, timeout: float):
    """Per frame through the two nodes: (end-to-end, agent encode, server decode) seconds."""
    import rclpy
    from geometry_msgs.msg import Vector3Stamped

    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess
    from qcoinf_ros.ros.qos import reliable, SENSOR
    from sensor_msgs.msg import Image

    env = loopback_dds_env(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                         random.randint(1, 100)))
    os.environ.update(env)
    params = ['-p', f'model:={model}', '-p', 'threads:=1']
    procs = [NodeProcess('edge_decoder_node', params + ['-p', f'max_new_tokens:={max_new_tokens}'],
                         env=env),
             NodeProcess('agent_encoder_node', params, env=env)]
    rclpy.init()
    node = rclpy.create_node('qcoinf_bench_pipeline')
    got: list[Vector3Stamped] = []
    node.create_subscription(Vector3Stamped, 'qcoinf/latency', got.append, reliable(10))
    pub = node.create_publisher(Image, 'camera/image_raw', SENSOR)
    times = []
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and pub.get_subscription_count() < 1:
            rclpy.spin_once(node, timeout_sec=0.05)
        for i, frame in enumerate(frames):
            msg = array_to_image_msg(frame, 'rgb8')
            msg.header.frame_id = f'frame{i}'
            seen = len(got)
            deadline = time.monotonic() + timeout
            while len(got) == seen and time.monotonic() < deadline:
                msg.header.stamp = node.get_clock().now().to_msg()
                pub.publish(msg)  # best effort: resend until its caption comes back
                wait = time.monotonic() + (1.0 if i < warmup else 10.0)
                while len(got) == seen and time.monotonic() < min(wait, deadline):
                    rclpy.spin_once(node, timeout_sec=0.01)
            if len(got) == seen:
                raise RuntimeError(f'no caption for frame {i} within {timeout} s:\n' +
                                   '\n'.join(p.output for p in procs))
            if i >= warmup:
                times.append((got[-1].vector.x, got[-1].vector.y, got[-1].vector.z))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for p in procs:
            p.stop()
    return times


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    torch.set_num_threads(1)
    frames = _frames(args.frames + args.warmup, args.size)
    local = in_process(args.model, frames, args.warmup, args.max_new_tokens)
    parts = through_ros(args.model, frames, args.warmup, args.max_new_tokens, args.timeout)
    ros = [e2e for e2e, _, _ in parts]
    # what the nodes spent computing, and the rest: DDS hops, executors, message conversion
    compute = [agent + server for _, agent, server in parts]
    overhead = [e2e - c for e2e, c in zip(ros, compute)]
    med_local, med_ros = statistics.median(local), statistics.median(ros)
    ratio = med_ros / med_local
    print(f'model {args.model}, {len(local)} timed frames per side, frames '
          f'{frames[0].shape[1]}x{frames[0].shape[0]}')
    print(f'in-process median {1e3 * med_local:.1f} ms (p90 '
          f'{1e3 * sorted(local)[int(0.9 * (len(local) - 1))]:.1f} ms)')
    print(f'through ROS 2 (2 processes, DDS) median {1e3 * med_ros:.1f} ms (p90 '
          f'{1e3 * sorted(ros)[int(0.9 * (len(ros) - 1))]:.1f} ms)')
    print(f'  of which in the nodes computing: median {1e3 * statistics.median(compute):.1f} ms; '
          f'the rest (3 DDS hops, executors, conversions): median '
          f'{1e3 * statistics.median(overhead):.1f} ms')
    print(f'ratio ROS / in-process: {ratio:.3f} (target <= 1.10: '
          f'{"met" if ratio <= 1.10 else "missed"})')
    from qcoinf_ros.models.registry import load_split
    split = load_split(args.model, parts=('agent',))
    import torch as _torch
    with _torch.no_grad():
        emb = split.encode(split.preprocess(frames[0]))[0]
    raw = frames[0].nbytes
    print(f'raw rgb8 frame: {raw} bytes; embedding {tuple(emb.shape)}:')
    for codec in COMPRESSIONS:
        size = len(encode_embedding(emb, EmbeddingMeta(split.model_id, 8, codec)))
        print(f'  {codec:>5}: {size:>8} bytes per frame ({size / raw:.2f} x raw)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
