"""
Log valid events at a bounded rate, with a summary of what was held back.

A node's own events — a new plan, a bit-width switch — are worth a line each at the pace of a
robot, not at the pace of a flooded topic: bit widths flapping at 200 Hz gave 1,952 INFO lines
in 10 s, a 1 kHz battery flood 3,586 ERROR lines. :class:`EventLog` lets each event ``key``
through at ``per_second`` on average with bursts of ``burst`` (a token bucket); beyond that the
lines are counted, and at most every ``summary_period`` seconds one INFO line says how many were
held back and quotes the latest. Pure (no rclpy): a logger with ``info``, ``warning`` and
``error`` and a clock are injected.
"""

from __future__ import annotations

from dataclasses import dataclass
import time

from qcoinf_ros.core.validation import require_positive

LEVELS = ('info', 'warning', 'error')


@dataclass
class _Bucket:
    tokens: float
    refilled: float
    held: int = 0
    latest: str = ''
    since: float = 0.0


class EventLog:
    """Token-bucket rate limit per event key, with a periodic summary of the held lines."""

    def __init__(self, logger, per_second: float = 1.0, burst: int = 5,
                 summary_period: float = 10.0, clock=time.monotonic):
        self._logger, self._clock = logger, clock
        self.per_second = require_positive('per_second', per_second)
        self.burst = int(require_positive('burst', burst))
        self.summary_period = require_positive('summary_period', summary_period)
        self._buckets: dict[str, _Bucket] = {}
        self.logged = 0
        self.held = 0

    def log(self, key: str, text: str, level: str = 'info') -> bool:
        """Log ``text`` under ``key`` unless its rate is spent; return whether it was logged."""
        if level not in LEVELS:
            raise ValueError(f'log level {level!r} is not one of {", ".join(LEVELS)}')
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now, since=now)
        bucket.tokens = min(float(self.burst),
                            bucket.tokens + (now - bucket.refilled) * self.per_second)
        bucket.refilled = now
        self._summarise(key, bucket, now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            self._emit(level, text)
            self.logged += 1
            return True
        if not bucket.held:
            bucket.since = now
        bucket.held += 1
        bucket.latest = text
        self.held += 1
        return False

    def tick(self) -> None:
        """Give the summaries that are due (call from a timer: the events may have stopped)."""
        now = self._clock()
        for key, bucket in self._buckets.items():
            self._summarise(key, bucket, now)

    def _summarise(self, key: str, bucket: _Bucket, now: float) -> None:
        if bucket.held and now - bucket.since >= self.summary_period:
            self._emit('info', f'{bucket.held} more {key} line(s) in the last '
                       f'{now - bucket.since:.0f} s not logged (at most {self.per_second:g}/s, '
                       f'bursts of {self.burst}); the latest: {bucket.latest}')
            self.logged += 1
            bucket.held, bucket.latest = 0, ''

    def _emit(self, level: str, text: str) -> None:
        # one call site per level: rclpy refuses a call site whose severity changes
        if level == 'error':
            self._logger.error(text)
        elif level == 'warning':
            self._logger.warning(text)
        else:
            self._logger.info(text)
