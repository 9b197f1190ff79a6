"""
Sanity windows for header stamps: valid, not too old, not in the future, not a replay.

Stamps are compared with the receiving node's clock (ROS time: with ``use_sim_time`` and
``ros2 bag play --clock`` a replayed bag's stamps are "now"). :class:`StampGuard` refuses

* invalid stamps: ``sec < 0`` or ``nanosec >= 1e9`` (``sec = -1`` once got a caption but no
  latency, which shifted the monitor's caption-frame pairing for good);
* stamps more than ``max_age`` seconds in the past or ``max_future`` seconds in the future
  (stamps from 1970 or 2038 gave latencies of +-1e9 s; 0 switches a bound off);
* with ``max_age`` > 0, a stamp of a source that is not newer than the newest one taken from it
  (an embedding replayed a second time); when the clock itself goes back (a bag started again
  under ``--clock``) the newest stamp lies in the future, and the source starts afresh.

A zero stamp (``sec = nanosec = 0``) is the ROS idiom for "not stamped": it passes (there is
nothing to compare), and the edge decoder reports no end-to-end latency for it (NaN). A zero
clock is a node on ``use_sim_time`` that has not heard ``/clock`` yet: there is no time to judge
by, so every valid stamp passes (a replay's first frames are not lost to that race).

No rclpy here: stamps are ``(sec, nanosec)`` pairs, the clock is nanoseconds.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable, NamedTuple

from qcoinf_ros.validation import InputError, require_nonnegative

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


class StampGuard:
    """Check stamps against the clock and against the newest stamp of their source."""

    def __init__(self, max_age: float = 30.0, max_future: float = 2.0, max_sources: int = 64):
        self.max_age = require_nonnegative('max_age', max_age)
        self.max_future = require_nonnegative('max_future', max_future)
        self._newest: OrderedDict[Hashable, int] = OrderedDict()
        self._max_sources = max_sources

    def check(self, source: Hashable, sec: int, nanosec: int,
              now_ns: int) -> StampRefusal | None:
        """Return why the stamp is refused, or None (then it counts as the newest of source)."""
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
            newest = self._newest.get(source)
            if newest is not None and newest > now_ns + int(self.max_future * _NS):
                newest = None  # the clock went back (a bag started again): start afresh
            if newest is not None and t <= newest:
                return StampRefusal('replay', (
                    f'stamp not newer than the last one taken from this source (by '
                    f'{(newest - t) / _NS:.4g} s): a replay or reordered message'))
            self._newest[source] = t
            self._newest.move_to_end(source)
            while len(self._newest) > self._max_sources:
                self._newest.popitem(last=False)
        return None
