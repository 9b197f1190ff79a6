"""
Input checks shared by the pure core.

Every public function of the core validates its arguments with these helpers, so bad input
raises ``ValueError`` naming the offending value (never ``assert``: asserts vanish with -O).
"""

from __future__ import annotations

import math
from numbers import Integral, Real
import re
import sys

import numpy as np


#: A drop class: dot-separated lowercase words, no digits, at most :data:`MAX_DROP_CLASS_CHARS`
#: characters (``'image.size'``, ``'embedding.stamp_future'``). It names a kind of bad input,
#: never a value of one, so that junk input cannot make new classes.
DROP_CLASS_PATTERN = re.compile(r'[a-z_]+(\.[a-z_]+)*\Z')
MAX_DROP_CLASS_CHARS = 64


def require_drop_class(cls) -> str:
    """Return ``cls`` if it is a drop class (:data:`DROP_CLASS_PATTERN`); else ``ValueError``."""
    if not (isinstance(cls, str) and len(cls) <= MAX_DROP_CLASS_CHARS
            and DROP_CLASS_PATTERN.match(cls)):
        raise ValueError(f'drop class must be dot-separated lowercase words without digits '
                         f'(at most {MAX_DROP_CLASS_CHARS} characters), got {cls!r:.80}')
    return cls


class InputError(ValueError):
    """
    A ``ValueError`` for bad input that names the class of the problem (``drop_class``).

    Raised by the core where one function finds several kinds of bad input (an image's size,
    its encoding, its data), so that a node's drop log tells them apart; everything catching
    ``ValueError`` catches it unchanged.
    """

    def __init__(self, drop_class: str, message: str):
        super().__init__(message)
        self.drop_class = require_drop_class(drop_class)


def drop_class_of(exc: BaseException, default: str) -> str:
    """Return the drop class ``exc`` names (an :class:`InputError`), else ``default``."""
    return exc.drop_class if isinstance(exc, InputError) else require_drop_class(default)


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise ValueError(f'{name} must be a real number, got {value!r}')
    try:
        out = float(value)
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f'{name} is beyond the float range, got {value!r:.40}') from None
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
    _refuse_subnormal(name, out, value)
    return out


def require_nonnegative(name: str, value, *, allow_inf: bool = False) -> float:
    """Return ``value`` as a float >= 0; raise ``ValueError`` naming the value otherwise."""
    out = _as_float(name, value) if allow_inf else require_finite(name, value)
    if out < 0.0:
        raise ValueError(f'{name} must be >= 0, got {value!r}')
    _refuse_subnormal(name, out, value)
    return out


def _refuse_subnormal(name: str, out: float, value) -> None:
    if out != 0.0 and abs(out) < TINY:
        raise ValueError(f'{name} must not be subnormal (below {TINY:g}), got {value!r}')


#: Smallest positive normal float: a physical quantity below it is a corrupt value, not a
#: measurement (divisions by it overflow to inf, and 1 / 5e-324 raises).
TINY = sys.float_info.min


def physical_quantity_reason(value, *, positive: bool = True, high: float | None = None):
    """
    Return why ``value`` is not a usable physical quantity (seconds, joules, hertz), or None.

    Usable: a real number (not bool), finite, ``> 0`` (or ``>= 0`` with ``positive=False``) and
    not subnormal: ``0 < |x| < sys.float_info.min`` passes a naive "positive and finite" check,
    yet ``1 / x`` overflows (a 1e-310 s deadline made the planner divide by zero). ``high``
    bounds it from above. Integers beyond the float range are refused, not raised on.
    """
    try:
        out = require_finite('value', value)
    except ValueError as exc:
        return str(exc).replace('value ', '', 1)
    if positive and not out > 0.0:
        return f'must be > 0, got {value!r}'
    if not positive and out < 0.0:
        return f'must be >= 0, got {value!r}'
    if out != 0.0 and abs(out) < TINY:
        return f'must not be subnormal (below {TINY:g}), got {value!r}'
    if high is not None and out > high:
        return f'must be <= {high:g}, got {value!r}'
    return None


def require_physical(name: str, value, *, positive: bool = True,
                     high: float | None = None) -> float:
    """Return ``value`` as a float; ``ValueError`` naming it if it is not a physical quantity."""
    reason = physical_quantity_reason(value, positive=positive, high=high)
    if reason is not None:
        raise ValueError(f'{name} {reason}')
    return float(value)


def require_int_in_range(name: str, value, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``; raise ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (Integral, np.integer)):
        if isinstance(value, (Real, np.floating)) and float(value).is_integer():
            value = int(float(value))
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


def require_fields(owner, checks) -> None:
    """
    Raise ``ValueError`` naming the first attribute of ``owner`` whose check failed.

    ``checks``: ``(attribute name, passed)`` pairs, in the order the fields are reported.
    """
    for name, passed in checks:
        if not passed:
            raise ValueError(f'{name} out of range: {getattr(owner, name)!r}')
