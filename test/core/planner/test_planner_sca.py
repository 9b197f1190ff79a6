"""Tests of the paper's SCA (Algorithm 1) and of the majorizer it minimises."""

import math

import numpy as np
import pytest

from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.core import least_energy_frequencies
from qcoinf_ros.core.planner.sca import affine_majorant
from qcoinf_ros.core.system.model import (
    CalibratedAgentCost, SystemParams, total_delay, total_energy)
from qcoinf_ros.core.theory.rate_distortion import (
    design_objective,
    distortion_lower_bound,
    distortion_upper_bound,
)
from qcoinf_ros.tools.bench.planner import random_instances

PAPER = SystemParams(n_flop=381.6e9, n_flop_server=152.06e9)
LN2 = math.log(2.0)


@pytest.fixture(scope='module')
def sca():
    return make_solver('sca')


def test_upper_bound_is_convex_in_the_bit_width():
    b = np.linspace(1.001, 24.0, 40_000)
    d_upper = distortion_upper_bound(b - 1.0, 1.0)
    second = d_upper[:-2] - 2.0 * d_upper[1:-1] + d_upper[2:]
    assert np.all(second >= -1e-15 * d_upper[1:-1])
    # The analytic argument: phi(t) = sqrt((1+3t)/(1-t)) has phi'' >= 0 on [0, 1).
    t = np.linspace(0.0, 0.999, 10_000)
    s = 1.0 / (1.0 - t)
    assert np.all(s ** 3 * (4 * s - 3) ** -1.5 * 12.0 * (s - 1.0) >= 0.0)
    phi = np.sqrt((1 + 3 * t) / (1 - t))
    assert np.allclose(2.0 * distortion_upper_bound(-np.log2(t[1:]), 1.0) + 1.0, phi[1:])


@pytest.mark.parametrize('b_k', [1.01, 1.7, 3.0, 6.4, 12.0])
def test_surrogate_majorizes_the_objective_and_touches_it(b_k):
    """The (P4.k) objective as documented in planner/sca.py, evaluated on its epigraph."""
    lam = 3.0
    t_k = 2.0 ** (1.0 - b_k)
    phi_k = math.sqrt((1 + 3 * t_k) / (1 - t_k))

    def surrogate(b):
        t = 2.0 ** (1.0 - b)
        r = 4 * t + 4 * t * t / (1 - t)  # phi^2 - 1, kept exactly
        d_upper = (phi_k + (r - (phi_k ** 2 - 1)) / (2 * phi_k) - 1) / (2 * lam)
        d_lower_k = distortion_lower_bound(b_k - 1, lam)
        zeta = d_lower_k - LN2 * d_lower_k * (b - b_k)  # eq. (33)
        return d_upper - zeta

    b = np.linspace(1.001, 20.0, 5000)
    assert np.all(surrogate(b) >= design_objective(b, lam) * (1 - 1e-12) - 1e-15)
    assert surrogate(b_k) == pytest.approx(design_objective(b_k, lam), rel=1e-12)


def _relaxed_optimum(problem):
    """Largest real b~ in [1, B_max] meeting both budgets (bisection on the closed form)."""
    p = problem.params
    unit = problem.agent_cycles[0]
    lo, hi = 1.0, float(p.b_max)

    def ok(b):
        sol = least_energy_frequencies(b * unit, p.server_cycles, p.k_agent, p.k_server,
                                       p.f_max, p.f_max_server, problem.t0)
        return sol is not None and sol[2] <= problem.e0

    if ok(hi):
        return hi
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def test_sca_is_feasible_after_rounding_and_never_beats_exact(sca):
    exact = make_solver('exact')
    feasible = 0
    for problem in random_instances(8, seed=3):
        plan, best = sca.solve(problem), exact.solve(problem)
        assert plan.objective >= best.objective
        assert plan.feasible == best.feasible
        if plan.feasible:
            p = problem.params
            assert total_delay(p, plan.bit_width, plan.f, plan.f_server) <= problem.t0 * (
                1 + 1e-9)
            assert total_energy(p, plan.bit_width, plan.f, plan.f_server) <= problem.e0 * (
                1 + 1e-9)
            feasible += 1
            if plan.relaxed_bit_width is not None:
                assert plan.iterations >= 1
                assert plan.relaxed_bit_width == pytest.approx(_relaxed_optimum(problem),
                                                               abs=1e-3)
    assert feasible >= 4


def test_rounding_up_that_breaks_the_deadline_rounds_down(sca):
    unit = PAPER.n_flop / (PAPER.b_orig * PAPER.c)
    t0 = 8.7 * unit / PAPER.f_max + PAPER.server_cycles / PAPER.f_max_server
    plan = sca.solve(PlanningProblem(PAPER, 10.0, t0, math.inf))
    assert plan.relaxed_bit_width == pytest.approx(8.7, abs=1e-3)
    assert plan.feasible and plan.bit_width == 8
    assert 'rounded to 8' in plan.reason


def test_loose_budgets_reach_b_max(sca):
    plan = sca.solve(PlanningProblem(PAPER, 10.0, 100.0, 1e6))
    assert plan.bit_width == PAPER.b_max


def test_sca_with_a_calibrated_cost_is_honest(sca):
    cost = CalibratedAgentCost({1: 0.4, 2: 0.45, 4: 0.6, 8: 1.1, 16: 2.3}, f_ref=2e9)
    problem = PlanningProblem(PAPER, 10.0, 1.2, 3.0, cost)
    plan = sca.solve(problem)
    best = make_solver('exact').solve(problem)
    assert plan.feasible and plan.objective >= best.objective
    assert total_delay(PAPER, plan.bit_width, plan.f, plan.f_server, cost) <= 1.2 * (1 + 1e-9)


def test_affine_majorant():
    alpha, beta = affine_majorant([3.0 * b for b in range(1, 17)])
    assert alpha == 0.0 and beta == pytest.approx(3.0)
    cycles = [5.0, 5.5, 7.0, 6.0, 9.0, 9.5]
    alpha, beta = affine_majorant(cycles)
    assert all(alpha + beta * b >= w - 1e-12 for b, w in enumerate(cycles, start=1))
    assert affine_majorant([4.0, 3.0, 2.0]) == (4.0, 0.0)  # decreasing: flat at the maximum


def test_bad_sca_settings():
    with pytest.raises(ValueError, match='delta'):
        make_solver('sca', delta=0.0)
    with pytest.raises(ValueError, match='cvx_solver'):
        make_solver('sca', cvx_solver='NOPE')
