"""Drop bad input with one log line per distinct reason, and count what was dropped."""

from __future__ import annotations

from collections import Counter


class DropLog:
    """
    Log the first occurrence of each reason a message was dropped; count every drop.

    Nodes call :meth:`drop` at the callback boundary and keep running; the counts go to
    ``/diagnostics``.
    """

    def __init__(self, logger, max_reasons: int = 256):
        self._logger = logger
        self._max = max_reasons
        self.counts: Counter[str] = Counter()

    def drop(self, what: str, reason: str) -> None:
        key = f'{what}: {reason}'
        first = key not in self.counts
        if first and len(self.counts) >= self._max:
            key = f'{what}: (other reasons)'
            first = key not in self.counts
        self.counts[key] += 1
        if first:
            self._logger.warning(f'dropped {what}: {reason} (logged once; further drops for '
                                 'this reason are only counted)')

    @property
    def total(self) -> int:
        return sum(self.counts.values())
