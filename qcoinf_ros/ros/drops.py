"""
Drop bad input by class: a first log line for every class, rate-limited summaries, counts.

A drop names its *class*, a short stable identifier of the kind of bad input with no value in
it (``'image.size'``, ``'embedding.stamp_future'``, :func:`qcoinf_ros.core.validation.
require_drop_class`), and a message with the values. The classes are the code's own words, so
a flood of junk with ever-changing values stays in the classes it hits and cannot hide a later,
different problem: the first drop of every class is logged. Pure (no rclpy).
"""

from __future__ import annotations

from collections import Counter
import threading
import time

from qcoinf_ros.core.validation import drop_class_of, require_drop_class

#: Longest message stored and logged [characters]; the rest is cut (a message may quote input).
MAX_REASON_CHARS = 240
#: Classes named in one summary line (the most frequent first); the rest are counted together.
SUMMARY_CLASSES = 16
#: Sanity cap on distinct classes. The classes are literals of the code (a few dozen per node);
#: beyond the cap, which only a bug can reach, drops are counted under :data:`OVERFLOW`.
MAX_CLASSES = 256
OVERFLOW = 'drop.overflow'


def clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Return ``text`` cut to ``limit`` characters, saying how much was cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... [{len(text) - limit} more characters]'


class DropLog:
    """
    Log the first drop of each class; summarise the rest periodically; count every drop.

    Nodes call :meth:`drop` (or :meth:`drop_error`) at the callback boundary and keep running.
    The first drop of a class is logged with its message; further drops of it are counted, and
    while they go on one summary line (the count per class since the last summary; the values
    are in each class's first line) is logged at most every ``summary_period`` seconds, from
    :meth:`drop` or from :meth:`tick` (which a node calls from a timer, so the last burst is
    summarised too). Memory is bounded: at most ``max_classes`` classes (and
    :data:`OVERFLOW`), two clipped messages each. ``counts`` (per class, since start) go to
    the node's ``/diagnostics`` (:meth:`diagnostic_values`). Thread-safe.
    """

    def __init__(self, logger, summary_period: float = 10.0, max_classes: int = MAX_CLASSES,
                 clock=time.monotonic):
        if not (isinstance(summary_period, (int, float)) and summary_period > 0
                and summary_period < float('inf')):
            raise ValueError(f'summary_period must be a finite number > 0 [s], got '
                             f'{summary_period!r}')
        if isinstance(max_classes, bool) or not isinstance(max_classes, int) or max_classes < 1:
            raise ValueError(f'max_classes must be an integer >= 1, got {max_classes!r}')
        self._logger = logger
        self._period, self._max, self._clock = float(summary_period), max_classes, clock
        self._lock = threading.Lock()
        self._last_summary = clock()
        self.counts: Counter[str] = Counter()  # per class, since start
        self.pending: Counter[str] = Counter()  # per class, not logged, since the last summary
        self.first: dict[str, str] = {}  # the message logged for each class
        self.last: dict[str, str] = {}  # the latest message of each class (not logged)

    def drop(self, cls: str, message: str) -> None:
        """Count one drop of class ``cls`` (``ValueError`` if it is no class) with ``message``."""
        require_drop_class(cls)
        message = clip(message)
        with self._lock:
            if cls not in self.counts and len(self.counts) >= self._max:
                cls, message = OVERFLOW, clip(f'[{cls}] {message}')
            self.counts[cls] += 1
            self.last[cls] = message
            if cls not in self.first:
                self.first[cls] = message
                self._logger.warning(
                    f'dropped {cls}: {message} (the first drop of this class; further ones are '
                    f'counted and summarised at most every {self._period:g} s)')
            else:
                self.pending[cls] += 1
            self._summarise(self._clock())

    def drop_error(self, default_cls: str, exc: BaseException, prefix: str = '') -> None:
        """Drop for ``exc``: under the class it names (:class:`InputError`) or ``default_cls``."""
        self.drop(drop_class_of(exc, default_cls), f'{prefix}{exc}')

    def tick(self) -> None:
        """Log the summary if one is due (call from a timer: drops may have stopped)."""
        with self._lock:
            self._summarise(self._clock())

    def _summarise(self, now: float) -> None:
        if not self.pending or now - self._last_summary < self._period:
            return
        ranked = self.pending.most_common()
        shown = ', '.join(f'{cls} x{n}' for cls, n in ranked[:SUMMARY_CLASSES])
        rest = ranked[SUMMARY_CLASSES:]
        if rest:
            shown += f'; {sum(n for _, n in rest)} more in {len(rest)} other classes'
        self._logger.warning(f'drop summary: {sum(self.pending.values())} more drops in the '
                             f'last {now - self._last_summary:.0f} s: {shown}')
        self.pending.clear()
        self._last_summary = now

    @property
    def total(self) -> int:
        """All drops since start."""
        return sum(self.counts.values())

    def diagnostic_values(self) -> dict[str, int]:
        """``dropped_inputs`` (the total) and ``dropped[<class>]`` per class, for a status."""
        with self._lock:
            values = {'dropped_inputs': sum(self.counts.values())}
            values.update((f'dropped[{cls}]', n) for cls, n in sorted(self.counts.items()))
        return values
