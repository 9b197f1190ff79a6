"""
The player's schedule: which message goes out when (original timing, a rate, or at once).

:func:`play` walks a :class:`~qcoinf_ros.core.bags.storage.BagReader` and hands every intact
message to a ``publish`` callable at its time: bag time since the start (or since ``start_offset``)
divided by ``rate``; as fast as possible with ``fast``; over and over with ``loop``. The clock,
the sleep and the stop request are injected, so the timing is tested without ROS and without
waiting; ``qcoinf bag play`` passes rclpy publishers.

:class:`BagClock` is the time the player is at in the bag, what ``ros2 bag play --clock``
publishes on ``/clock``: the bag's start (plus ``start_offset``) until the first message is
due, then bag time advancing at ``rate`` from each loop's start (so it jumps back when a loop
starts again), and with ``fast`` the time of the message just published. Nodes with
``use_sim_time`` then see a bag recorded long ago as "now".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
import math
import time
from typing import Callable

from qcoinf_ros.core.bags.cdr import restamp
from qcoinf_ros.core.bags.storage import BagMessage, BagReader, check_name

_SLICE_S = 0.05  # longest single sleep, so a stop request is seen quickly


@dataclass(frozen=True)
class PlayOptions:
    """How to replay: rate factor, as fast as possible, loop, topics, start offset, restamp."""

    rate: float = 1.0
    fast: bool = False
    loop: bool = False
    topics: tuple[str, ...] | None = None
    start_offset: float = 0.0  # [s] from the bag's first message
    restamp: bool = False  # header stamps := the time of publication

    def __post_init__(self):
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or \
                not math.isfinite(self.rate) or self.rate <= 0:
            raise ValueError(f'rate must be a finite number > 0, got {self.rate!r}')
        if isinstance(self.start_offset, bool) or \
                not isinstance(self.start_offset, (int, float)) or \
                not math.isfinite(self.start_offset) or self.start_offset < 0:
            raise ValueError(f'start_offset must be a finite number >= 0 s, got '
                             f'{self.start_offset!r}')
        if self.topics is not None:
            object.__setattr__(self, 'topics', tuple(check_name(t) for t in self.topics))


@dataclass
class PlayStats:
    """What a replay published: messages per topic, loops done, wall time [s]."""

    published: Counter = field(default_factory=Counter)
    loops: int = 0
    wall_s: float = 0.0
    stopped: bool = False

    @property
    def total(self) -> int:
        return sum(self.published.values())


class BagClock:
    """The bag time [ns] the player is at (``now_ns()``), anchored by :func:`play`."""

    def __init__(self, start_ns: int, rate: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.rate, self._clock = rate, clock
        self._bag_ns, self._wall, self._running = int(start_ns), clock(), False

    def anchor(self, bag_ns: int, wall: float, running: bool = True) -> None:
        """From ``wall`` (the injected clock's seconds) on, the bag time is ``bag_ns``..."""
        self._bag_ns, self._wall, self._running = int(bag_ns), wall, running

    def now_ns(self) -> int:
        """... advancing at ``rate`` while running, held otherwise."""
        if not self._running:
            return self._bag_ns
        return self._bag_ns + int((self._clock() - self._wall) * self.rate * 1e9)


def play(reader: BagReader, publish: Callable[[BagMessage], None],
         options: PlayOptions = PlayOptions(), *,
         clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep,
         now_ns: Callable[[], int] = time.time_ns,
         should_stop: Callable[[], bool] = lambda: False,
         on_loop: Callable[[int], None] | None = None,
         bag_clock: BagClock | None = None) -> PlayStats:
    """
    Publish the bag's intact messages in time order at their (scaled) times; return the stats.

    Message ``m`` goes out ``(m.timestamp - origin) / rate`` seconds after the loop started,
    where ``origin`` is the bag's first message time plus ``start_offset``. A message the
    publisher is late for goes out at once (the schedule is not shifted). Damaged parts are
    never published: the reader yields intact messages only and lists the rest in its
    ``problems``. ``on_loop(n)`` is called before loop ``n`` (0, 1, ...). ``bag_clock`` is kept
    at the player's bag time (for ``/clock``).
    """
    stats = PlayStats()
    origin = reader.info.start_ns + int(round(options.start_offset * 1e9))
    begin = clock()
    while True:
        if on_loop is not None:
            on_loop(stats.loops)
        loop_start = clock()
        if bag_clock is not None:
            bag_clock.anchor(origin, loop_start, running=not options.fast)
        sent = 0
        # from the first message on, the reader can compare what it read with the index
        start = origin if options.start_offset else None
        for message in reader.messages(options.topics, start):
            if not options.fast:
                due = loop_start + (message.timestamp - origin) * 1e-9 / options.rate
                while not should_stop() and (left := due - clock()) > 0:
                    sleep(min(left, _SLICE_S))
            if should_stop():
                stats.stopped = True
                break
            if bag_clock is not None and options.fast:
                bag_clock.anchor(message.timestamp, clock(), running=False)
            if options.restamp:
                message = replace(message, data=restamp(message.data, message.msgtype,
                                                        now_ns()))
            publish(message)
            stats.published[message.topic] += 1
            sent += 1
        stats.loops += 1
        if stats.stopped or not options.loop or sent == 0 or should_stop():
            stats.stopped = stats.stopped or should_stop()
            break
    stats.wall_s = clock() - begin
    return stats
