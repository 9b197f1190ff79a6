"""
Fair intake of frames from several publishers: one bounded queue per source, round robin.

A node that takes camera frames on a topic cannot trust that only the camera publishes there.
:class:`FairQueue` keeps a bounded FIFO per source (the publisher's GID where the middleware
gives it, else the frame's ``frame_id``), at most ``max_sources`` of them (a new source evicts
the one heard from least recently), and hands out one item at a time, round robin across
sources: a publisher flooding the topic at 500 Hz fills its own queue and drops its own oldest
frames, and the camera's frames are still taken in turn. With ``max_rate_hz`` a source's items
closer together than ``1 / max_rate_hz`` are dropped at once (a flood then costs the encoder no
time: on a small machine the CPU it would take is what the camera's frames need to be taken
from the middleware at all). The callback only puts (O(1), so the middleware's queue is drained
at once); a worker thread takes. No rclpy here.
"""

from __future__ import annotations

from collections import deque, OrderedDict
import math
import threading
import time
from typing import Any, Hashable

from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative

__all__ = ['FairQueue']


class FairQueue:
    """Bounded per-source FIFOs served round robin; thread-safe."""

    def __init__(self, depth: int = 2, max_sources: int = 16, max_rate_hz: float = 0.0,
                 clock=time.monotonic):
        self.depth = require_int_in_range('depth', depth, 1, 100000)
        self.max_sources = require_int_in_range('max_sources', max_sources, 1, 4096)
        rate = require_nonnegative('max_rate_hz', max_rate_hz)
        self._min_interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._queues: OrderedDict[Hashable, deque] = OrderedDict()  # least recently heard first
        self._turn: deque = deque()  # sources with items, in the order they are served
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0  # items pushed out by a newer one of the same source, or evicted
        self.throttled = 0  # of those, items of a source faster than max_rate_hz

    def put(self, source: Hashable, item: Any) -> int:
        """Queue ``item`` of ``source``; return how many items this dropped (0 or more)."""
        with self._cond:
            if self._min_interval:
                now = self._clock()
                if now - self._last.get(source, -math.inf) < self._min_interval:
                    self.dropped += 1
                    self.throttled += 1
                    return 1  # faster than max_rate_hz: this item is not queued
                self._last[source] = now
            dropped = 0
            queue = self._queues.get(source)
            if queue is None:
                if len(self._queues) >= self.max_sources:
                    old, old_queue = self._queues.popitem(last=False)
                    dropped += len(old_queue)
                    self._last.pop(old, None)
                    if old in self._turn:
                        self._turn.remove(old)
                queue = self._queues[source] = deque()
            else:
                self._queues.move_to_end(source)
            if len(queue) >= self.depth:
                queue.popleft()
                dropped += 1
            queue.append(item)
            if source not in self._turn:
                self._turn.append(source)
            self.dropped += dropped
            self._cond.notify()
            return dropped

    def take(self, timeout: float | None = None):
        """Return ``(source, item)`` of the next source in turn, or None on timeout or close."""
        with self._cond:
            if not self._turn and not self._closed:
                self._cond.wait(timeout)
            if not self._turn:
                return None
            source = self._turn.popleft()
            queue = self._queues[source]
            item = queue.popleft()
            if queue:
                self._turn.append(source)  # back of the line: the others go first
            return source, item

    def close(self) -> None:
        """Wake every waiting :meth:`take` (they return None once the queues are empty)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    @property
    def sources(self) -> int:
        with self._cond:
            return len(self._queues)
