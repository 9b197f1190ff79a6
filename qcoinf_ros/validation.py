"""
Input checks shared by the pure core.

Every public function of the core validates its arguments with these helpers, so bad input
raises ``ValueError`` naming the offending value (never ``assert``: asserts vanish with -O).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise ValueError(f'{name} must be a real number, got {value!r}')
    out = float(value)
    if math.isnan(out):
        raise ValueError(f'{name} must not be NaN, got {value!r}')
    return out


def require_finite(name: str, value) -> float:
    """Return ``value`` as a float; raise ``ValueError`` if it is NaN or infinite."""
    out = _as_float(name, value)
    if not math.isfinite(out):
        raise ValueError(f'{name} must be finite, got {value!r}')
    return out


def require_positive(name: str, value, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a float > 0; raise ``ValueError`` naming the value otherwise."""
    out = _as_float(name, value) if allow_inf else require_finite(name, value)
    if not out > 0.0:
        raise ValueError(f'{name} must be > 0, got {value!r}')
    return out


def require_nonnegative(name: str, value, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a float >= 0; raise ``ValueError`` naming the value otherwise."""
    out = _as_float(name, value) if allow_inf else require_finite(name, value)
    if out < 0.0:
        raise ValueError(f'{name} must be >= 0, got {value!r}')
    return out


def require_int_in_range(name: str, value, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``; raise ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        if isinstance(value, (Real, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f'{name} must be an integer, got {value!r}')
    out = int(value)
    if out < low or (high is not None and out > high):
        bound = f'[{low}, {high}]' if high is not None else f'>= {low}'
        raise ValueError(f'{name} must be in {bound}, got {value!r}')
    return out


def require_array_finite(name: str, values) -> np.ndarray:
    """Return ``values`` as a float64 array; raise ``ValueError`` on NaN or infinity."""
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise ValueError(f'{name} must be finite, got {bad!r} in {name}')
    return arr
