"""
``qcoinf bag``: record, play, inspect and analyse rosbag2 bags (MCAP or SQLite 3) over ROS 2.

``record`` subscribes to the chosen topics as raw CDR bytes and writes them, with each topic's
type and the QoS its publishers offer (``offered_qos_profiles``), into a rosbag2 bag (format
version 9, readable by ``ros2 bag info`` / ``ros2 bag play``). ``play`` publishes a bag's raw
bytes again with the QoS recorded for each topic, at the original timing, a rate factor, or as
fast as possible, optionally looping, from a start offset, for some topics only; the damaged
parts of a truncated or corrupted bag are reported and never published, the rest is. ``info``
lists a bag's topics and any damage; ``report`` analyses a bag of the pipeline's outputs
(latency percentiles, bit-widths, energy) and writes plots.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import json
import math
from pathlib import Path
import sys
import threading
import time

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

from qcoinf_ros.core.bags import (
    BagClock, BagReader, BagWriter, play, PlayOptions, Problem, qualify, STORAGES, TopicSpec)
from qcoinf_ros.core.bags.cdr import import_message_class, is_known
from qcoinf_ros.core.bags.legacy import conversion, convert
from qcoinf_ros.core.qos import describe, playback_qos, qos_overrides, subscription_qos
from qcoinf_ros.ros.context import rclpy_node, StopOnSignals

_HIDDEN = ('/rosout', '/parameter_events')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf bag', description=__doc__.splitlines()[1])
    sub = parser.add_subparsers(dest='verb', required=True, metavar='{record,play,info,report}')

    rec = sub.add_parser('record', help='record topics into a new bag')
    rec.add_argument('output', help='bag directory to create (must not exist)')
    rec.add_argument('topics', nargs='*', help='topics to record (relative names are taken '
                     'from the root namespace, e.g. qcoinf/caption)')
    rec.add_argument('--all', action='store_true', help='record every topic seen (except '
                     '/rosout and /parameter_events)')
    rec.add_argument('--storage', choices=sorted(STORAGES), default='mcap')
    rec.add_argument('--duration', type=float, default=0.0,
                     help='stop after this many seconds (default 0: until Ctrl-C)')
    rec.add_argument('--max-messages', type=int, default=0,
                     help='stop after this many messages (default 0: no limit)')
    rec.add_argument('--discovery-period', type=float, default=0.5,
                     help='how often to look for the topics [s] (default 0.5)')

    ply = sub.add_parser('play', help='publish a bag')
    ply.add_argument('bag', help='bag directory (or one .mcap / .db3 file)')
    ply.add_argument('--topics', nargs='+', default=None, help='play only these topics')
    ply.add_argument('--rate', type=float, default=1.0, help='time factor (default 1.0)')
    ply.add_argument('--fast', action='store_true', help='as fast as possible (no timing)')
    ply.add_argument('--loop', action='store_true', help='start over at the end')
    ply.add_argument('--start-offset', type=float, default=0.0,
                     help='skip the first seconds of the bag (default 0)')
    ply.add_argument('--restamp', action='store_true',
                     help='set header stamps to the time of publication')
    ply.add_argument('--duration', type=float, default=0.0,
                     help='stop after this many seconds of playing (default 0: at the end)')
    ply.add_argument('--qos-profile-overrides-path', default=None, metavar='YAML',
                     help='topic -> QoS profile offered instead of the recorded one, as ros2 '
                          'bag play reads it (e.g. "/chatter: {depth: 1000}")')
    ply.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='SECONDS',
                     help='wait up to this long until every topic has a subscriber (default 0)')
    ply.add_argument('--delay', type=float, default=0.0,
                     help='sleep this long before playing (discovery) [s]')
    ply.add_argument('--clock', type=float, nargs='?', const=40.0, default=0.0, metavar='HZ',
                     help='publish /clock (rosgraph_msgs/Clock, the bag time being played) at '
                          'HZ, as ros2 bag play --clock does (without a value: 40 Hz); nodes '
                          "with use_sim_time then run on the bag's time")

    info = sub.add_parser('info', help='topics, counts, QoS and damage of a bag')
    info.add_argument('bag')

    rep = sub.add_parser('report', help='latency, bit-width and energy of a pipeline bag')
    rep.add_argument('bag')
    rep.add_argument('--out', default=None, help='folder for plots (PNG) and report.json')
    rep.add_argument('--namespace', default='/', help='namespace of the qcoinf topics')

    mc = sub.add_parser('mcap', help='the Foxglove view of a bag as an MCAP file (the layout of '
                                     'qcoinf foxglove)')
    mc.add_argument('bag')
    mc.add_argument('out', help='MCAP file to write')
    mc.add_argument('--namespace', default='/', help='namespace of the qcoinf topics')
    mc.add_argument('--image', choices=('raw', 'compressed', 'none'), default='raw',
                    help='the frames from camera/image_raw (default), .../compressed, or none')
    mc.add_argument('--force', action='store_true', help='overwrite OUT')
    return parser


def _progress(console: Console) -> Progress:
    return Progress(TextColumn('{task.description}'), BarColumn(), MofNCompleteColumn(),
                    TextColumn('{task.fields[extra]}'), TimeElapsedColumn(), console=console)


def _say(console: Console, style: str, text: str) -> None:
    """Print ``text`` in ``style`` (no markup is interpreted in it)."""
    console.print(Text(text, style=style))


def _topics_table(title: str, topics) -> Table:
    """Return a table of ``(TopicSpec, count)`` rows: topic, type, messages, offered QoS."""
    table = Table(title=title)
    for col in ('topic', 'type', 'messages', 'offered QoS'):
        table.add_column(col)
    for spec, count in topics:
        table.add_row(spec.name, spec.msgtype, str(count),
                      '; '.join(sorted({describe(q) for q in spec.qos})) or '-')
    return table


def _open(path: str, console: Console, verb: str) -> BagReader | None:
    """Return the bag's reader, or None after printing why it cannot be read."""
    try:
        return BagReader(path)
    except ValueError as exc:
        _say(console, 'red', f'qcoinf bag {verb}: {exc}')
        return None


def _print_problems(console: Console, problems, warnings=()) -> None:
    for warning in warnings:
        _say(console, 'yellow', f'warning: {warning}')
    for problem in problems:
        _say(console, 'red', f'damaged: {problem}')


# -- record -------------------------------------------------------------------------------------
def record(args, console: Console) -> int:
    if not args.topics and not args.all:
        _say(console, 'red', 'qcoinf bag record: name topics to record, or --all')
        return 2
    if args.duration < 0 or args.max_messages < 0 or not args.discovery_period > 0:
        _say(console, 'red', 'qcoinf bag record: --duration and --max-messages must be >= 0, '
             '--discovery-period > 0')
        return 2
    try:
        wanted = {qualify(t) for t in args.topics}
        writer = BagWriter(args.output, args.storage,
                           {'qcoinf_ros.recorder': 'qcoinf bag record'})
    except ValueError as exc:
        _say(console, 'red', f'qcoinf bag record: {exc}')
        return 2
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from qcoinf_ros.ros.qos import qos_from_rclpy, qos_to_rclpy

    context, node = rclpy_node('qcoinf_bag_recorder')
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    skipped: set[str] = set()
    total = [0]

    def callback(topic: str):
        def on_message(data: bytes) -> None:
            writer.write(topic, node.get_clock().now().nanoseconds, data)
            total[0] += 1
        return on_message

    def discover() -> None:
        for name, types in node.get_topic_names_and_types():
            if name in writer.topics or name in skipped:
                continue
            if not (name in wanted or (args.all and name not in _HIDDEN)):
                continue
            infos = node.get_publishers_info_by_topic(name)
            if not infos:
                continue  # subscribers only so far: wait for a publisher
            if len(types) != 1 or not is_known(types[0]):
                skipped.add(name)
                _say(console, 'yellow', f'not recording {name}: type {", ".join(types)} '
                     '(one standard ROS 2 type needed)')
                continue
            offers = tuple(qos_from_rclpy(i.qos_profile) for i in infos)
            request, warnings = subscription_qos(offers)
            writer.add_topic(TopicSpec(name, types[0], offers))
            node.create_subscription(import_message_class(types[0]), name, callback(name),
                                     qos_to_rclpy(request), raw=True)
            for warning in warnings:
                _say(console, 'yellow', f'{name}: {warning}')
            _say(console, '', f'recording {name} ({types[0]}), {describe(request)}')

    start = time.monotonic()
    stop = StopOnSignals()
    try:
        with stop, _progress(console) as progress:
            task = progress.add_task(f'recording -> {args.output}', extra='',
                                     total=args.duration or None)
            next_discovery = 0.0
            while context.ok() and not stop.requested:
                now = time.monotonic()
                if now >= next_discovery:
                    discover()
                    next_discovery = now + args.discovery_period
                executor.spin_once(timeout_sec=0.05)
                elapsed = time.monotonic() - start
                progress.update(task, completed=min(elapsed, args.duration) if args.duration
                                else 0, extra=f'{total[0]} messages, {len(writer.topics)} '
                                'topics')
                if (args.duration and elapsed >= args.duration) or \
                        (args.max_messages and total[0] >= args.max_messages):
                    break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        writer.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    console.print(_topics_table(f'{args.output} ({args.storage})',
                                ((spec, writer.counts[name])
                                 for name, spec in writer.topics.items())))
    missing = sorted(wanted - set(writer.topics) - skipped)
    if missing:
        _say(console, 'yellow', f'no publisher seen for: {", ".join(missing)}')
    return 0


# -- play ---------------------------------------------------------------------------------------
class ClockTicker:
    """
    Publish ``bag_clock`` on ``/clock`` at ``hz`` from a thread, as ``ros2 bag play --clock``.

    rosbag2's player publishes ``rosgraph_msgs/Clock`` with ``rclcpp::ClockQoS`` (keep last 1,
    best effort, volatile); rclpy's time source subscribes with best effort too.
    """

    def __init__(self, node, bag_clock: BagClock, hz: float):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        self._msg_type, self._clock, self._period = Clock, bag_clock, 1.0 / hz
        self.publisher = node.create_publisher(
            Clock, '/clock', QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
        self._stop = threading.Event()
        self._tick()
        self._thread = threading.Thread(target=self._run, name='clock', daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        msg = self._msg_type()
        msg.clock.sec, msg.clock.nanosec = divmod(self._clock.now_ns(), 1_000_000_000)
        self.publisher.publish(msg)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._tick()

    def stop(self) -> None:
        """Stop publishing (joins the thread)."""
        self._stop.set()
        self._thread.join(timeout=2.0)


def play_bag(args, console: Console) -> int:
    if min(args.duration, args.delay, args.wait_for_subscribers) < 0:
        _say(console, 'red', 'qcoinf bag play: --duration, --delay and --wait-for-subscribers '
             'must be >= 0')
        return 2
    if not (math.isfinite(args.clock) and 0.0 <= args.clock <= 10000.0):
        _say(console, 'red', f'qcoinf bag play: --clock must be a rate in (0, 10000] Hz, got '
             f'{args.clock!r}')
        return 2
    try:
        options = PlayOptions(rate=args.rate, fast=args.fast, loop=args.loop,
                              topics=tuple(args.topics) if args.topics else None,
                              start_offset=args.start_offset, restamp=args.restamp)
    except ValueError as exc:
        _say(console, 'red', f'qcoinf bag play: {exc}')
        return 2
    try:
        overrides = _read_overrides(args.qos_profile_overrides_path)
    except ValueError as exc:
        _say(console, 'red', f'qcoinf bag play: --qos-profile-overrides-path: {exc}')
        return 2
    reader = _open(args.bag, console, 'play')
    if reader is None:
        return 2
    if reader.refusal is not None:
        reader.close()
        _say(console, 'red', f'qcoinf bag play: cannot replay {args.bag}: {reader.refusal}')
        return 2
    if options.topics is None:
        topics = list(reader.info.topics)
    else:
        unknown = [n for n in options.topics if reader.info.topic(n) is None]
        if unknown:
            reader.close()
            _say(console, 'red', f'qcoinf bag play: not in the bag: {", ".join(unknown)}')
            return 2
        topics = list(dict.fromkeys(reader.info.topic(n) for n in options.topics))
    import rclpy
    from rclpy.duration import Duration
    from rclpy.executors import ExternalShutdownException

    context, node = rclpy_node('qcoinf_bag_player')
    stats = None
    publishers: dict = {}
    bag_clock = ticker = None
    with StopOnSignals() as stop:
        try:
            if args.clock:
                bag_clock = BagClock(reader.info.start_ns + int(round(
                    options.start_offset * 1e9)), options.rate)
                ticker = ClockTicker(node, bag_clock, args.clock)
            publishers = _publishers(node, topics, console, overrides)
            _wait_for_subscribers(publishers, args.wait_for_subscribers, context, console,
                                  stop)
            end = time.monotonic() + max(0.0, args.delay)
            while time.monotonic() < end and not stop.requested:
                time.sleep(0.05)
            begin = time.monotonic()

            def should_stop() -> bool:
                return stop.requested or not context.ok() or \
                    (args.duration > 0 and time.monotonic() - begin >= args.duration)

            total = sum(t.count for t in topics if t.spec.name in publishers)
            with _progress(console) as progress:
                task = progress.add_task(f'playing {args.bag}', total=total or None, extra='')

                def publish(message) -> None:
                    try:  # a topic recorded with the type of an older release: today's
                        message = convert(message)
                    except ValueError as exc:
                        problem = Problem(f'{message.topic} at t={message.timestamp} ns',
                                          f'{exc}; not replayed')
                        if problem not in reader.problems:  # a loop: reported once
                            reader.problems.append(problem)
                        return
                    publishers[message.topic].publish(message.data)
                    progress.advance(task)

                def on_loop(n: int) -> None:
                    progress.reset(task, total=total or None,
                                   extra=f'loop {n + 1}' if n else '')

                if publishers:
                    stats = play(reader, publish, replace(options, topics=tuple(publishers)),
                                 should_stop=should_stop, on_loop=on_loop, bag_clock=bag_clock)
            for pub in publishers.values():  # reliable data reaches its readers (bounded)
                pub.wait_for_all_acked(Duration(seconds=2.0))
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            if ticker is not None:
                ticker.stop()
            reader.close()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
    asked = sum(t.count for t in topics)
    if stats is not None:
        console.print(f'published {stats.total} messages in {stats.wall_s:.2f} s '
                      f'({stats.loops} loop(s){", stopped" if stats.stopped else ""}): ' +
                      ', '.join(f'{k} {v}' for k, v in sorted(stats.published.items())))
    elif not publishers and asked:
        _say(console, 'red', f'published nothing: none of the {len(topics)} topic(s) can be '
             'played here (see above)')
    else:
        _say(console, 'yellow', 'interrupted')
    _print_problems(console, reader.problems, reader.warnings)
    if reader.problems:
        _say(console, 'red', f'the bag is damaged: {len(reader.problems)} problem(s) above; '
             'those parts were not published')
        return 1
    if asked and (stats is None or stats.total == 0) and not (stats and stats.stopped):
        return 1
    return 0


def _read_overrides(path: str | None) -> dict:
    """Return the profiles of a ``--qos-profile-overrides-path`` file (``{}`` without one)."""
    if path is None:
        return {}
    import yaml
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f'cannot read {path}: {exc}') from None
    return qos_overrides(data)


def _publishers(node, topics, console: Console, overrides: dict | None = None) -> dict:
    """
    Create a publisher per topic with the QoS rosbag2's player offers for it.

    Keyed by the recorded name; a relative name is resolved in the node's namespace (the
    root), as ``ros2 bag play`` does. A topic whose type cannot be imported is reported once
    and not played. ``overrides`` (recorded topic name -> profile) replace that choice, as
    ``--qos-profile-overrides-path`` does for ``ros2 bag play``; one naming no played topic is
    reported once (rosbag2 ignores it silently).
    """
    from qcoinf_ros.ros.qos import qos_to_rclpy

    overrides = dict(overrides or {})
    for name in sorted(set(overrides) - {t.spec.name for t in topics}):
        _say(console, 'yellow', f'QoS override for {name}: no such topic played (names are '
             'matched exactly, as recorded)')
    publishers = {}
    for topic in topics:
        old = conversion(topic.spec.name, topic.spec.msgtype)
        if old is not None:
            console.print(f'{topic.spec.name}: recorded as {old.old_type} (before 0.2), '
                          f'played as {old.new_type}')
        try:
            cls = import_message_class(old.new_type if old else topic.spec.msgtype)
        except ValueError as exc:
            _say(console, 'yellow', f'not playing {topic.spec.name}: {exc}')
            continue
        if topic.spec.name in overrides:
            qos, warnings = overrides[topic.spec.name], []
            console.print(f'{topic.spec.name}: offering {describe(qos)} (QoS override)')
        else:
            qos, warnings = playback_qos(topic.spec.qos)
        for warning in warnings:
            _say(console, 'yellow', f'{topic.spec.name}: {warning}')
        publishers[topic.spec.name] = node.create_publisher(cls, topic.spec.name,
                                                            qos_to_rclpy(qos))
    return publishers


def _wait_for_subscribers(publishers: dict, timeout: float, context, console, stop) -> None:
    if timeout <= 0 or not publishers:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end and context.ok() and not stop.requested:
        if all(p.get_subscription_count() > 0 for p in publishers.values()):
            return
        time.sleep(0.05)
    lonely = sorted(n for n, p in publishers.items() if p.get_subscription_count() == 0)
    if lonely:
        _say(console, 'yellow', f'no subscriber after {timeout:g} s for: '
             f'{", ".join(lonely)}; playing anyway')


# -- info / report ------------------------------------------------------------------------------
def info(args, console: Console) -> int:
    reader = _open(args.bag, console, 'info')
    if reader is None:
        return 2
    with reader:
        summary = reader.info
        console.print(_topics_table(f'{summary.path} ({summary.storage}, '
                                    f'{summary.message_count} messages, '
                                    f'{summary.duration_s:.2f} s)',
                                    ((t.spec, t.count) for t in summary.topics)))
        for _ in reader.messages():  # read it all, so damage anywhere is found
            pass
        meta = reader.metadata
        if meta is not None:
            console.print(f'metadata.yaml: version {meta.version}, ros_distro '
                          f'{meta.ros_distro or "-"}, {len(reader.files)} storage file(s)')
        if reader.refusal is not None:
            _say(console, 'yellow', f'cannot be replayed: {reader.refusal}')
        _print_problems(console, reader.problems, reader.warnings)
        return 1 if reader.problems else 0


def report(args, console: Console) -> int:
    from qcoinf_ros.core.bags.report import analyse, render, write_plots
    reader = _open(args.bag, console, 'report')
    if reader is None:
        return 2
    with reader:
        result = analyse(reader, args.namespace)
    console.print(f'{result.path}: {result.duration_s:.2f} s, '
                  f'{sum(result.message_counts.values())} messages, '
                  f'{len(result.captions)} captions, {len(result.plan_series)} plans')
    for table in render(result):
        console.print(table)
    if args.out:
        out = Path(args.out)
        written = write_plots(result, out)
        (out / 'report.json').write_text(json.dumps(result.to_dict(), indent=2, default=str))
        for path in written + [out / 'report.json']:
            console.print(f'wrote {path}')
    _print_problems(console, result.problems, reader.warnings)
    return 1 if result.problems else 0


def mcap(args, console: Console) -> int:
    from qcoinf_ros.core.viewing.bag import LAYOUT, write_mcap
    reader = _open(args.bag, console, 'convert')
    if reader is None:
        return 2
    if Path(args.out).exists() and not args.force:
        _say(console, 'red', f'{args.out} exists (--force overwrites it)')
        return 2
    with reader:
        result = write_mcap(reader, args.out, args.namespace, args.image, overwrite=args.force)
    console.print(f'wrote {result.path}: {sum(result.records.values())} records from '
                  f'{result.read} messages; open it in Foxglove or Lichtblick with the layout '
                  f'{LAYOUT} (attached to the file as foxglove_layout.json)')
    for topic, n in sorted(result.records.items()):
        console.print(f'  {topic:<30} {n}')
    for cls, n in sorted(result.dropped.items()):
        _say(console, 'yellow', f'dropped {n} x {cls}, the first: {result.first_drop[cls]}')
    _print_problems(console, reader.problems, reader.warnings)
    return 1 if reader.problems else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    verbs = {'record': record, 'play': play_bag, 'info': info, 'report': report, 'mcap': mcap}
    return verbs[args.verb](args, console)


if __name__ == '__main__':
    sys.exit(main())
