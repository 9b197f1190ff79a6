"""Closed-form D(R) of the Exp(lam) source under |.|, and the optimality proof behind it."""

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from scipy.integrate import quad

from qcoinf_ros.core.theory.exact_rate_distortion import (
    exact_distortion_rate, exact_rate_distortion)
from qcoinf_ros.core.theory.rate_distortion import distortion_lower_bound, distortion_upper_bound

LAMS = st.floats(min_value=1e-2, max_value=1e3)
PROPERTY = settings(max_examples=60, deadline=None)


def test_values():
    assert exact_distortion_rate(0.0, 1.0) == pytest.approx(math.log(2.0))
    assert exact_distortion_rate(1.0, 2.0) == pytest.approx(-math.log(0.75) / 2.0)
    assert exact_rate_distortion(math.log(4.0 / 3.0), 1.0) == pytest.approx(1.0)
    assert exact_rate_distortion(1.0, 1.0) == 0.0  # D >= ln 2 / lam needs no bits
    out = exact_distortion_rate(np.array([0.0, 1.0]), 1.0)
    assert isinstance(out, np.ndarray) and out.shape == (2,)


@PROPERTY
@given(lam=LAMS, rate=st.floats(min_value=0.0, max_value=40.0))
def test_round_trip(lam, rate):
    distortion = exact_distortion_rate(rate, lam)
    assert exact_rate_distortion(distortion, lam) == pytest.approx(rate, rel=1e-7, abs=1e-9)


@PROPERTY
@given(lam=LAMS, rate=st.floats(min_value=1e-6, max_value=40.0))
def test_between_the_paper_bounds(lam, rate):
    d = exact_distortion_rate(rate, lam)
    assert distortion_lower_bound(rate, lam) < d < distortion_upper_bound(rate, lam)


def test_shannon_lower_bound_tight_and_upper_bound_one_bit_off_at_high_rate():
    rate = 20.0
    d = exact_distortion_rate(rate, 1.0)
    assert d / distortion_lower_bound(rate, 1.0) == pytest.approx(1.0, abs=1e-6)
    assert distortion_upper_bound(rate, 1.0) / d == pytest.approx(2.0, rel=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match='lam'):
        exact_distortion_rate(1.0, 0.0)
    with pytest.raises(ValueError, match='rate'):
        exact_distortion_rate(-1.0, 1.0)
    with pytest.raises(ValueError, match='distortion'):
        exact_rate_distortion(0.0, 1.0)
    with pytest.raises(ValueError, match='lam'):
        exact_rate_distortion(0.1, math.nan)


def _integrate(func, low, breaks=(), high=np.inf):
    """Integrate ``func`` over [low, high], split at ``breaks`` (kinks of the integrand)."""
    cuts = sorted({low, *(b for b in breaks if low < b < high), high})
    return sum(quad(func, a, b, limit=200)[0] for a, b in zip(cuts[:-1], cuts[1:]))


@pytest.mark.parametrize('s', [1.5, 3.0, 10.0, 60.0])
def test_berger_conditions_hold_for_the_claimed_test_channel(s):
    """Check the derivation of the module docstring numerically (lam = 1)."""
    t = math.log1p(1.0 / s)
    atom, density = 1.0 / s, 1.0 - 1.0 / s ** 2
    assert atom + density * math.exp(-t) == pytest.approx(1.0)  # q is a probability law

    def z_quad(x):
        inner = _integrate(lambda y: math.exp(-y - s * abs(x - y)), t, [x])
        return atom * math.exp(-s * abs(x - t)) + density * inner

    def z(x):  # closed form used below, checked against quadrature first
        return 2.0 / s * (math.exp(-x) if x >= t else math.exp(-t + s * (x - t)))

    for x in (0.0, t / 2, t, 2 * t, 1.0, 5.0):
        assert z_quad(x) == pytest.approx(z(x), rel=1e-8)

    def c(y):
        def integrand(x):
            return math.exp(-x - s * abs(x - y)) / z(x)
        return _integrate(integrand, 0.0, [y, t], high=60.0)  # e^(-s (60 - y)) left

    ys = np.concatenate((np.linspace(-1.0, t, 12), [t + 0.1, t + 1.0, 3.0]))
    values = np.array([c(y) for y in ys])
    assert np.all(values <= 1.0 + 1e-8)
    assert np.allclose(values[ys >= t], 1.0, atol=1e-8)
    assert values[0] < 0.9  # strict inequality off the support

    # distortion and rate of the channel Q(y|x) = q(y) exp(-s|x-y|) / Z(x)
    def cond_dist(x):
        off = _integrate(lambda y: abs(x - y) * math.exp(-y - s * abs(x - y)), t, [x])
        return (atom * abs(x - t) * math.exp(-s * abs(x - t)) + density * off) / z(x)

    d = _integrate(lambda x: math.exp(-x) * cond_dist(x), 0.0, [t], high=40.0)  # e^-40 left
    log_z = _integrate(lambda x: math.exp(-x) * math.log(z(x)), 0.0, [t], high=40.0)
    assert d == pytest.approx(math.log1p(1.0 / s), rel=1e-6)
    rate_bits = (-s * d - log_z) / math.log(2.0)
    assert rate_bits == pytest.approx(math.log2((s + 1.0) / 2.0), rel=1e-6)
    assert exact_distortion_rate(rate_bits, 1.0) == pytest.approx(d, rel=1e-6)
