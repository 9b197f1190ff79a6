"""
``qcoinf foxglove``: a Foxglove WebSocket server streaming the live graph (foxglove-sdk).

Open it in Foxglove or Lichtblick ("Open connection" -> Foxglove WebSocket, ``ws://HOST:PORT``)
with the shipped layout (``config/foxglove_layout.json``): the camera frame with the caption
drawn on it, b and the clocks over time, the latency against the deadline, the battery and the
energy per inference against its budget, the diagnostics. It listens on 127.0.0.1 unless
``--address`` says otherwise (``--address 0.0.0.0`` on a robot watched from a laptop). Ctrl-C
(SIGINT) or SIGTERM ends it with exit code 0; ``--duration`` after a time.
"""

from __future__ import annotations

import argparse
import sys
import time

from qcoinf_ros.core.resources import share_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf foxglove', description=__doc__.splitlines()[1])
    parser.add_argument('--address', default='127.0.0.1',
                        help='address to listen on (default 127.0.0.1: this machine only; '
                             "0.0.0.0: every interface, for a laptop on the robot's network)")
    parser.add_argument('--port', type=int, default=8765,
                        help="TCP port (default 8765, Foxglove's; 0: any free port, printed)")
    parser.add_argument('--namespace', default='', help='namespace of the graph')
    parser.add_argument('--image', choices=('raw', 'compressed', 'none'), default='raw',
                        help='the camera frames from camera/image_raw (raw, default), from '
                             'camera/image_raw/compressed (jpeg: less bandwidth to a laptop), '
                             'or none')
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (default 0: until Ctrl-C)')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.duration < 0 or not 0 <= args.port <= 65535:
        build_parser().error('--duration must be >= 0 and --port in 0..65535')
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from qcoinf_ros.core.viewing.model import view_topics
    from qcoinf_ros.core.viewing.sdk import start_server, ViewChannels
    from qcoinf_ros.ros.context import rclpy_node, StopOnSignals
    from qcoinf_ros.ros.foxglove_bridge import FoxgloveBridge

    channels = ViewChannels(view_topics(args.image))
    try:
        server = start_server(channels, args.address, args.port)
    except Exception as exc:  # noqa: BLE001 - the SDK's error for a port in use, a bad address
        print(f'qcoinf foxglove: cannot listen on {args.address}:{args.port}: {exc}',
              file=sys.stderr)
        return 1
    context, node = rclpy_node('qcoinf_foxglove')
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        bridge = FoxgloveBridge(node, channels, namespace=args.namespace, image=args.image)
    except ValueError as exc:
        print(f'qcoinf foxglove: {exc}', file=sys.stderr)
        return 2
    layout = share_file('config/foxglove_layout.json')
    print(f'qcoinf foxglove: ws://{args.address}:{server.port} (Foxglove/Lichtblick: Open '
          f'connection -> Foxglove WebSocket); layout: {layout}', flush=True)
    start = time.monotonic()
    with StopOnSignals() as stop:
        try:
            while context.ok() and not stop.requested:
                executor.spin_once(timeout_sec=0.1)
                if args.duration and time.monotonic() - start >= args.duration:
                    break
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
            server.stop()
            channels.close()
    print(f'qcoinf foxglove: stopped after {time.monotonic() - start:.1f} s, '
          f'{bridge.summary()}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
