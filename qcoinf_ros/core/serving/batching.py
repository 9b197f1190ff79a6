"""
Batching of embeddings from several agents at one edge server, and the queueing delay.

The paper's delay model, eq. (8), is ``T = t(b, f) + t~(f~)`` for one agent alone on the
server. With N agents sharing one decoder, an embedding also waits at the server before its
decode starts: the *server queueing delay* ``t_q`` (arrival -> decode start), measured per agent
by the server. The delay constraint (30a) then reads ``t(b, f) + t~(f~) + t_comm + t_q <= T0``,
i.e. the planner solves (P1) with the budget ``T0 - t_q`` (:func:`effective_deadline`).

:class:`BatchQueue` is the server's waiting room: one bounded FIFO per agent (the oldest is
dropped beyond ``depth``, as a KEEP_LAST reader history would), and :meth:`BatchQueue.take`
hands the decoder up to ``max_batch`` embeddings that arrived together, oldest first, waiting at
most ``max_wait`` seconds after the oldest one for more to join. No rclpy here.
"""

from __future__ import annotations

from collections import deque, OrderedDict
from dataclasses import dataclass
import math
import re
import threading
import time
from typing import Any, Callable, Hashable

from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative

__all__ = ['Pending', 'BatchQueue', 'DelayWindow', 'agent_topic', 'effective_deadline']

_NAMESPACE = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')


def agent_topic(namespace: str, topic: str) -> str:
    """
    Topic ``topic`` of the agent in ``namespace``, relative to the server node's namespace.

    ``''`` is the server's own namespace (the single-agent set-up): ``agent_topic('',
    'qcoinf/caption') == 'qcoinf/caption'``, ``agent_topic('robot1', 'qcoinf/caption') ==
    'robot1/qcoinf/caption'``. Raises ``ValueError`` on a namespace ROS would reject.
    """
    if not isinstance(namespace, str):
        raise ValueError(f'agent namespace must be a string, got {namespace!r}')
    name = namespace.strip('/')
    if not name:
        return topic
    if not _NAMESPACE.fullmatch(name):
        raise ValueError(f'invalid agent namespace {namespace!r} (letters, digits, _ and /; '
                         'no leading digit)')
    return f'{name}/{topic}'


def effective_deadline(t0: float, queue_delay: float) -> float:
    """
    Budget left to eq. (8) once the server queueing delay is set aside: ``max(T0 - t_q, 0)``.

    ``T(b, f, f~) + t_q <= T0`` is (30a) with the measured queueing delay ``t_q`` of this agent
    at the shared server; a budget of 0 makes (P1) infeasible (the planner then publishes its
    safest fallback).
    """
    t0 = require_nonnegative('t0', t0)
    queue_delay = require_nonnegative('queue_delay', queue_delay)
    return max(t0 - queue_delay, 0.0)


@dataclass(frozen=True)
class Pending:
    """One embedding waiting at the server: its agent (index), the item, arrival time [s]."""

    agent: int
    item: Any
    arrived: float
    source: Hashable = None


class BatchQueue:
    """
    Per-agent, per-source bounded FIFOs from which the decoder takes batches (thread-safe).

    ``put`` is called by the subscription callbacks, ``take`` by the decoding thread. Within an
    agent each ``source`` (the frame's ``frame_id``) has its own FIFO of ``depth``, at most
    ``max_sources`` of them (a new one evicts the least recently heard): a flood of frames of
    one source pushes out its own oldest, never the camera's, and since ``take`` serves the
    oldest first, the camera's embedding is decoded in its turn.
    """

    def __init__(self, agents: int, depth: int = 2,
                 clock: Callable[[], float] = time.monotonic, max_sources: int = 16):
        self.agents = require_int_in_range('agents', agents, 1)
        self.depth = require_int_in_range('depth', depth, 1)
        self.max_sources = require_int_in_range('max_sources', max_sources, 1)
        self._clock = clock
        self._queues: list[OrderedDict[Hashable, deque[Pending]]] = [
            OrderedDict() for _ in range(self.agents)]
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return self._count()

    def put(self, agent: int, item: Any, source: Hashable = None) -> Pending | None:
        """Queue ``item`` of agent ``agent``; return the oldest one dropped when full, or None."""
        agent = require_int_in_range('agent', agent, 0, self.agents - 1)
        with self._cond:
            sources = self._queues[agent]
            dropped = None
            queue = sources.get(source)
            if queue is None:
                if len(sources) >= self.max_sources:
                    _, evicted = sources.popitem(last=False)
                    dropped = evicted[0] if evicted else None
                queue = sources[source] = deque()
            sources.move_to_end(source)
            if len(queue) >= self.depth:
                dropped = queue.popleft()
            queue.append(Pending(agent, item, self._clock(), source))
            self._cond.notify_all()
        return dropped

    def close(self) -> None:
        """Wake any waiting ``take`` (it returns what is pending, then nothing)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _all(self):
        return (q for sources in self._queues for q in sources.values())

    def _count(self) -> int:
        return sum(len(q) for q in self._all())

    def _oldest(self) -> float:
        return min(q[0].arrived for q in self._all() if q)

    def take(self, max_batch: int = 1, max_wait: float = 0.0,
             timeout: float | None = None) -> list[Pending]:
        """
        Up to ``max_batch`` pending embeddings, oldest first ([] after ``timeout`` or close).

        Waits (up to ``timeout`` seconds; None = no limit) for one embedding, then until
        ``max_batch`` are pending or ``max_wait`` seconds have passed since the oldest arrived,
        whichever comes first: embeddings that arrived while the decoder was busy are taken
        together at once.
        """
        max_batch = require_int_in_range('max_batch', max_batch, 1)
        max_wait = require_nonnegative('max_wait', max_wait)
        end = math.inf if timeout is None else self._clock() + require_nonnegative(
            'timeout', timeout)
        with self._cond:
            while not self._count() and not self._closed:
                left = end - self._clock()
                if left <= 0.0:
                    return []
                self._cond.wait(None if math.isinf(left) else left)
            while self._count() < max_batch and not self._closed:
                left = self._oldest() + max_wait - self._clock()
                if left <= 0.0:
                    break
                self._cond.wait(left)
            pending = sorted((p for q in self._all() for p in q), key=lambda p: p.arrived)
            batch = pending[:max_batch]
            for p in batch:
                sources = self._queues[p.agent]
                sources[p.source].popleft()
                if not sources[p.source]:
                    del sources[p.source]
            return batch


class DelayWindow:
    """Mean of the last ``size`` delays [s] (the queueing delay a server publishes per agent)."""

    def __init__(self, size: int = 20):
        self.size = require_int_in_range('size', size, 1)
        self._values: deque[float] = deque(maxlen=self.size)

    def add(self, seconds: float) -> float:
        """Record one delay (>= 0) and return the new mean."""
        self._values.append(require_nonnegative('delay', seconds))
        return self.mean

    @property
    def mean(self) -> float:
        """Mean of the recorded delays (0 before any)."""
        return sum(self._values) / len(self._values) if self._values else 0.0

    def __len__(self) -> int:
        return len(self._values)
