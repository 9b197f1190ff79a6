"""
Closed-form rate-distortion bounds for exponentially distributed weight magnitudes.

Paper section IV (Lyu et al., 2026). The source is the weight magnitude theta ~ Exp(lam),
eq. (3), and the distortion measure is |theta - theta_hat|, eq. (15). Rates are in bits per
parameter. With the sign bit kept, a bit-width ``b`` leaves ``R = b - 1`` bits for the
magnitude, which is why problem (P1) evaluates the bounds at ``b - 1``.

All functions accept a scalar or an array for the rate/distortion argument and return a float
for a scalar input, an ``np.ndarray`` otherwise.
"""

from __future__ import annotations

import numpy as np

from qcoinf_ros.core.validation import require_array_finite, require_positive

__all__ = [
    'differential_entropy',
    'rate_lower_bound',
    'distortion_lower_bound',
    'rate_upper_bound',
    'distortion_upper_bound',
    'design_objective',
]


def _out(arr: np.ndarray, scalar: bool):
    return float(arr) if scalar else arr


def _rate(name: str, rate) -> tuple[np.ndarray, bool]:
    arr = np.asarray(rate, dtype=np.float64)
    if np.any(np.isnan(arr)):
        raise ValueError(f'{name} must not be NaN, got {rate!r}')
    if np.any(arr < 0):
        raise ValueError(f'{name} must be >= 0 bits, got {rate!r}')
    return arr, arr.ndim == 0


def _distortion(name: str, distortion) -> tuple[np.ndarray, bool]:
    arr = require_array_finite(name, distortion)
    if np.any(arr <= 0):
        raise ValueError(f'{name} must be > 0, got {distortion!r}')
    return arr, arr.ndim == 0


def differential_entropy(lam: float) -> float:
    """h(Theta) = log2(e / lam) in bits, eq. (21)."""
    lam = require_positive('lam', lam)
    return float(np.log2(np.e / lam))


def rate_lower_bound(distortion, lam: float):
    """
    R^L(D) = -log2(2 lam D), eq. (23): Shannon-type lower bound on R(D).

    It is negative for D > 1/(2 lam), where the trivial bound R(D) >= 0 is the tighter one; the
    value is returned as printed in the paper.
    """
    lam = require_positive('lam', lam)
    d, scalar = _distortion('distortion', distortion)
    return _out(-np.log2(2.0 * lam * d), scalar)


def distortion_lower_bound(rate, lam: float):
    """D^L(R) = 1 / (lam 2^(R+1)), eq. (24): lower bound on the distortion-rate function."""
    lam = require_positive('lam', lam)
    r, scalar = _rate('rate', rate)
    return _out(1.0 / (lam * np.exp2(r + 1.0)), scalar)


def rate_upper_bound(distortion, lam: float):
    """R^U(D) = log2(1/(lam D) + lam D/(lam D + 1)), eq. (25): Laplacian test-channel bound."""
    lam = require_positive('lam', lam)
    d, scalar = _distortion('distortion', distortion)
    x = lam * d
    # 1/x + x/(x+1) = 1 + 1/(x(x+1)): log1p keeps the digits when lam D is large (R -> 0)
    with np.errstate(over='ignore'):
        return _out(np.log1p(1.0 / (x * (x + 1.0))) / np.log(2.0), scalar)


def distortion_upper_bound(rate, lam: float):
    """
    D^U(R) = (1/(2 lam)) (sqrt(1 + 4/(2^R - 1)) - 1), eq. (26).

    D^U(0) is infinite (the test channel of Proposition 4.2 needs R > 0); ``inf`` is returned
    there, never an error, so callers treat b = 1 (R = 0) explicitly.

    Evaluated as ``2 / (lam u (sqrt(1 + 4/u) + 1))`` with ``u = 2^R - 1``, algebraically equal
    to eq. (26) but free of the cancellation in ``sqrt(1 + 4/u) - 1``, which lost all digits
    for R >= ~53 (D^U evaluated to 0, making the objective negative and non-monotone).
    """
    lam = require_positive('lam', lam)
    r, scalar = _rate('rate', rate)
    with np.errstate(over='ignore'):  # u = inf for huge R gives D^U = 0, as it should
        denom = np.expm1(r * np.log(2.0))  # u = 2^R - 1, accurate for small R
    safe = np.where(denom > 0.0, denom, 1.0)
    value = np.where(
        denom > 0.0,
        2.0 / (lam * safe * (np.sqrt(1.0 + 4.0 / safe) + 1.0)),
        np.inf,
    )
    return _out(value, scalar)


def design_objective(bit_width, lam: float):
    """
    Objective of (P1): D^U(b - 1) - D^L(b - 1), eqs. (24), (26) and (30).

    ``bit_width`` may be fractional (the relaxation of (P2)); it must be >= 1. At b = 1 the
    objective is ``inf``. The objective is strictly decreasing in b (see the tests).
    """
    b = np.asarray(bit_width, dtype=np.float64)
    if np.any(np.isnan(b)) or np.any(b < 1.0):
        raise ValueError(f'bit_width must be >= 1, got {bit_width!r}')
    rate = b - 1.0
    value = np.asarray(distortion_upper_bound(rate, lam)) - np.asarray(
        distortion_lower_bound(rate, lam))
    return _out(value, b.ndim == 0)
