"""Tests of the exact solver of (P1): optimal, feasible, honest about infeasibility."""

import dataclasses
import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest

from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.core import FEAS_RTOL, least_energy_at
from qcoinf_ros.core.planner.presets import load_preset
from qcoinf_ros.core.system.model import (
    CalibratedAgentCost, SystemParams, total_delay, total_energy)
from qcoinf_ros.tools.bench.planner import brute_force, random_instances

pytestmark = pytest.mark.check

PAPER = SystemParams(n_flop=381.6e9, n_flop_server=152.06e9)
EXACT = make_solver('exact')


def _meets(problem, plan):
    p = problem.params
    delay = total_delay(p, plan.bit_width, plan.f, plan.f_server, problem.agent_cost)
    energy = total_energy(p, plan.bit_width, plan.f, plan.f_server, problem.agent_cost)
    return (delay <= problem.t0 * (1 + FEAS_RTOL) and energy <= problem.e0 * (1 + FEAS_RTOL)
            and 0 < plan.f <= p.f_max and 0 < plan.f_server <= p.f_max_server)


def test_exact_equals_brute_force_on_random_instances():
    problems = random_instances(200, seed=1)
    regimes = set()
    for problem in problems:
        plan = EXACT.solve(problem)
        b_brute, grid_least = brute_force(problem, 4096)
        assert plan.bit_width == b_brute
        regimes.add('infeasible' if not plan.feasible else
                    'loose' if plan.bit_width == problem.params.b_max else 'tight')
        for b in range(1, problem.params.b_max + 1):  # exact least energy never above the grid's
            point = least_energy_at(problem, b)
            if point is not None:
                assert point.energy <= grid_least[b - 1] * (1 + 1e-12)
            else:
                assert grid_least[b - 1] == math.inf
        if plan.feasible:
            assert _meets(problem, plan)
    assert regimes == {'infeasible', 'loose', 'tight'}


def test_exact_against_a_two_dimensional_clock_grid():
    """Every (f, f~) grid point is a real operating point: the grid can never beat exact."""
    problems = random_instances(40, seed=2)
    ratio = np.geomspace(1e-3, 1.0, 300)
    agree = 0
    for problem in problems:
        p = problem.params
        f, g = np.meshgrid(ratio * p.f_max, ratio * p.f_max_server)
        w_a = np.asarray(problem.agent_cycles)[:, None, None]
        delay = w_a / f + p.server_cycles / g + p.comm_delay
        energy = p.k_agent * w_a * f ** 2 + p.k_server * p.server_cycles * g ** 2
        ok = ((delay <= problem.t0) & (energy <= problem.e0)).any(axis=(1, 2))
        b_grid = int(np.nonzero(ok)[0].max()) + 1 if ok.any() else None
        b_exact = EXACT.solve(problem).bit_width
        assert b_grid is None or (b_exact is not None and b_grid <= b_exact)
        agree += b_grid == b_exact
    assert agree >= 0.85 * len(problems)  # the rest: budgets within the coarse grid's step


solvers_to_compare = ['fixed', 'random', 'profiles']


@settings(max_examples=80, deadline=None)
@given(t0=st.floats(0.05, 20.0), e0=st.floats(0.01, 100.0), lam=st.floats(0.5, 500.0),
       preset=st.sampled_from(['paper', 'jetson_orin']))
def test_exact_is_feasible_and_never_worse_than_the_baselines(t0, e0, lam, preset):
    params, profiles, _ = load_preset(preset)
    problem = PlanningProblem(params, lam, t0, e0)
    plan = EXACT.solve(problem)
    if plan.feasible:
        assert _meets(problem, plan)
    for name in solvers_to_compare:
        kwargs = {'profiles': profiles} if name == 'profiles' else {}
        other = make_solver(name, **kwargs).solve(problem)
        assert plan.objective <= other.objective
        if other.feasible:
            assert plan.feasible and _meets(problem, other)
            assert plan.bit_width >= other.bit_width


def test_least_energy_clocks_are_the_slowest_meeting_the_deadline():
    problem = PlanningProblem(PAPER, 10.0, 100.0, math.inf)
    plan = EXACT.solve(problem)
    assert plan.bit_width == PAPER.b_max
    assert plan.delay == pytest.approx(100.0, rel=1e-12)  # all the slack is spent on energy
    assert plan.f < 0.1 * PAPER.f_max and plan.f_server < 0.1 * PAPER.f_max_server


def test_communication_shrinks_the_budget():
    problem = PlanningProblem(PAPER, 10.0, 2.0, 2.0)
    with_link = dataclasses.replace(
        problem, params=dataclasses.replace(PAPER, payload_bytes=5e6, link_rate_bps=100e6,
                                            tx_power_w=2.0))
    a, b = EXACT.solve(problem), EXACT.solve(with_link)
    assert b.bit_width < a.bit_width
    assert _meets(with_link, b)
    assert b.delay == pytest.approx(2.0, rel=1e-12)


def test_calibrated_cost_non_monotone_is_scanned():
    # Measured latencies that are not monotone in b (e.g. 8-bit kernels faster than 6-bit).
    cost = CalibratedAgentCost({1: 0.5, 4: 0.9, 6: 1.6, 8: 0.8, 16: 2.0}, f_ref=2e9)
    params = dataclasses.replace(PAPER, b_max=16)
    problem = PlanningProblem(params, 10.0, 1.2, math.inf, cost)
    assert not problem.monotone
    plan = EXACT.solve(problem)
    feasible = [b for b in range(1, 17) if least_energy_at(problem, b) is not None]
    assert plan.bit_width == max(feasible)
    assert _meets(problem, plan)


def test_iterations_count_the_checks():
    loose = EXACT.solve(PlanningProblem(PAPER, 10.0, 100.0, math.inf))
    tight = EXACT.solve(PlanningProblem(PAPER, 10.0, 2.0, 2.0))
    assert loose.iterations == 1
    assert 2 < tight.iterations <= 2 + math.ceil(math.log2(PAPER.b_max))
