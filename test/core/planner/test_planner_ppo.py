"""Tests of the PPO baseline: environment logic (fast) and a short training run (slow)."""

import math
import sys

import numpy as np
import pytest

from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.core import evaluate_point
from qcoinf_ros.core.planner.presets import load_preset

gym = pytest.importorskip('gymnasium', reason='the PPO baseline needs the rl extra')

from qcoinf_ros.core.planner.rl_env import PlanningEnv  # noqa: E402 - after the importorskip

PARAMS, _, DEFAULTS = load_preset('paper', model='git')


@pytest.fixture
def env():
    env = PlanningEnv(PARAMS, lam=DEFAULTS['lam'])
    env.reset(seed=0)
    return env


def test_spaces_and_a_random_step(env):
    obs, _ = env.reset(seed=1)
    assert env.observation_space.contains(obs)
    action = env.action_space.sample()
    obs2, reward, terminated, truncated, info = env.step(action)
    assert terminated and not truncated and np.array_equal(obs, obs2)
    b, f, g = env.decode(action)
    assert info['bit_width'] == b and 1 <= b <= PARAMS.b_max
    assert 0 < f <= PARAMS.f_max and 0 < g <= PARAMS.f_max_server
    assert reward == pytest.approx(-env.objective_score(b) - env.penalty * info['violation'])


def test_decode_maps_the_action_box_onto_the_decision_ranges(env):
    assert env.decode([-1, 1, 1]) == (1, PARAMS.f_max, PARAMS.f_max_server)
    b, f, g = env.decode([1, -1, -1])
    assert b == PARAMS.b_max and f == 1e-3 * PARAMS.f_max and g == 1e-3 * PARAMS.f_max_server
    assert env.decode([5, 5, 5]) == env.decode([1, 1, 1])  # clipped


def test_reward_orders_feasible_bit_widths_like_the_objective(env):
    problem = PlanningProblem(PARAMS, 40.0, 100.0, math.inf)
    rewards = [env.reward(problem, evaluate_point(problem, b, 1e9, 1e9))
               for b in range(1, PARAMS.b_max + 1)]
    assert all(a < b for a, b in zip(rewards, rewards[1:]))
    assert rewards[-1] == 0.0 and rewards[1] == -1.0 and rewards[0] == -1.5


def test_penalty_for_violated_budgets(env):
    problem = PlanningProblem(PARAMS, 40.0, 1.0, 1.0)
    point = evaluate_point(problem, 8, PARAMS.f_max, PARAMS.f_max_server)
    excess = max(0.0, point.delay - 1.0) + max(0.0, point.energy - 1.0)
    assert env.violation(problem, point) == pytest.approx(min(excess, 10.0))
    assert env.reward(problem, point) == pytest.approx(
        -env.objective_score(8) - env.penalty * min(excess, 10.0))
    met = PlanningProblem(PARAMS, 40.0, point.delay, point.energy)
    assert env.violation(met, point) == 0.0


def test_reset_accepts_a_problem_and_observes_it(env):
    problem = PlanningProblem(PARAMS, 80.0, 2.0 * env.t_ref, env.e_ref)
    obs, _ = env.reset(options={'problem': problem})
    assert obs == pytest.approx([math.log(2.0), 0.0, math.log(2.0)], abs=1e-6)
    with pytest.raises(RuntimeError):
        PlanningEnv(PARAMS).step([0, 0, 0])


def test_missing_sb3_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, 'stable_baselines3', None)
    with pytest.raises(ImportError, match=r'qcoinf_ros\[rl\]'):
        make_solver('ppo', params=PARAMS)


@pytest.mark.slow
def test_trained_ppo_is_honest_and_never_beats_exact():
    pytest.importorskip('stable_baselines3', reason='the PPO baseline needs the rl extra')
    solver = make_solver('ppo', params=PARAMS, timesteps=4096, seed=0, lam=DEFAULTS['lam'])
    exact = make_solver('exact')
    env = solver.env
    rng = np.random.default_rng(0)
    for _ in range(50):
        t0 = env.t_ref * float(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
        e0 = env.e_ref * float(np.exp(rng.uniform(np.log(0.2), np.log(5.0))))
        problem = PlanningProblem(PARAMS, DEFAULTS['lam'], t0, e0)
        plan, best = solver.solve(problem), exact.solve(problem)
        assert plan.objective >= best.objective
        if plan.feasible:
            assert plan.delay <= t0 * (1 + 1e-9) and plan.energy <= e0 * (1 + 1e-9)
        else:
            assert plan.bit_width is None and plan.reason
    other, _, _ = load_preset('paper', model='blip2')
    with pytest.raises(ValueError, match='params'):
        solver.solve(PlanningProblem(other, 40.0, 1.0, 1.0))
