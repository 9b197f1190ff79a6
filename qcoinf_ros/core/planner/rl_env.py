"""
Gymnasium environment of (P1) for the PPO baseline (paper section VI-C, ref. [12]).

The paper's PPO baseline models the design as a Markov decision process and relies on
"penalty-driven constraint handling". Here one episode is one planning decision (a contextual
bandit): the observation is the instance, the action the operating point, the reward the
objective with penalties for broken budgets.

* Observation (3 floats): ``log(T0/T_ref)``, ``log(E0/E_ref)``, ``log(lam/lam_ref)``, clipped to
  [-5, 5]; ``T_ref`` is the least delay at B_max (maximum clocks), ``E_ref`` the least energy
  at B_max that meets ``2 T_ref``.
* Action: ``Box(-1, 1, (3,))`` mapped to ``b = 1 + round((a0+1)/2 (B_max-1))``,
  ``f = f_max (a1+1)/2``, ``f~ = f~_max (a2+1)/2`` (clocks floored at 1e-3 of their maximum).
* Reward: ``-q(b) - penalty * v`` where ``q(b) in [0, 1]`` is the objective on a log scale,
  ``(log2 O(b) - log2 O(B_max)) / (log2 O(2) - log2 O(B_max))`` (a monotone transform of
  D^U(b-1) - D^L(b-1), so the same ``b`` is best; a linear scale would leave PPO no signal
  between b = 8 and b = 16), ``q(1) = 1.5`` (O(1) is infinite), and
  ``v = min(max(0, T/T0 - 1) + max(0, E/E0 - 1), 10)`` the relative budget violation.

Budgets are drawn log-uniformly from ``t0_range x T_ref`` and ``e0_range x E_ref``.
Needs only ``gymnasium`` (the ``rl`` extra); ``stable-baselines3`` is needed to train.
"""

from __future__ import annotations

import math

import gymnasium as gym
from gymnasium import spaces
import numpy as np

from qcoinf_ros.core.planner.core import (
    bound_terms,
    evaluate_point,
    least_energy_at,
    OperatingPoint,
    PlanningProblem,
)
from qcoinf_ros.core.system.model import AgentCostModel, SystemParams
from qcoinf_ros.core.validation import require_positive

__all__ = ['PlanningEnv']

_CLIP = 5.0
_MAX_VIOLATION = 10.0
_Q_B1 = 1.5


class PlanningEnv(gym.Env):
    """Single-step environment: observe a (P1) instance, choose (b, f, f~), get a reward."""

    metadata = {'render_modes': []}

    def __init__(self, params: SystemParams, agent_cost: AgentCostModel | None = None,
                 lam: float = 40.0, lam_range: tuple[float, float] = (0.25, 4.0),
                 t0_range: tuple[float, float] = (0.3, 3.0),
                 e0_range: tuple[float, float] = (0.2, 5.0), penalty: float = 2.0):
        super().__init__()
        self.params = params
        self.agent_cost = agent_cost
        self.lam_ref = require_positive('lam', lam)
        self.penalty = require_positive('penalty', penalty)
        self.ranges = {}
        for name, rng in (('lam_range', lam_range), ('t0_range', t0_range),
                          ('e0_range', e0_range)):
            lo, hi = (require_positive(name, v) for v in rng)
            if lo > hi:
                raise ValueError(f'{name} must have low <= high, got {rng!r}')
            self.ranges[name] = (lo, hi)
        probe = PlanningProblem(params, lam, 1.0, math.inf, agent_cost)
        p = params
        b_max = p.b_max
        self.t_ref = evaluate_point(probe, b_max, p.f_max, p.f_max_server).delay
        reference = least_energy_at(probe, b_max, 2.0 * self.t_ref)
        if reference is None:  # twice the fastest delay always has a clock pair
            raise ValueError(f'no operating point at b = {b_max} within 2 x T_min')
        self.e_ref = reference.energy
        self.observation_space = spaces.Box(-_CLIP, _CLIP, shape=(3,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self._log_obj = self._log_objectives()
        self.problem: PlanningProblem | None = None

    def _log_objectives(self):
        b_max = self.params.b_max
        logs = [math.log2(bound_terms(b, 1.0)[0] - bound_terms(b, 1.0)[1])
                for b in range(2, b_max + 1)]
        return logs

    def objective_score(self, bit_width: int) -> float:
        """q(b) in [0, 1] (1.5 at b = 1): the objective on the log scale of the reward."""
        if bit_width == 1:
            return _Q_B1
        if self.params.b_max == 2:
            return 0.0
        first, last = self._log_obj[0], self._log_obj[-1]
        return (self._log_obj[bit_width - 2] - last) / (first - last)

    def observe(self, problem: PlanningProblem) -> np.ndarray:
        """Observation of ``problem`` (see the module docstring)."""
        def log_ratio(value, ref):
            if value <= 0.0:
                return -_CLIP
            return min(max(math.log(value / ref), -_CLIP), _CLIP) if math.isfinite(value) \
                else _CLIP
        return np.array([log_ratio(problem.t0, self.t_ref), log_ratio(problem.e0, self.e_ref),
                         log_ratio(problem.lam, self.lam_ref)], dtype=np.float32)

    def decode(self, action) -> tuple[int, float, float]:
        """``(b, f, f~)`` of an action in [-1, 1]^3."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(3), -1.0, 1.0)
        p = self.params
        b = 1 + int(round((a[0] + 1.0) / 2.0 * (p.b_max - 1)))
        f = max(p.f_min + (p.f_max - p.f_min) * (a[1] + 1.0) / 2.0, 1e-3 * p.f_max)
        g = max(p.f_min_server + (p.f_max_server - p.f_min_server) * (a[2] + 1.0) / 2.0,
                1e-3 * p.f_max_server)
        return b, f, g

    def violation(self, problem: PlanningProblem, point: OperatingPoint) -> float:
        """Relative budget violation v (0 iff both budgets are met), capped at 10."""
        def excess(value, budget):
            if value <= budget:
                return 0.0
            return value / budget - 1.0 if budget > 0.0 else _MAX_VIOLATION
        return min(excess(point.delay, problem.t0) + excess(point.energy, problem.e0),
                   _MAX_VIOLATION)

    def reward(self, problem: PlanningProblem, point: OperatingPoint) -> float:
        """-q(b) - penalty * v."""
        return -self.objective_score(point.bit_width) - self.penalty * self.violation(
            problem, point)

    def sample_problem(self) -> PlanningProblem:
        """Draw a random instance: log-uniform lam, T0, E0 around the references."""
        def log_uniform(lo, hi):
            return float(math.exp(self.np_random.uniform(math.log(lo), math.log(hi))))
        lam = self.lam_ref * log_uniform(*self.ranges['lam_range'])
        t0 = self.t_ref * log_uniform(*self.ranges['t0_range'])
        e0 = self.e_ref * log_uniform(*self.ranges['e0_range'])
        return PlanningProblem(self.params, lam, t0, e0, self.agent_cost)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw a new instance (``options={'problem': p}`` sets one) and observe it."""
        super().reset(seed=seed)
        problem = (options or {}).get('problem')
        self.problem = problem if problem is not None else self.sample_problem()
        return self.observe(self.problem), {}

    def step(self, action):
        """Apply one decision; the episode ends after it."""
        if self.problem is None:
            raise RuntimeError('call reset() before step()')
        b, f, g = self.decode(action)
        point = evaluate_point(self.problem, b, f, g)
        violation = self.violation(self.problem, point)
        reward = self.reward(self.problem, point)
        info = {'bit_width': b, 'f': f, 'f_server': g, 'delay': point.delay,
                'energy': point.energy, 'violation': violation}
        return self.observe(self.problem), float(reward), True, False, info
