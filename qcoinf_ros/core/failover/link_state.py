"""
Is the edge server answering? The robot's view of its link to the decoder (issue 27, item 1).

:class:`LinkMonitor` is a state machine fed by what the agent encoder sees:

* an embedding sent for a frame (its key: stamp and frame_id) at a time;
* an answer received for a frame (the decoder's ``qcoinf/latency`` carries the frame's header),
  which gives the round trip ``answer time - send time``;
* the number of decoders present (readers of ``qcoinf/embedding``, writers of ``qcoinf/latency``:
  the middleware's matched counts) and the decoder's liveliness (a QoS event);
* a periodic :meth:`LinkMonitor.tick` that finds the frames whose answer is overdue.

States:

``SPLIT``
    the server answers within the timeout: split inference runs as planned.
``SUSPECT``
    at least one answer missed, fewer than ``loss_after_missed`` in a row: still split, but a
    consumer may get ready (warm a local decoder).
``LOST``
    the server is not answering: declared at once when it is certainly gone (no decoder matched,
    liveliness lost) and after ``loss_after_missed`` consecutive missed answers otherwise. The
    monitor starts here (no decoder has answered yet).

An answer is missed when it has not arrived ``timeout`` seconds after its embedding was sent
(the planner's deadline T0 when one is known, :meth:`LinkMonitor.set_deadline`, else
``answer_timeout``), when it arrives later than that, or when its frame is pushed out of the
bounded in-flight table (``max_in_flight`` frames: an answer that has not come while that many
newer frames went out is late by any measure). An answer within the timeout resets the count of
misses. Recovery (``LOST`` -> ``SPLIT``) takes ``recover_after_answers`` consecutive answers
within the timeout while a decoder is present and alive; after a decoder reappeared (its matched
count came back from 0, or its liveliness was regained) one answer suffices when no other frame
is in flight (a slow camera need not wait for several frames). Answers to frames already counted
missed are counted ``late`` and change nothing (hysteresis works on fresh answers only).

Every transition is kept (a bounded history) with its time and reason. No rclpy here: times are
seconds of any monotonic clock the caller injects; a clock that steps back is held at the
latest time seen (a round trip is never negative). Not thread-safe: the caller serializes.
"""

from __future__ import annotations

from collections import deque, OrderedDict
from dataclasses import dataclass
from typing import Hashable

from qcoinf_ros.core.validation import require_int_in_range, require_physical

__all__ = ['LinkMonitor', 'LinkSnapshot', 'LOST', 'SPLIT', 'STATES', 'SUSPECT', 'Transition']

SPLIT, SUSPECT, LOST = 'SPLIT', 'SUSPECT', 'LOST'
#: Every state, from the best to the worst.
STATES = (SPLIT, SUSPECT, LOST)

#: Longest timeout taken [s] (a day): beyond, a deadline is a corrupt value.
MAX_TIMEOUT_S = 86400.0


@dataclass(frozen=True)
class Transition:
    """One change of state: when (the monitor's clock), from, to and why."""

    at: float
    old: str
    new: str
    reason: str


@dataclass(frozen=True)
class LinkSnapshot:
    """The monitor's state and counters at one time (what ``qcoinf/link_state`` carries)."""

    state: str
    reason: str
    since: float
    timeout_s: float
    missed: int          # consecutive missed answers (reset by an answer within the timeout)
    answers: int         # consecutive answers within the timeout (reset by a miss)
    decoders: int | None  # decoders present (None: not known yet)
    alive: bool          # the decoder's liveliness (True until an event says otherwise)
    in_flight: int
    sent: int
    answered: int
    missed_total: int
    late: int
    rtt_s: float | None  # the last round trip measured
    transitions: int


class LinkMonitor:
    """The SPLIT / SUSPECT / LOST state machine of the robot-server link (module docstring)."""

    def __init__(self, loss_after_missed: int = 3, recover_after_answers: int = 3,
                 answer_timeout: float = 1.0, max_in_flight: int = 256, history: int = 32,
                 now: float = 0.0):
        """Start in ``LOST`` at ``now``; ``ValueError`` naming a bad parameter and its value."""
        self.loss_after_missed = require_int_in_range('loss_after_missed', loss_after_missed,
                                                      1, 100)
        self.recover_after_answers = require_int_in_range(
            'recover_after_answers', recover_after_answers, 1, 100)
        self.answer_timeout = require_physical('answer_timeout', answer_timeout,
                                               high=MAX_TIMEOUT_S)
        self.max_in_flight = require_int_in_range('max_in_flight', max_in_flight, 1, 100000)
        require_int_in_range('history', history, 1, 100000)
        self._now = require_physical('now', now, positive=False)
        self._deadline: float | None = None
        self._in_flight: OrderedDict[Hashable, float] = OrderedDict()
        self.state = LOST
        self.reason = 'no answer from a decoder yet'
        self.since = self._now
        self.history: deque[Transition] = deque(maxlen=history)
        self._transitions = 0
        self._missed = self._answers = 0
        self._sent = self._answered = self._missed_total = self._late = 0
        self._rtt: float | None = None
        self._decoders: int | None = None
        self._alive = True
        self._returned = False  # a decoder (re)appeared since the loss

    # -- parameters ------------------------------------------------------------------------
    @property
    def timeout(self) -> float:
        """Seconds an answer may take: the deadline T0 when known, else ``answer_timeout``."""
        return self._deadline if self._deadline is not None else self.answer_timeout

    def set_deadline(self, t0: float | None) -> None:
        """Take the planner's deadline T0 [s] as the timeout (None: back to answer_timeout)."""
        self._deadline = None if t0 is None else require_physical('deadline', t0,
                                                                  high=MAX_TIMEOUT_S)

    # -- inputs ------------------------------------------------------------------------------
    def sent(self, key: Hashable, now: float) -> list[Transition]:
        """Record an embedding sent for the frame ``key``; a repeated key keeps its first time."""
        now = self._clock(now)
        self._sent += 1
        changes: list[Transition] = []
        if key in self._in_flight:
            return changes
        while len(self._in_flight) >= self.max_in_flight:
            self._in_flight.popitem(last=False)
            changes += self._miss(now, f'more than max_in_flight = {self.max_in_flight} frames '
                                       'unanswered')
        self._in_flight[key] = now
        return changes

    def answered(self, key: Hashable, now: float) -> list[Transition]:
        """Record the answer for the frame ``key``: within the timeout it counts as good."""
        now = self._clock(now)
        sent_at = self._in_flight.pop(key, None)
        if sent_at is None:  # already counted missed, or not a frame this agent sent
            self._late += 1
            return []
        self._answered += 1
        self._rtt = now - sent_at
        if self._rtt > self.timeout:
            return self._miss(now, f'answer after {self._rtt:.3f} s, more than the timeout '
                                   f'{self.timeout:g} s')
        self._missed = 0
        # answers count towards recovery only while a decoder is present and alive
        self._answers = self._answers + 1 if self._present else 0
        if self.state == SUSPECT:
            return self._move(SPLIT, now, f'answer within the timeout ({self._rtt:.3f} s)')
        if self.state == LOST and self._present:
            if self._answers >= self.recover_after_answers:
                return self._move(SPLIT, now, f'{self._answers} answers in a row within the '
                                              f'timeout (last {self._rtt:.3f} s)')
            if self._returned and not self._in_flight:
                return self._move(SPLIT, now, f'a decoder reappeared and answered in '
                                              f'{self._rtt:.3f} s')
        return []

    def decoders(self, count: int, now: float) -> list[Transition]:
        """Take the number of decoders present; 0 is a certain loss, declared at once."""
        now = self._clock(now)
        count = require_int_in_range('decoders', count, 0)
        before, self._decoders = self._decoders, count
        if count == 0 and before != 0:
            return self._lose(now, 'no decoder matched (qcoinf/embedding has no reader or '
                                   'qcoinf/latency no writer)')
        if count > (before or 0):  # a decoder (re)appeared: the first, or one more
            self._returned = True
        return []

    def liveliness(self, alive: bool, now: float) -> list[Transition]:
        """Take the decoder's liveliness; its loss is a certain loss, declared at once."""
        now = self._clock(now)
        before, self._alive = self._alive, bool(alive)
        if not self._alive and before:
            return self._lose(now, "the decoder's liveliness was lost")
        if self._alive and not before:
            self._returned = True
        return []

    def tick(self, now: float) -> list[Transition]:
        """Count the frames whose answer is overdue at ``now`` as missed (oldest first)."""
        now = self._clock(now)
        changes: list[Transition] = []
        timeout = self.timeout
        while self._in_flight:
            key, sent_at = next(iter(self._in_flight.items()))
            if now - sent_at <= timeout:
                break  # the table is in send order: the rest are younger
            del self._in_flight[key]
            changes += self._miss(now, f'no answer within the timeout {timeout:g} s')
        return changes

    # -- output ------------------------------------------------------------------------------
    def snapshot(self) -> LinkSnapshot:
        """Return the state and counters now."""
        return LinkSnapshot(
            state=self.state, reason=self.reason, since=self.since, timeout_s=self.timeout,
            missed=self._missed, answers=self._answers, decoders=self._decoders,
            alive=self._alive, in_flight=len(self._in_flight), sent=self._sent,
            answered=self._answered, missed_total=self._missed_total, late=self._late,
            rtt_s=self._rtt, transitions=self._transitions)

    # -- internals ---------------------------------------------------------------------------
    @property
    def _present(self) -> bool:
        return self._decoders != 0 and self._alive

    def _clock(self, now: float) -> float:
        self._now = max(self._now, require_physical('now', now, positive=False))
        return self._now

    def _miss(self, now: float, reason: str) -> list[Transition]:
        self._missed += 1
        self._missed_total += 1
        self._answers = 0
        if self.state == LOST:
            return []
        if self._missed >= self.loss_after_missed:
            return self._lose(now, f'{self._missed} answers missed in a row (last: {reason})')
        if self.state == SPLIT:
            return self._move(SUSPECT, now, f'answer missed ({reason})')
        return []

    def _lose(self, now: float, reason: str) -> list[Transition]:
        self._answers = 0
        self._returned = False
        if self.state == LOST:
            return []
        return self._move(LOST, now, reason)

    def _move(self, new: str, now: float, reason: str) -> list[Transition]:
        change = Transition(now, self.state, new, reason)
        self.state, self.reason, self.since = new, reason, now
        if new == LOST:
            self._returned = False
        self.history.append(change)
        self._transitions += 1
        return [change]
