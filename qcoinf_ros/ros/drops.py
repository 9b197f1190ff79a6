"""Drop bad input with one log line per distinct reason, and count what was dropped."""

from __future__ import annotations

from collections import Counter
import time

#: Longest reason stored and logged [characters]; the rest is cut (a reason may quote input).
MAX_REASON_CHARS = 240
OTHER = '(other reasons)'


def clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Return ``text`` cut to ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... [{len(text) - limit} more characters]'


class DropLog:
    """
    Log the first occurrence of each reason a message was dropped; count every drop. Bounded.

    Nodes call :meth:`drop` at the callback boundary and keep running; the counts go to
    ``/diagnostics``. Reasons are cut to :data:`MAX_REASON_CHARS` before they are stored or
    logged, at most ``max_reasons`` distinct ones are remembered, and reasons beyond those are
    still logged, at most ``burst`` of them per ``period`` seconds (counted under
    ``'<what>: (other reasons)'``), so that a flood of distinct junk neither grows memory nor
    blinds the log to a later, real problem.
    """

    def __init__(self, logger, max_reasons: int = 64, burst: int = 10, period: float = 60.0,
                 clock=time.monotonic):
        self._logger = logger
        self._max = max_reasons
        self._burst, self._period, self._clock = burst, period, clock
        self._window_start = -float('inf')
        self._window_logged = 0
        self.suppressed = 0
        self.counts: Counter[str] = Counter()

    def drop(self, what: str, reason: str) -> None:
        what, reason = clip(what, 64), clip(reason)
        key = f'{what}: {reason}'
        if key in self.counts:
            self.counts[key] += 1
            return
        if len(self.counts) < self._max:
            self.counts[key] = 1
            self._logger.warning(f'dropped {what}: {reason} (logged once; further drops for '
                                 'this reason are only counted)')
            return
        self.counts[f'{what}: {OTHER}'] += 1  # ``what`` is the node's own word: few keys
        now = self._clock()
        if now - self._window_start >= self._period:
            self._window_start, self._window_logged = now, 0
        if self._window_logged < self._burst:
            self._window_logged += 1
            self._logger.warning(
                f'dropped {what}: {reason} (more than {self._max} distinct reasons: new ones '
                f'are logged at most {self._burst} per {self._period:g} s'
                + (f'; {self.suppressed} not logged' if self.suppressed else '') + ')')
        else:
            self.suppressed += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())
