"""
Solvers of problem (P1), paper section V, behind one interface.

``make_solver(name, **kw).solve(PlanningProblem(...)) -> Plan`` for ``name`` in
:data:`SOLVER_NAMES`:

* ``'exact'``: closed-form, provably optimal (largest feasible b, least-energy clocks);
* ``'sca'``: the paper's Algorithm 1 (cvxpy), with a valid majorizer;
* ``'fixed'``: clocks at their maxima, only b optimised (baseline of section VI-C);
* ``'random'``: feasible random search over b, 400 trials (baseline of section VI-C);
* ``'ppo'``: a stable-baselines3 PPO policy (baseline; needs the ``rl`` extra and
  ``params=...`` to train one, or ``model=`` a trained :class:`~.ppo.PpoSolver`);
* ``'profiles'``: choose among named clock profiles (``profiles=...``), as on the testbed.
"""

from __future__ import annotations

from qcoinf_ros.core.planner.core import (
    FEAS_RTOL,
    OperatingPoint,
    Plan,
    PlanningProblem,
    Solver,
)
from qcoinf_ros.core.planner.exact import ExactSolver
from qcoinf_ros.core.planner.profiles import FixedFrequencySolver, FrequencyProfile, ProfileSolver
from qcoinf_ros.core.planner.random_search import RandomSolver

__all__ = [
    'ExactSolver',
    'FEAS_RTOL',
    'FixedFrequencySolver',
    'FrequencyProfile',
    'OperatingPoint',
    'Plan',
    'PlanningProblem',
    'ProfileSolver',
    'RandomSolver',
    'SOLVER_NAMES',
    'Solver',
    'make_solver',
]

SOLVER_NAMES = ('exact', 'sca', 'fixed', 'random', 'ppo', 'profiles')


def make_solver(name: str, **kwargs) -> Solver:
    """
    Build the solver called ``name`` with its keyword arguments.

    ``'sca'`` imports cvxpy and ``'ppo'`` stable-baselines3 only when asked for. For
    ``'ppo'``, pass ``model=`` (a trained :class:`~qcoinf_ros.core.planner.ppo.PpoSolver`) or the
    arguments of :func:`~qcoinf_ros.core.planner.ppo.train_ppo` (``params=`` at least) to train.
    """
    if name == 'exact':
        return ExactSolver(**kwargs)
    if name == 'sca':
        from qcoinf_ros.core.planner.sca import ScaSolver
        return ScaSolver(**kwargs)
    if name == 'fixed':
        return FixedFrequencySolver(**kwargs)
    if name == 'random':
        return RandomSolver(**kwargs)
    if name == 'profiles':
        return ProfileSolver(**kwargs)
    if name == 'ppo':
        from qcoinf_ros.core.planner.ppo import PpoSolver, train_ppo
        model = kwargs.pop('model', None)
        if model is not None:
            if kwargs:
                raise ValueError(f'ppo: model= takes no other arguments, got {sorted(kwargs)}')
            if not isinstance(model, PpoSolver):
                raise ValueError(f'ppo: model must be a PpoSolver, got {model!r}')
            return model
        if 'params' not in kwargs:
            raise ValueError('ppo: pass model= (a trained PpoSolver) or params= to train one')
        return train_ppo(**kwargs)
    raise ValueError(f'unknown solver {name!r}; known: {list(SOLVER_NAMES)}')
