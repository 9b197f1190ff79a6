"""Print the first caption on ``qcoinf/caption`` and exit 0; exit 1 if none comes in time."""

import argparse
import os
import sys
import time

import rclpy

from qcoinf_ros.msg import Caption


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--timeout', type=float, default=60.0)
    parser.add_argument('--topic', default='qcoinf/caption')
    parser.add_argument('--pid', type=int, default=0,
                        help='give up early when this process (the launch) has exited')
    args = parser.parse_args()
    rclpy.init()
    node = rclpy.create_node('robot_path_listener')
    got = []
    node.create_subscription(Caption, args.topic, lambda msg: got.append(msg.text), 10)
    began = time.monotonic()
    try:
        while not got and time.monotonic() - began < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.2)
            if args.pid and not _alive(args.pid):
                print(f'first_caption: process {args.pid} exited', flush=True)
                break
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    if not got:
        print(f'first_caption: no caption on {args.topic} in {args.timeout:g} s', flush=True)
        return 1
    print(f'first_caption: "{got[0]}" after {time.monotonic() - began:.1f} s', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
