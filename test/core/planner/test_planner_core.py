"""Tests of (P1)'s problem/plan types and the per-bit-width closed form."""

import dataclasses
import math

from hypothesis import assume, given, settings, strategies as st
import numpy as np
import pytest

from qcoinf_ros.core.planner import make_solver, Plan, PlanningProblem, SOLVER_NAMES
from qcoinf_ros.core.planner.core import (
    bound_terms,
    evaluate_point,
    least_energy_at,
    least_energy_frequencies,
    make_plan,
    safest_point,
    worst_relative_violation,
)
from qcoinf_ros.core.system.model import SystemParams
from qcoinf_ros.core.theory.rate_distortion import design_objective

pytestmark = pytest.mark.check

PAPER = SystemParams(n_flop=381.6e9, n_flop_server=152.06e9)


@pytest.mark.parametrize('kwargs, name', [
    ({'lam': 0.0}, 'lam'), ({'lam': -1.0}, 'lam'), ({'lam': math.nan}, 'lam'),
    ({'lam': math.inf}, 'lam'), ({'t0': -1.0}, 't0'), ({'t0': math.nan}, 't0'),
    ({'t0': math.inf}, 't0'), ({'e0': -0.5}, 'e0'), ({'e0': math.nan}, 'e0'),
])
def test_bad_problem_raises_value_error_naming_the_value(kwargs, name):
    args = {'params': PAPER, 'lam': 10.0, 't0': 1.0, 'e0': 1.0, **kwargs}
    with pytest.raises(ValueError, match=name):
        PlanningProblem(**args)


def test_problem_rejects_wrong_types():
    with pytest.raises(ValueError, match='params'):
        PlanningProblem({'f_max': 1}, 10.0, 1.0, 1.0)
    with pytest.raises(ValueError, match='agent_cost'):
        PlanningProblem(PAPER, 10.0, 1.0, 1.0, agent_cost=lambda b: b)


def test_unlimited_energy_is_allowed():
    plan = make_solver('exact').solve(PlanningProblem(PAPER, 10.0, 100.0, math.inf))
    assert plan.feasible and plan.bit_width == PAPER.b_max


def test_objective_strictly_decreasing_and_infinite_at_one():
    values = [bound_terms(b, 7.0) for b in range(1, 33)]
    objective = [u - lo for u, lo in values]
    assert objective[0] == math.inf
    assert all(a > b for a, b in zip(objective, objective[1:]))
    assert np.allclose(objective[1:], design_objective(np.arange(2, 33), 7.0), rtol=1e-12)


def test_plan_invariants_are_enforced():
    with pytest.raises(ValueError, match='infeasible'):
        Plan(4, 1.0, 1.0, 1.0, 1.0, 1.0, False, 'x', 's', 1.0, 1.0)
    with pytest.raises(ValueError, match='feasible'):
        Plan(None, 1.0, 1.0, 1.0, 1.0, 1.0, True, 'x', 's', 1.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(w_a=st.floats(1e6, 1e11), w_s=st.floats(1e6, 1e11), k_a=st.floats(1e-30, 1e-25),
       k_s=st.floats(1e-30, 1e-25), f_max=st.floats(1e8, 1e10), g_max=st.floats(1e8, 1e10),
       slack=st.floats(1.0001, 50.0))
def test_closed_form_is_least_energy_on_a_dense_grid(w_a, w_s, k_a, k_s, f_max, g_max, slack):
    t_budget = (w_a / f_max + w_s / g_max) * slack
    f, g, energy = least_energy_frequencies(w_a, w_s, k_a, k_s, f_max, g_max, t_budget)
    assert 0 < f <= f_max and 0 < g <= g_max
    assert w_a / f + w_s / g == pytest.approx(t_budget, rel=1e-12)  # the deadline is tight
    # Independent check: split the deadline between agent (x) and server (T - x) on a dense
    # grid; each split fixes the slowest clocks meeting it, and only those can be optimal.
    x = np.linspace(w_a / f_max, t_budget - w_s / g_max, 200_001)
    fs, gs = w_a / x, np.minimum(w_s / (t_budget - x), g_max)
    grid = (k_a * w_a * fs ** 2 + k_s * w_s * gs ** 2).min()
    assert energy <= grid * (1 + 1e-12)
    assert energy >= grid * (1 - 1e-5)  # and the grid comes close to it
    if f < f_max * (1 - 1e-9) and g < g_max * (1 - 1e-9):  # interior: the KKT ratio holds
        assert f / g == pytest.approx((k_s / k_a) ** (1 / 3), rel=1e-9)


def test_closed_form_reports_unreachable_deadlines():
    assert least_energy_frequencies(1e9, 1e9, 1e-28, 1e-28, 1e9, 1e9, 1.999) is None
    assert least_energy_frequencies(1e9, 1e9, 1e-28, 1e-28, 1e9, 1e9, 0.0) is None
    sol = least_energy_frequencies(1e9, 1e9, 1e-28, 1e-28, 1e9, 1e9, 2.0)
    assert sol[:2] == (1e9, 1e9)


@pytest.mark.parametrize('name', [n for n in SOLVER_NAMES if n not in ('ppo', 'profiles')])
def test_deadline_below_least_possible_delay_is_infeasible(name):
    problem = PlanningProblem(PAPER, 10.0, 1.0, math.inf)
    least_delay = evaluate_point(problem, 1, PAPER.f_max, PAPER.f_max_server).delay
    problem = dataclasses.replace(problem, t0=least_delay * 0.999)
    plan = make_solver(name).solve(problem)
    assert not plan.feasible and plan.bit_width is None and plan.point is None
    assert 'deadline' in plan.reason
    assert plan.fallback.bit_width == 1  # least work, clocks (nearly) at their maxima
    assert plan.fallback.f == pytest.approx(PAPER.f_max, rel=1e-9)
    assert plan.fallback.f_server == pytest.approx(PAPER.f_max_server, rel=1e-9)


@pytest.mark.parametrize('name', ['exact', 'sca', 'random'])
def test_energy_below_least_possible_energy_is_infeasible(name):
    problem = PlanningProblem(PAPER, 10.0, 3.0, 1.0)
    least = least_energy_at(problem, 1).energy
    problem = dataclasses.replace(problem, e0=least * 0.999)
    plan = make_solver(name).solve(problem)
    assert not plan.feasible and plan.bit_width is None
    assert math.isnan(plan.f) and plan.objective == math.inf
    assert 'energy' in plan.reason


def test_b1_only_is_a_feasible_plan_with_infinite_objective():
    problem = PlanningProblem(PAPER, 10.0, 3.0, 1.0)
    least1, least2 = least_energy_at(problem, 1).energy, least_energy_at(problem, 2).energy
    problem = dataclasses.replace(problem, e0=0.5 * (least1 + least2))
    for name in ('exact', 'sca', 'random'):
        plan = make_solver(name).solve(problem)
        assert plan.feasible and plan.bit_width == 1 and plan.objective == math.inf


@settings(max_examples=25, deadline=None)
@given(t_scale=st.floats(0.2, 3.0), e_scale=st.floats(0.05, 1.0))
def test_fallback_minimises_the_worst_relative_violation(t_scale, e_scale):
    base = PlanningProblem(PAPER, 10.0, 1.0, math.inf)
    t0 = evaluate_point(base, 1, PAPER.f_max, PAPER.f_max_server).delay * t_scale
    e0 = least_energy_at(base, 1, max(t0, 0.31)).energy * e_scale
    problem = PlanningProblem(PAPER, 10.0, t0, e0)
    plan = make_solver('exact').solve(problem)
    assume(not plan.feasible)
    best = worst_relative_violation(problem, plan.fallback)
    assert best > 1.0
    fs = np.geomspace(1e-3, 1.0, 400) * PAPER.f_max
    gs = np.geomspace(1e-3, 1.0, 400) * PAPER.f_max_server
    f, g = np.meshgrid(fs, gs)
    w_a, w_s = problem.agent_cycles[0], PAPER.server_cycles
    delay = w_a / f + w_s / g
    energy = PAPER.k_agent * w_a * f ** 2 + PAPER.k_server * w_s * g ** 2
    grid = np.maximum(delay / t0, energy / e0).min()
    assert best <= grid * (1 + 1e-9)
    assert safest_point(problem) == plan.fallback


def test_zero_budgets_are_infeasible_with_fastest_fallback():
    for t0, e0 in ((0.0, 1.0), (1.0, 0.0)):
        plan = make_solver('exact').solve(PlanningProblem(PAPER, 10.0, t0, e0))
        assert not plan.feasible
        assert (plan.fallback.f, plan.fallback.f_server) == (PAPER.f_max, PAPER.f_max_server)


def test_unknown_solver_name():
    with pytest.raises(ValueError, match='simplex'):
        make_solver('simplex')


@settings(max_examples=200, deadline=None)
@given(w_a=st.floats(1e6, 1e11), w_s=st.floats(1e6, 1e11), k_a=st.floats(1e-30, 1e-25),
       k_s=st.floats(1e-30, 1e-25), f_max=st.floats(1e8, 1e10), g_max=st.floats(1e8, 1e10),
       lo_a=st.floats(0.0, 1.0, allow_subnormal=False),
       lo_s=st.floats(0.0, 1.0, allow_subnormal=False), slack=st.floats(1.0001, 50.0))
def test_clock_floors_least_energy_on_a_dense_grid(w_a, w_s, k_a, k_s, f_max, g_max, lo_a, lo_s,
                                                   slack):
    f_min, g_min = lo_a * f_max, lo_s * g_max
    t_budget = (w_a / f_max + w_s / g_max) * slack
    f, g, energy = least_energy_frequencies(w_a, w_s, k_a, k_s, f_max, g_max, t_budget,
                                            f_min, g_min)
    assert f_min * (1 - 1e-12) <= f <= f_max * (1 + 1e-12)
    assert g_min * (1 - 1e-12) <= g <= g_max * (1 + 1e-12)
    assert w_a / f + w_s / g <= t_budget * (1 + 1e-9)
    assert energy == pytest.approx(k_a * w_a * f * f + k_s * w_s * g * g, rel=1e-12)
    # brute force over the agent's share x of the deadline (its clock w_a/x within the range);
    # the server takes the slowest clock meeting the rest, never below its floor
    x_hi = t_budget - w_s / g_max
    if f_min > 0:
        x_hi = min(x_hi, w_a / f_min)
    x = np.linspace(w_a / f_max, x_hi, 200_001)
    fs, gs = w_a / x, np.clip(w_s / (t_budget - x), g_min, g_max)
    grid = (k_a * w_a * fs ** 2 + k_s * w_s * gs ** 2).min()
    assert energy <= grid * (1 + 1e-7)  # rounding where a clock sits on its bound
    assert energy >= grid * (1 - 1e-4)


def test_fixed_clocks_meet_the_deadline_or_report_none():
    # f_min = f_max: the only choice is the fixed clock, with slack if the deadline is loose
    sol = least_energy_frequencies(1e9, 1e9, 1e-28, 1e-28, 2e9, 4e9, 10.0, 2e9, 4e9)
    assert sol[:2] == (2e9, 4e9) and sol[2] == pytest.approx(2.0)
    assert least_energy_frequencies(1e9, 1e9, 1e-28, 1e-28, 2e9, 4e9, 0.7, 2e9, 4e9) is None
    # a floor on the server only: the agent slows down to its KKT point, the server stays up
    f, g, _ = least_energy_frequencies(1e9, 1e9, 1e-28, 1e-28, 2e9, 4e9, 5.0, 0.0, 4e9)
    assert g == 4e9 and 1e9 / f + 1e9 / g == pytest.approx(5.0)


@pytest.mark.parametrize('name', [n for n in SOLVER_NAMES if n not in ('ppo', 'profiles')])
def test_every_solver_keeps_the_clocks_inside_their_floors(name):
    params = dataclasses.replace(PAPER, f_min=1.5e9, f_min_server=8e9)
    problem = PlanningProblem(params, 10.0, 100.0, math.inf)  # loose: clocks would drop
    plan = make_solver(name).solve(problem)
    assert plan.feasible, plan.reason
    assert plan.f >= 1.5e9 * (1 - 1e-9) and plan.f_server >= 8e9 * (1 - 1e-9)
    # a plan below a floor is never reported as feasible
    low = make_plan(problem, evaluate_point(problem, 4, 1e9, 9e9), 'test')
    assert not low.feasible and 'outside the allowed range' in low.reason


def test_the_fallback_keeps_quality_when_fewer_bits_save_nothing():
    from qcoinf_ros.core.system.model import AffineAgentCost
    fixed = SystemParams(n_flop=1e9, n_flop_server=2e9, f_max=2e9, f_min=2e9,
                         f_max_server=4e9, f_min_server=4e9, b_max=8)
    # a flat measured cost (0.1 % more per bit): an impossible energy budget is impossible at
    # every b alike, so the fallback keeps b = 8 rather than ruin the output for nothing
    flat = AffineAgentCost(0.010, 1e-6, 2e9)
    problem = PlanningProblem(fixed, 10.0, 1.0, 1e-9, flat)
    plan = make_solver('exact').solve(problem)
    assert not plan.feasible and plan.fallback.bit_width == 8
    # the same budget with a cost that does grow with b: the least violation is at b = 1
    steep = AffineAgentCost(0.010, 0.005, 2e9)
    plan = make_solver('exact').solve(PlanningProblem(fixed, 10.0, 1.0, 1e-9, steep))
    assert not plan.feasible and plan.fallback.bit_width == 1
    # in between: every b whose violation is within 1 % of the least qualifies; the highest
    mild = AffineAgentCost(0.010, 0.00003, 2e9)  # the delay grows ~0.2 % per bit
    problem = PlanningProblem(fixed, 10.0, 0.001, math.inf, mild)  # the deadline is impossible
    point = safest_point(problem)
    least = worst_relative_violation(problem, evaluate_point(problem, 1, 2e9, 4e9))
    assert 1 < point.bit_width < 8
    assert least < worst_relative_violation(problem, point) <= 1.01 * least
    above = evaluate_point(problem, point.bit_width + 1, 2e9, 4e9)
    assert worst_relative_violation(problem, above) > 1.01 * least


@pytest.mark.parametrize('b_min', [0, 17, 2.5, 'x'])
def test_a_quality_floor_outside_1_to_b_max_is_refused_naming_it(b_min):
    with pytest.raises(ValueError, match='b_min'):
        PlanningProblem(PAPER, 10.0, 1.0, 1.0, b_min=b_min)  # PAPER: B_max = 16


def _between(problem, b):
    """Return a deadline that ``b`` meets at the maximum clocks and ``b + 1`` does not."""
    p = problem.params
    low, high = (evaluate_point(problem, k, p.f_max, p.f_max_server).delay for k in (b, b + 1))
    return 0.5 * (low + high)


@pytest.mark.parametrize('name', [n for n in SOLVER_NAMES if n != 'ppo'])
def test_the_quality_floor_holds_the_plan_at_b_min_and_calls_it_infeasible(name):
    """Budgets only b <= 2 meets: b = 2 with b_min <= 2; b_min = 4 is held, infeasible."""
    from qcoinf_ros.core.planner import FrequencyProfile
    kwargs = ({'profiles': (FrequencyProfile('max', PAPER.f_max, PAPER.f_max_server),)}
              if name == 'profiles' else {'trials': 200, 'seed': 0} if name == 'random' else {})
    solver = make_solver(name, **kwargs)
    problem = PlanningProblem(PAPER, 10.0, 1.0, math.inf)
    t0 = _between(problem, 2)
    for b_min in (1, 2):
        plan = solver.solve(PlanningProblem(PAPER, 10.0, t0, math.inf, b_min=b_min))
        assert plan.feasible and plan.bit_width == 2, (b_min, plan.reason)
    plan = solver.solve(PlanningProblem(PAPER, 10.0, t0, math.inf, b_min=4))
    assert not plan.feasible and plan.bit_width is None, plan.reason
    assert plan.fallback.bit_width == 4  # the least violation at or above the floor
    assert 'the quality floor b_min = 4' in plan.reason, plan.reason


def test_the_exact_solver_with_a_floor_is_the_brute_force_optimum_over_the_floor():
    from qcoinf_ros.core.planner.core import least_energy_point
    base = PlanningProblem(PAPER, 10.0, 1.0, math.inf)
    for b in range(1, 15):
        t0 = _between(base, b)
        for b_min in (1, 3, 8, 16):
            problem = PlanningProblem(PAPER, 10.0, t0, math.inf, b_min=b_min)
            feasible = [k for k in range(b_min, 17) if least_energy_point(problem, k)]
            plan = make_solver('exact').solve(problem)
            assert plan.bit_width == (max(feasible) if feasible else None), (b, b_min)
            if not feasible:
                assert plan.fallback.bit_width == b_min


def test_a_plan_below_the_floor_is_never_feasible():
    problem = PlanningProblem(PAPER, 10.0, 100.0, math.inf, b_min=3)
    low = make_plan(problem, evaluate_point(problem, 2, PAPER.f_max, PAPER.f_max_server), 'test')
    assert not low.feasible and 'outside 3..16' in low.reason
    assert low.fallback.bit_width >= 3
