"""
Sanity windows for header stamps: valid, not too old, not in the future, not a replay.

Stamps are compared with the receiving node's clock (ROS time: with ``use_sim_time`` and
``ros2 bag play --clock`` a replayed bag's stamps are "now"). :class:`StampGuard` refuses

* invalid stamps: ``sec < 0`` or ``nanosec >= 1e9`` (``sec = -1`` once got a caption but no
  latency, which shifted the monitor's caption-frame pairing for good);
* stamps more than ``max_age`` seconds in the past or ``max_future`` seconds in the future
  (stamps from 1970 or 2038 gave latencies of +-1e9 s; 0 switches a bound off);
* with ``max_age`` > 0, a stamp its source has had taken already within the window (an
  embedding replayed a second time). Each source keeps the stamps taken from it in the last
  ``max_age`` seconds (at most ``max_stamps``): a replay is an exact repeat, caught however many
  messages came in between, while a reordered message is taken. It used to be "not newer than
  the newest taken": then one valid message stamped 1.9 s ahead (inside ``max_future``) under
  the camera's frame_id blocked every camera frame for 1.9 s, and a forger repeating it every
  1.5 s took the camera's captions from 40 per 20 s to 0. When the clock itself goes back (a bag
  started again under ``--clock``) the newest stamp lies in the future, and the source starts
  afresh.

A zero stamp (``sec = nanosec = 0``) is the ROS idiom for "not stamped": it passes (there is
nothing to compare), and the edge decoder reports no end-to-end latency for it (NaN). A zero
clock is a node on ``use_sim_time`` that has not heard ``/clock`` yet: there is no time to judge
by, so every valid stamp passes (a replay's first frames are not lost to that race).

No rclpy here: stamps are ``(sec, nanosec)`` pairs, the clock is nanoseconds.
"""

from __future__ import annotations

from collections import deque, OrderedDict
from typing import Hashable, NamedTuple

from qcoinf_ros.core.validation import InputError, require_nonnegative

__all__ = ['StampGuard', 'StampRefusal', 'stamp_ns']

_NS = 1_000_000_000


def stamp_ns(sec: int, nanosec: int) -> int:
    """Return the stamp in nanoseconds; ``ValueError`` for an invalid one."""
    if int(sec) < 0 or not 0 <= int(nanosec) < _NS:
        raise InputError('stamp.invalid', f'invalid stamp sec={sec} nanosec={nanosec} (sec '
                         'must be >= 0, nanosec < 1e9)')
    return int(sec) * _NS + int(nanosec)


class StampRefusal(NamedTuple):
    """Why a stamp was refused: its kind (a drop class word, no values) and the reason."""

    kind: str  # 'stamp_invalid', 'stamp_past', 'stamp_future' or 'replay'
    reason: str

    def __str__(self) -> str:
        return self.reason


class _Taken:
    """The stamps taken from one source within the window: a set, and their arrival order."""

    def __init__(self):
        self.stamps: set[int] = set()
        self.order: deque[int] = deque()
        self.newest = 0

    def add(self, t: int, limit: int) -> None:
        self.stamps.add(t)
        self.order.append(t)
        self.newest = max(self.newest, t)
        while len(self.order) > limit:
            self.stamps.discard(self.order.popleft())

    def expire(self, oldest: int) -> None:
        while self.order and self.order[0] < oldest:
            self.stamps.discard(self.order.popleft())


class StampGuard:
    """Check stamps against the clock and against the stamps already taken from their source."""

    def __init__(self, max_age: float = 30.0, max_future: float = 2.0, max_sources: int = 64,
                 max_stamps: int = 4096):
        self.max_age = require_nonnegative('max_age', max_age)
        self.max_future = require_nonnegative('max_future', max_future)
        self._taken: OrderedDict[Hashable, _Taken] = OrderedDict()
        self._max_sources = max_sources
        self._max_stamps = max_stamps

    def check(self, source: Hashable, sec: int, nanosec: int,
              now_ns: int) -> StampRefusal | None:
        """Return why the stamp is refused, or None (then it counts as taken from source)."""
        try:
            t = stamp_ns(sec, nanosec)
        except ValueError as exc:
            return StampRefusal('stamp_invalid', str(exc))
        if t == 0:
            return None  # not stamped
        if now_ns <= 0:  # use_sim_time before the first /clock message: no time to judge by
            return None
        age = (now_ns - t) / _NS
        if self.max_age and age > self.max_age:
            return StampRefusal('stamp_past', (
                f'stamp {age:.4g} s in the past (max_stamp_age {self.max_age:g} s): a '
                'replay or an unsynchronised clock; replay bags with --clock and '
                'use_sim_time, or set max_stamp_age 0'))
        if self.max_future and -age > self.max_future:
            return StampRefusal('stamp_future', (
                f'stamp {-age:.4g} s in the future (max_stamp_future {self.max_future:g} '
                's): an unsynchronised clock'))
        if self.max_age:
            taken = self._taken.get(source)
            if taken is not None and taken.newest > now_ns + int(self.max_future * _NS):
                taken = None  # the clock went back (a bag started again): start afresh
            if taken is None:
                taken = self._taken[source] = _Taken()
            taken.expire(now_ns - int(self.max_age * _NS))
            if t in taken.stamps:
                return StampRefusal('replay', (
                    'stamp already taken from this source within max_stamp_age: a replayed '
                    'message'))
            taken.add(t, self._max_stamps)
            self._taken.move_to_end(source)
            while len(self._taken) > self._max_sources:
                self._taken.popitem(last=False)
        return None
