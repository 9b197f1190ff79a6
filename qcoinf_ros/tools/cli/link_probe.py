"""
Probe on the agent's side of a link: captions, latencies, embedding sizes, queueing delay.

It collects them, prints them as one JSON line and exits.

``python -m qcoinf_ros.tools.cli.link_probe --count N [--warmup W] [--timeout S]``: skips the
first ``W`` latencies (start-up), keeps the next ``N``. Used by ``qcoinf bench link`` and the
two-hosts test; exit code 1 when fewer than ``N`` arrived within ``S`` seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m qcoinf_ros.tools.cli.link_probe')
    parser.add_argument('--count', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--timeout', type=float, default=60.0)
    args, ros_args = parser.parse_known_args(argv)

    import rclpy
    from geometry_msgs.msg import Vector3Stamped
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Float64

    from qcoinf_ros.ros.messages import Caption, Embedding
    from qcoinf_ros.ros.qos import LATCHED, reliable

    rclpy.init(args=ros_args)
    node = rclpy.create_node('qcoinf_link_probe')
    sizes: dict[str, int] = {}
    frames: list[dict] = []
    captions: list[str] = []
    queue = [0.0]
    seen = [0]

    def key(header) -> str:
        return f'{header.stamp.sec}.{header.stamp.nanosec:09d}'

    def on_latency(msg: Vector3Stamped) -> None:
        seen[0] += 1
        if seen[0] > args.warmup:
            frames.append({'stamp': key(msg.header), 'e2e_s': msg.vector.x,
                           'encode_s': msg.vector.y, 'decode_s': msg.vector.z,
                           'queue_s': queue[0], 'payload_bytes': sizes.get(key(msg.header))})

    node.create_subscription(Embedding, 'qcoinf/embedding',
                             lambda m: sizes.__setitem__(key(m.header), len(m.data)),
                             reliable(10))
    node.create_subscription(Vector3Stamped, 'qcoinf/latency', on_latency, reliable(20))
    node.create_subscription(Caption, 'qcoinf/caption', lambda m: captions.append(m.text),
                             reliable(20))
    node.create_subscription(Float64, 'qcoinf/server_queue_delay',
                             lambda m: queue.__setitem__(0, m.data), LATCHED)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    end = time.monotonic() + args.timeout
    try:
        while time.monotonic() < end and len(frames) < args.count:
            executor.spin_once(timeout_sec=0.05)
    finally:
        print(json.dumps({'frames': frames, 'captions': captions}), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0 if len(frames) >= args.count else 1


if __name__ == '__main__':
    sys.exit(main())
