"""
Summary statistics of a sample: the one home of the package's percentiles.

Every report that prints a latency's (or any sample's) percentiles takes them from here: the
bag report and the live monitor (:class:`Summary`), the soak bench's JSON
(:func:`percentiles`), the planner bench's p99 and the weight histograms' range
(:func:`percentile`). Percentiles are numpy's default (linear interpolation between the order
statistics), so ``percentile(range(101), 95) == 95``.

Pure numpy: no ROS, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Iterable, Sequence

import numpy as np

#: The percentiles a :class:`Summary` holds.
SUMMARY_PERCENTILES = (50, 90, 95, 99)


def _array(values: Iterable[float] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(float, copy=False).reshape(-1)
    return np.asarray(list(values), dtype=float)


def percentile(values: Iterable[float] | np.ndarray, q: float) -> float:
    """
    Return a percentile ``q`` (0..100) of ``values``; NaN when there are none.

    Raises ``ValueError`` for a ``q`` outside [0, 100].
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f'percentile must be in [0, 100], got {q!r}')
    arr = _array(values)
    return float(np.percentile(arr, q)) if arr.size else math.nan


def percentiles(values: Iterable[float] | np.ndarray,
                qs: Sequence[float] = (50, 95, 99)) -> dict[str, float]:
    """
    Return ``{'p50': ..., 'p95': ..., 'p99': ..., 'max': ...}`` of ``values``.

    Every entry is NaN for an empty sample (a JSON-friendly form: ``qcoinf bench soak --json``).
    """
    arr = _array(values)
    out = {f'p{q:g}': percentile(arr, q) for q in qs}
    out['max'] = float(arr.max()) if arr.size else math.nan
    return out


@dataclass(frozen=True)
class Summary:
    """Distribution summary of a sample: count, mean, p50/p90/p95/p99, max (finite values)."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float  # noqa: A003

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary | None:
        """Return the summary of the finite ones of ``values``, or None when there are none."""
        x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
        if x.size == 0:
            return None
        p50, p90, p95, p99 = (float(v) for v in np.percentile(x, SUMMARY_PERCENTILES))
        return cls(int(x.size), float(x.mean()), p50, p90, p95, p99, float(x.max()))
