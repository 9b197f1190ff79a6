"""Blahut-Arimoto estimate of D(R) for the Exp(lam) source (paper §VI-B, Fig. 4)."""

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from qcoinf_ros.core.theory import blahut_arimoto as ba
from qcoinf_ros.core.theory.exact_rate_distortion import exact_distortion_rate
from qcoinf_ros.core.theory.rate_distortion import distortion_lower_bound, distortion_upper_bound


@pytest.fixture(scope='module')
def unit_curve():
    return ba.blahut_arimoto_curve(1.0)


def _binary_entropy(p):
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_kernel_sums_match_dense_matrix_products():
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0.0, 50.0, 300))
    s = 40.0  # s * (x_max - x_min) ~ 2000: several blocks
    kernel = ba._ExpKernel(x, s)
    assert len(kernel.blocks) >= 3
    v = rng.uniform(0.0, 1.0, x.size)
    dist = np.abs(x[:, None] - x[None, :])
    dense = np.exp(-s * dist)
    assert np.allclose(kernel.apply(v), dense @ v, rtol=1e-10, atol=0)
    # x_i F_i - F(x v)_i cancels: the error is relative to x_i F_i, not to the result
    scale = (x * (dense @ v)).max()
    assert np.allclose(kernel.apply_distance(v), (dist * dense) @ v, rtol=1e-10,
                       atol=1e-13 * scale)


@pytest.mark.parametrize('s', [1.0, 2.0, 3.0])
def test_solver_on_binary_source_matches_closed_form(s):
    # alphabet {0, 1}: |x - y| is the Hamming distortion, R(D) = h(p) - h(D) for D < p, and
    # the optimal distortion at slope s is D = 1 / (1 + e^s)
    p = np.array([0.3, 0.7])
    rate, distortion, gap, iterations = ba._solve_slope(np.array([0.0, 1.0]), p, s, 1e-9, 1000)
    assert gap <= 1e-9 and iterations < 1000
    assert distortion == pytest.approx(1.0 / (1.0 + math.exp(s)), rel=1e-6)
    expected = _binary_entropy(0.3) - _binary_entropy(distortion)
    assert rate / math.log(2.0) == pytest.approx(expected, rel=1e-6)


def test_grid_probabilities_and_discretisation_error():
    x, p, delta = ba._grid(50.0, 0.03, 1e-5)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(x) > 0) and np.all(p > 0)
    # delta is E|theta - theta_d|: Monte Carlo with the cells of the documented edge law
    # e_k = -3 ln(1 - k step / (3 s)), i.e. k = floor(3 s / step * (1 - exp(-theta / 3)))
    theta = np.random.default_rng(1).exponential(size=400_000)
    k_scale = 3.0 * 50.0 / 0.03
    cell = np.minimum(np.floor(k_scale * -np.expm1(-theta / 3.0)).astype(int), x.size - 1)
    assert np.mean(np.abs(theta - x[cell])) == pytest.approx(delta, rel=0.02)
    # the masses are those of the same cells
    counts = np.cumsum(np.bincount(cell, minlength=x.size)) / theta.size
    for k in (50, 500, 4000):
        assert counts[k] == pytest.approx(p[:k + 1].sum(), rel=0.03)


def test_curve_matches_exact_distortion_rate(unit_curve):
    c = unit_curve
    assert c.converged.all() and c.accurate.all()
    exact = exact_distortion_rate(c.rate, 1.0)
    # rigorous bracket
    assert np.all(np.abs(c.distortion - exact) <= c.error_bound)
    # measured accuracy of the defaults (much better than the first-order bound)
    rel = np.abs(c.distortion - exact) / exact
    assert rel.max() < 4e-4
    assert c.rate[0] < 0.1 and c.rate[-1] > 7.0


def test_curve_shape_and_slope_meaning(unit_curve):
    c = unit_curve
    assert np.all(np.diff(c.rate) > 0) and np.all(np.diff(c.distortion) < 0)
    assert np.all(np.diff(c.slope) > 0)
    # the multiplier is the slope of the curve: dR/dD = -s / ln 2 bits
    secant = np.diff(c.rate) / np.diff(c.distortion)
    mid = -np.sqrt(c.slope[:-1] * c.slope[1:]) / math.log(2.0)
    assert np.allclose(secant, mid, rtol=0.05)


@settings(max_examples=40, deadline=None)
@given(lam=st.floats(min_value=0.5, max_value=50.0))
def test_paper_bounds_bracket_the_blahut_arimoto_estimate(lam):
    c = ba.blahut_arimoto_curve(lam)  # cached: one BA run, rescaled by lam
    ok = c.accurate
    assert ok.sum() >= 35
    rate, dist = c.rate[ok], c.distortion[ok]
    assert np.all(distortion_lower_bound(rate, lam) <= dist)
    assert np.all(dist <= distortion_upper_bound(rate, lam))
    # the upper bound even holds for the whole rigorous error bar of the estimate
    assert np.all(dist + c.error_bound[ok] <= distortion_upper_bound(rate, lam))


def test_scale_invariance(unit_curve):
    lam = 7.5
    c = ba.blahut_arimoto_curve(lam, slopes=lam * np.array(ba.DEFAULT_SLOPES[::8]))
    ref = ba.blahut_arimoto_curve(1.0, slopes=ba.DEFAULT_SLOPES[::8])
    assert np.allclose(c.rate, ref.rate)
    assert np.allclose(c.distortion * lam, ref.distortion)
    assert np.allclose(c.slope, lam * ref.slope)
    assert np.allclose(c.rate, unit_curve.rate[::8])


def test_slopes_below_lam_give_zero_rate():
    c = ba.blahut_arimoto_curve(2.0, slopes=[0.5, 1.0])
    assert np.all(c.rate < 0.01)
    assert np.allclose(c.distortion, math.log(2.0) / 2.0, atol=c.error_bound.max() + 1e-3)


def test_distortion_at_rate_interpolates(unit_curve):
    rates = np.array([0.0, 0.05, 0.5, 1.3, 2.0, 4.0, 6.0, 7.0])
    est = ba.distortion_at_rate(3.0, rates)
    exact = exact_distortion_rate(rates, 3.0)
    assert np.allclose(est, exact, rtol=3e-3)
    assert ba.distortion_at_rate(3.0, 0.0) == pytest.approx(math.log(2.0) / 3.0)
    assert isinstance(ba.distortion_at_rate(3.0, 2.0), float)
    with pytest.raises(ValueError, match='rates must be <='):
        ba.distortion_at_rate(1.0, unit_curve.rate[-1] + 0.5)
    with pytest.raises(ValueError, match='rates'):
        ba.distortion_at_rate(1.0, -1.0)
    with pytest.raises(ValueError, match='rates'):
        ba.distortion_at_rate(1.0, [1.0, math.nan])


def test_coarse_grid_and_early_stop_are_flagged():
    coarse = ba.blahut_arimoto_curve(1.0, slopes=[2.0, 20.0], step_fraction=1.0)
    assert not coarse.accurate.any()
    assert math.isnan(coarse.max_accurate_rate)
    with pytest.raises(ValueError, match='rates'):
        coarse.distortion_at(0.5)
    early = ba.blahut_arimoto_curve(1.0, slopes=[5.0], max_iter=2)
    assert not early.converged[0] and not early.accurate[0]
    assert early.iterations[0] == 2


@pytest.mark.parametrize('kwargs, match', [
    ({'lam': 0.0}, 'lam'),
    ({'lam': math.nan}, 'lam'),
    ({'lam': -1.0}, 'lam'),
    ({'lam': 1.0, 'slopes': []}, 'slopes'),
    ({'lam': 1.0, 'slopes': [1.0, -2.0]}, 'slopes'),
    ({'lam': 1.0, 'slopes': [math.nan]}, 'slopes'),
    ({'lam': 1.0, 'tol': 0.0}, 'tol'),
    ({'lam': 1.0, 'max_iter': 0}, 'max_iter'),
    ({'lam': 1.0, 'step_fraction': 2.0}, 'step_fraction'),
    ({'lam': 1.0, 'tail_mass': 1.0}, 'tail_mass'),
])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ba.blahut_arimoto_curve(**kwargs)


def test_rd_curve_validation(unit_curve):
    c = unit_curve
    fields = {'lam': 1.0, 'rate': c.rate, 'distortion': c.distortion, 'slope': c.slope,
              'error_bound': c.error_bound, 'rate_gap': c.rate_gap,
              'iterations': c.iterations, 'grid_size': c.grid_size, 'converged': c.converged}
    with pytest.raises(ValueError, match='distortion'):
        ba.RDCurve(**{**fields, 'distortion': c.distortion[:-1]})
    with pytest.raises(ValueError, match='sorted'):
        ba.RDCurve(**{**fields, 'rate': c.rate[::-1]})
    with pytest.raises(ValueError, match='lam'):
        ba.RDCurve(**{**fields, 'lam': -1.0})
    with pytest.raises(ValueError):
        c.rate[0] = 1.0  # read-only
