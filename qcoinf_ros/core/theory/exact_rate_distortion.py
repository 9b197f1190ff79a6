"""
Exact distortion-rate function of the Exp(lam) source under |theta - theta_hat|.

Not in the paper: the paper bounds D(R) by D^L, eq. (24), and D^U, eq. (26), and estimates it
numerically (Fig. 4). For this source and distortion measure D(R) has a closed form, derived
here from Berger's parametric conditions (Berger 1971, Thm. 2.5.3): for a slope s (nats per
unit distortion, in units lam = 1) and an output law q, let
``Z(x) = int q(y) exp(-s|x - y|) dy`` and ``c(y) = int p(x) exp(-s|x - y|) / Z(x) dx``; if
``c(y) <= 1`` for every y with equality on the support of q, then q is optimal and
``R = -s D - E ln Z(theta)``. For s >= 1 the output law

    q = (1/s) delta_t + (1 - 1/s^2) exp(-y) dy on (t, inf),   t = ln(1 + 1/s),

gives ``Z(x) = (2/s) exp(-x)`` on the support (so c = 1 there), ``c(y) < 1`` on [0, t) (checked
by quadrature in the tests) and ``c(y) = exp(s y) c(0) < 1`` for y < 0, with
``D = ln(1 + 1/s)`` and ``R = ln((s + 1) / 2)`` nats. Eliminating s:

    D(R) = -ln(1 - 2^-(R+1)) / lam,     R(D) = -log2(2 (1 - exp(-lam D)))  (0 for D >= ln2/lam).

Consequences: D^L(R) = 2^-(R+1)/lam <= D(R) with a relative gap ~2^-(R+2) (the Shannon lower
bound is asymptotically tight), while D^U(R) -> 2 D(R) (one bit) at high rate. The Blahut-
Arimoto estimate of :mod:`qcoinf_ros.core.theory.blahut_arimoto` agrees with this to ~3e-4
relative.
"""

from __future__ import annotations

import numpy as np

from qcoinf_ros.core.theory.rate_distortion import _distortion, _out, _rate
from qcoinf_ros.core.validation import require_positive

__all__ = ['exact_distortion_rate', 'exact_rate_distortion']


def exact_distortion_rate(rate, lam: float):
    """
    D(R) = -ln(1 - 2^-(R+1)) / lam of the Exp(lam) source under |.| (closed form above).

    ``D(0) = ln 2 / lam`` (reproduce by the median). Rates in bits, ``rate >= 0``.
    """
    lam = require_positive('lam', lam)
    r, scalar = _rate('rate', rate)
    return _out(-np.log1p(-np.exp2(-(r + 1.0))) / lam, scalar)


def exact_rate_distortion(distortion, lam: float):
    """R(D) = max(0, -log2(2 (1 - exp(-lam D)))) bits, the inverse of exact_distortion_rate."""
    lam = require_positive('lam', lam)
    d, scalar = _distortion('distortion', distortion)
    value = np.maximum(-np.log2(-2.0 * np.expm1(-lam * d)), 0.0)
    return _out(value, scalar)
