"""Closed-form rate-distortion bounds, eqs. (21)-(26) and the objective of (P1)."""

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from qcoinf_ros.core.theory.rate_distortion import (
    design_objective,
    differential_entropy,
    distortion_lower_bound,
    distortion_upper_bound,
    rate_lower_bound,
    rate_upper_bound,
)

pytestmark = pytest.mark.check

LAMS = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False)
RATES = st.floats(min_value=1e-6, max_value=60.0, allow_nan=False, allow_infinity=False)
PROPERTY = settings(max_examples=60, deadline=None)


def test_values_against_hand_computed_numbers():
    # h = log2(e / lam): lam = 1 gives log2(e), lam = e gives 0
    assert differential_entropy(1.0) == pytest.approx(1.0 / math.log(2.0))
    assert differential_entropy(math.e) == pytest.approx(0.0, abs=1e-15)
    # D^L(1) = 1 / (1 * 2^2); R^L(1/4) = -log2(1/2) = 1
    assert distortion_lower_bound(1.0, 1.0) == pytest.approx(0.25)
    assert rate_lower_bound(0.25, 1.0) == pytest.approx(1.0)
    # D^U(1) = (sqrt(1 + 4/1) - 1) / 2 = (sqrt 5 - 1) / 2, the golden ratio conjugate
    assert distortion_upper_bound(1.0, 1.0) == pytest.approx((math.sqrt(5.0) - 1.0) / 2.0)
    # lam D = 1/2: R^U = log2(2 + (1/2)/(3/2)) = log2(7/3)
    assert rate_upper_bound(0.25, 2.0) == pytest.approx(math.log2(7.0 / 3.0))
    # D^U(2) at lam = 2: (sqrt(1 + 4/3) - 1) / 4
    assert distortion_upper_bound(2.0, 2.0) == pytest.approx((math.sqrt(7.0 / 3.0) - 1.0) / 4.0)
    # objective at b = 2, lam = 1: D^U(1) - D^L(1)
    assert design_objective(2, 1.0) == pytest.approx((math.sqrt(5.0) - 1.0) / 2.0 - 0.25)


def test_arrays_in_arrays_out():
    rates = np.array([0.5, 1.0, 3.0])
    out = distortion_upper_bound(rates, 1.0)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    assert isinstance(distortion_upper_bound(1.0, 1.0), float)
    assert np.allclose(distortion_lower_bound(rates, 4.0), 1.0 / (4.0 * 2.0 ** (rates + 1)))


def test_upper_bound_is_infinite_at_zero_rate():
    assert distortion_upper_bound(0.0, 3.0) == math.inf
    assert design_objective(1, 3.0) == math.inf
    assert np.isinf(distortion_upper_bound(np.array([0.0, 1.0]), 1.0)[0])


def test_upper_bound_has_no_cancellation_at_high_rate():
    # D^U(R) -> 1 / (lam 2^R) as R grows; the textbook form loses every digit near R = 53
    for rate in (30.0, 45.0, 60.0, 100.0):
        assert distortion_upper_bound(rate, 1.0) == pytest.approx(2.0 ** -rate, rel=1e-8)
    assert design_objective(61.0, 1.0) > 0.0


@PROPERTY
@given(lam=LAMS, rate=RATES)
def test_distortion_upper_bound_inverts_rate_upper_bound(lam, rate):
    distortion = distortion_upper_bound(rate, lam)
    assert rate_upper_bound(distortion, lam) == pytest.approx(rate, rel=1e-6, abs=1e-9)


@PROPERTY
@given(lam=LAMS, scaled=st.floats(min_value=1e-6, max_value=1e6))
def test_rate_upper_bound_inverts_distortion_upper_bound(lam, scaled):
    distortion = scaled / lam
    rate = rate_upper_bound(distortion, lam)
    assert rate > 0.0
    assert distortion_upper_bound(rate, lam) == pytest.approx(distortion, rel=1e-6)


@PROPERTY
@given(lam=LAMS, rate=st.floats(min_value=0.0, max_value=60.0))
def test_lower_bounds_are_inverse(lam, rate):
    distortion = distortion_lower_bound(rate, lam)
    assert rate_lower_bound(distortion, lam) == pytest.approx(rate, abs=1e-9)
    # and the other way, for D < 1/(2 lam) where R^L >= 0
    assert distortion_lower_bound(rate_lower_bound(distortion, lam), lam) == pytest.approx(
        distortion, rel=1e-9)


@PROPERTY
@given(lam=LAMS, rate=RATES)
def test_lower_bound_below_upper_bound(lam, rate):
    assert distortion_lower_bound(rate, lam) < distortion_upper_bound(rate, lam)


@PROPERTY
@given(lam=LAMS, b=st.floats(min_value=1.0, max_value=64.0),
       step=st.floats(min_value=1e-6, max_value=10.0))
def test_objective_strictly_decreasing_in_bit_width(lam, b, step):
    assert design_objective(b + step, lam) < design_objective(b, lam)
    assert design_objective(b + step, lam) > 0.0


def test_objective_decreasing_on_integer_bit_widths():
    values = design_objective(np.arange(1, 33), 20.0)
    assert np.all(np.diff(values) < 0)


@pytest.mark.parametrize('func, arg', [
    (distortion_lower_bound, 1.0), (distortion_upper_bound, 1.0),
    (rate_lower_bound, 0.1), (rate_upper_bound, 0.1),
])
@pytest.mark.parametrize('lam, shown', [(0.0, '0.0'), (-2.0, '-2.0'), (math.nan, 'nan'),
                                        (math.inf, 'inf')])
def test_bad_lam_is_named(func, arg, lam, shown):
    with pytest.raises(ValueError, match=rf'lam .*{shown}'):
        func(arg, lam)


def test_bad_lam_in_entropy_and_objective():
    with pytest.raises(ValueError, match='lam'):
        differential_entropy(-1.0)
    with pytest.raises(ValueError, match='lam'):
        design_objective(4, math.nan)


@pytest.mark.parametrize('func', [distortion_lower_bound, distortion_upper_bound])
def test_bad_rate_is_named(func):
    with pytest.raises(ValueError, match=r'rate must be >= 0 bits, got -0\.5'):
        func(-0.5, 1.0)
    with pytest.raises(ValueError, match='rate must not be NaN'):
        func(math.nan, 1.0)
    with pytest.raises(ValueError, match='rate'):
        func(np.array([1.0, -1.0]), 1.0)


@pytest.mark.parametrize('func', [rate_lower_bound, rate_upper_bound])
@pytest.mark.parametrize('distortion', [0.0, -1.0, math.nan, math.inf])
def test_bad_distortion_is_named(func, distortion):
    with pytest.raises(ValueError, match='distortion'):
        func(distortion, 1.0)


@pytest.mark.parametrize('b', [0.5, 0, -3, math.nan])
def test_bad_bit_width_is_named(b):
    with pytest.raises(ValueError, match=rf'bit_width must be >= 1, got {b}'):
        design_objective(b, 1.0)
