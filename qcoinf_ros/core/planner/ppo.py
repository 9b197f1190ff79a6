"""
PPO baseline of section VI-C: a policy trained with stable-baselines3 on :mod:`.rl_env`.

The trained policy maps an instance to ``(b, f, f~)`` in one forward pass. Its decision is
then checked against (P1) like every other solver's: a decision that breaks a budget is
reported as infeasible (with the reason and the safe fallback), never as a plan. Needs the
optional ``rl`` extra (``stable-baselines3``, ``gymnasium``), imported lazily.
"""

from __future__ import annotations

from pathlib import Path

from qcoinf_ros.core.planner.core import evaluate_point, make_plan, Plan, PlanningProblem
from qcoinf_ros.core.system.model import AgentCostModel, SystemParams
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['PpoSolver', 'train_ppo']

_EXTRA_HINT = ("the PPO baseline needs the optional 'rl' extra: "
               "pip install 'qcoinf_ros[rl]' (stable-baselines3 and gymnasium)")


def _import_sb3():
    try:
        import stable_baselines3
        from qcoinf_ros.core.planner import rl_env
    except ImportError as exc:
        raise ImportError(f'{_EXTRA_HINT} ({exc})') from exc
    return stable_baselines3, rl_env


class PpoSolver:
    """Answer (P1) with a trained PPO policy (deterministic action)."""

    name = 'ppo'

    def __init__(self, model, env):
        self.model = model
        self.env = env

    def solve(self, problem: PlanningProblem) -> Plan:
        """Return the policy's decision, checked against the budgets."""
        if problem.params != self.env.params or problem.agent_cost != self.env.agent_cost:
            raise ValueError('params: the PPO policy was trained for other system parameters '
                             f'({self.env.params!r}); train one for {problem.params!r}')
        action, _ = self.model.predict(self.env.observe(problem), deterministic=True)
        b, f, g = self.env.decode(action)
        return make_plan(problem, evaluate_point(problem, b, f, g), self.name, 1,
                         'policy decision')

    def save(self, path: str | Path):
        """Save the policy (stable-baselines3 zip)."""
        self.model.save(str(path))

    @classmethod
    def load(cls, path: str | Path, params: SystemParams,
             agent_cost: AgentCostModel | None = None, **env_kwargs) -> PpoSolver:
        """Load a saved policy for ``params`` (the environment must match training)."""
        sb3, rl_env = _import_sb3()
        env = rl_env.PlanningEnv(params, agent_cost, **env_kwargs)
        return cls(sb3.PPO.load(str(path), device='cpu'), env)


def train_ppo(params: SystemParams, agent_cost: AgentCostModel | None = None,
              timesteps: int = 20_000, seed: int = 0, verbose: int = 0,
              **env_kwargs) -> PpoSolver:
    """
    Train a PPO policy on :class:`~qcoinf_ros.core.planner.rl_env.PlanningEnv` and wrap it.

    The default budget (20k single-step episodes, ~1 min on 2 CPU cores) is small on
    purpose; the paper does not give its training budget.
    """
    timesteps = require_int_in_range('timesteps', timesteps, 1)
    sb3, rl_env = _import_sb3()
    env = rl_env.PlanningEnv(params, agent_cost, **env_kwargs)
    env.reset(seed=seed)
    model = sb3.PPO('MlpPolicy', env, n_steps=512, batch_size=128, learning_rate=1e-3,
                    gamma=0.0, seed=seed, device='cpu', verbose=verbose)
    model.learn(total_timesteps=timesteps)
    return PpoSolver(model, env)
