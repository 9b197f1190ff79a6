"""Tests of the fixed-frequency, feasible-random and clock-profile solvers."""

import math

import pytest

from qcoinf_ros.core.planner import FrequencyProfile, make_solver, PlanningProblem
from qcoinf_ros.core.planner.core import evaluate_point, least_energy_point
from qcoinf_ros.core.system.model import SystemParams

PAPER = SystemParams(n_flop=381.6e9, n_flop_server=152.06e9)


def test_fixed_frequency_uses_the_maximum_clocks():
    problem = PlanningProblem(PAPER, 10.0, 1.0, 100.0)
    plan = make_solver('fixed').solve(problem)
    assert plan.feasible
    assert (plan.f, plan.f_server) == (PAPER.f_max, PAPER.f_max_server)
    # The largest b meeting both budgets at the maximum clocks.
    b = plan.bit_width
    assert evaluate_point(problem, b, PAPER.f_max, PAPER.f_max_server).delay <= 1.0
    if b < PAPER.b_max:
        assert evaluate_point(problem, b + 1, PAPER.f_max, PAPER.f_max_server).delay > 1.0


def test_fixed_frequency_is_infeasible_when_max_clocks_cost_too_much():
    # The exact solver slows the clocks down to fit E0; the fixed baseline cannot.
    problem = PlanningProblem(PAPER, 10.0, 3.5, 2.0)
    assert make_solver('exact').solve(problem).feasible
    plan = make_solver('fixed').solve(problem)
    assert not plan.feasible and plan.bit_width is None
    assert plan.fallback.f == PAPER.f_max and plan.fallback.bit_width == 1


def test_random_is_seeded_and_reproducible():
    problem = PlanningProblem(PAPER, 10.0, 2.0, 2.0)
    a = [make_solver('random', seed=7, trials=3).solve(problem) for _ in range(2)]
    runs = [make_solver('random', seed=7, trials=3) for _ in range(2)]
    seq = [[r.solve(problem).bit_width for _ in range(5)] for r in runs]
    assert a[0] == a[1] and seq[0] == seq[1]
    assert len(set(seq[0])) > 1  # the generator advances from one call to the next


def test_random_best_trial_with_many_trials_is_optimal():
    problem = PlanningProblem(PAPER, 10.0, 2.0, 2.0)
    best = make_solver('exact').solve(problem)
    plan = make_solver('random', seed=0).solve(problem)
    assert plan.bit_width == best.bit_width and plan.iterations == 400


def test_random_uniform_picks_some_feasible_trial():
    problem = PlanningProblem(PAPER, 10.0, 2.0, 2.0)
    best = make_solver('exact').solve(problem).bit_width
    bits = {make_solver('random', seed=s, select='uniform').solve(problem).bit_width
            for s in range(10)}
    assert bits <= set(range(1, best + 1)) and len(bits) > 1
    assert all(least_energy_point(problem, b) is not None for b in bits)


def test_random_bad_arguments():
    with pytest.raises(ValueError, match='trials'):
        make_solver('random', trials=0)
    with pytest.raises(ValueError, match='select'):
        make_solver('random', select='worst')


PROFILES = (FrequencyProfile('low', 0.5e9, 2.5e9), FrequencyProfile('medium', 1e9, 5e9),
            FrequencyProfile('high', 2e9, 10e9))


def test_profiles_trade_delay_against_energy():
    solver = make_solver('profiles', profiles=PROFILES)
    # Delay-limited, energy-rich: the high profile allows the largest b (paper, Table I).
    delay_limited = solver.solve(PlanningProblem(PAPER, 10.0, 1.0, 1e3))
    assert delay_limited.profile == 'high'
    # Energy-limited, delay-rich: the low profile.
    energy_limited = solver.solve(PlanningProblem(PAPER, 10.0, 30.0, 3.0))
    assert energy_limited.profile == 'low'
    for plan in (delay_limited, energy_limited):
        prof = next(p for p in PROFILES if p.name == plan.profile)
        assert (plan.f, plan.f_server) == (prof.f, prof.f_server)


def test_profiles_tie_goes_to_least_energy():
    plan = make_solver('profiles', profiles=PROFILES).solve(
        PlanningProblem(PAPER, 10.0, 1e3, 1e6))
    assert plan.bit_width == PAPER.b_max and plan.profile == 'low'


def test_profiles_infeasible_fallback_stays_on_a_profile():
    plan = make_solver('profiles', profiles=PROFILES).solve(
        PlanningProblem(PAPER, 10.0, 0.01, 1e3))
    assert not plan.feasible
    assert (plan.fallback.f, plan.fallback.f_server) in {(p.f, p.f_server) for p in PROFILES}
    assert plan.fallback.f == 2e9  # the deadline is missed least at the fastest profile


def test_profile_validation():
    with pytest.raises(ValueError, match='low.f'):
        FrequencyProfile('low', -1.0, 1e9)
    with pytest.raises(ValueError, match='nvpmodel_mode'):
        FrequencyProfile('low', 1e9, 1e9, nvpmodel_mode=-2)
    with pytest.raises(ValueError, match='profiles'):
        make_solver('profiles', profiles=())
    too_fast = make_solver('profiles', profiles=[FrequencyProfile('turbo', 3e9, 1e9)])
    with pytest.raises(ValueError, match='turbo'):
        too_fast.solve(PlanningProblem(PAPER, 10.0, 1.0, math.inf))
