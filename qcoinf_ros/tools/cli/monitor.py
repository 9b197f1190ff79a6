"""
``qcoinf monitor``: a live terminal dashboard of the running graph (rich).

Subscribes to the graph's topics and shows, refreshed a few times a second: the rate of every
topic, latency percentiles (end to end, agent encode, server decode), the plan in force with its
deadline and energy budget, the recent captions and the ``/diagnostics`` statuses. Ctrl-C ends
it cleanly; ``--duration`` ends it after a time. Either way the last snapshot is printed (on a
terminal that is not interactive only that snapshot is printed).
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.live import Live

from qcoinf_ros.core.monitor.dashboard import render_dashboard
from qcoinf_ros.core.monitor.state import MonitorState
from qcoinf_ros.ros.context import rclpy_node, StopOnSignals

#: Topics counted for their rate (relative to the namespace), in display order.
TOPICS = ('camera/image_raw', 'qcoinf/embedding', 'qcoinf/caption', 'qcoinf/latency',
          'battery_state',
          'qcoinf/deadline', 'qcoinf/bit_width', 'qcoinf/frequency_profile',
          'qcoinf/applied_profile', '/diagnostics')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf monitor', description=__doc__.splitlines()[1])
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (default 0: until Ctrl-C)')
    parser.add_argument('--namespace', default='', help='namespace of the graph')
    parser.add_argument('--refresh', type=float, default=4.0,
                        help='screen refreshes per second (default 4)')
    parser.add_argument('--window', type=float, default=5.0,
                        help='window of the topic rates [s] (default 5)')
    return parser


def _subscribe(node, state: MonitorState, namespace: str) -> None:
    """Feed ``state`` from the graph (:func:`qcoinf_ros.ros.observer.observe`)."""
    from qcoinf_ros.ros.messages import caption_from_msg, profile_from_msg
    from qcoinf_ros.ros.observer import observe

    def on_embedding(msg, now):  # the bit-width only: the values are not decoded
        state.on_frame_bit_width(msg.bit_width, now)

    def on_caption(msg, now):
        try:
            caption = caption_from_msg(msg)
        except ValueError:
            state.rejected += 1
            return
        state.on_caption(caption.text, now)
        times = (caption.latency_s, caption.encode_s, caption.decode_s)
        if all(t == t for t in times):  # NaN: not stamped, or not known (an old bag's)
            state.on_latency(*times, now)

    def on_profile(msg, now):
        try:
            state.on_profile(profile_from_msg(msg), now)
        except ValueError:
            state.rejected += 1

    def on_diagnostics(msg, now):
        for status in msg.status:
            level = status.level[0] if isinstance(status.level, bytes) else status.level
            state.on_status(status.name, level, status.message,
                            {kv.key: kv.value for kv in status.values}, now)

    observe(node, {
        'camera/image_raw': None,  # counted, never decoded
        'qcoinf/embedding': on_embedding,
        'qcoinf/caption': on_caption,  # the edge's and local ones, with their latencies
        'qcoinf/latency': None,  # deprecated (the caption carries it): counted only
        'battery_state': lambda m, t: state.on_battery(m.percentage, t),
        'qcoinf/deadline': lambda m, t: state.on_deadline(m.data, t),
        'qcoinf/bit_width': lambda m, t: state.on_bit_width(m.data, t),
        'qcoinf/frequency_profile': on_profile,
        'qcoinf/applied_profile': None,
        '/diagnostics': on_diagnostics,
    }, namespace, on_message=state.tick)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.duration < 0 or not args.refresh > 0 or not args.window > 0:
        build_parser().error('--duration must be >= 0, --refresh and --window > 0')
    try:  # the plan and budget shown are those of this namespace's planner and actuator
        state = MonitorState(window_s=args.window, namespace=args.namespace)
    except ValueError as exc:
        build_parser().error(str(exc))
    console = Console(highlight=False, soft_wrap=True)
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    context, node = rclpy_node('qcoinf_monitor')
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    _subscribe(node, state, args.namespace)
    start = time.monotonic()
    live = None
    with StopOnSignals() as stop:
        try:
            if console.is_terminal:
                live = Live(render_dashboard(state, list(TOPICS), start), console=console,
                            refresh_per_second=args.refresh, transient=True)
                live.start()
            next_refresh = start
            while context.ok() and not stop.requested:
                executor.spin_once(timeout_sec=0.05)
                now = time.monotonic()
                if live is not None and now >= next_refresh:
                    live.update(render_dashboard(state, list(TOPICS), now))
                    next_refresh = now + 1.0 / args.refresh
                if args.duration and now - start >= args.duration:
                    break
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            if live is not None:
                live.stop()
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    console.print(render_dashboard(state, list(TOPICS), time.monotonic(),
                                   title=f'qcoinf monitor: {time.monotonic() - start:.1f} s'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
