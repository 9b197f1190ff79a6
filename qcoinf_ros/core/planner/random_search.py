"""
Feasible random baseline of section VI-C.

"We randomly sample bit-widths for 400 trials, and for each sampled bit-width, we check
feasibility by optimizing the remaining computation frequency variables. Then, only feasible
trials are evaluated and reported." The clocks of a trial are optimised exactly as in the
exact solver (least energy meeting T0, then the E0 check). The paper does not say which
feasible trial is reported; ``select='best'`` (default) reports the best feasible trial,
``select='uniform'`` a uniformly drawn feasible one (a reading of "only feasible trials are
evaluated" as the average over them). The generator is seeded in the constructor and advances
from one ``solve`` call to the next, so a sequence of decisions is reproducible.
"""

from __future__ import annotations

import random

from qcoinf_ros.core.planner.core import least_energy_point, make_plan, OperatingPoint, Plan, \
    PlanningProblem
from qcoinf_ros.core.validation import require_int_in_range

__all__ = ['RandomSolver']


class RandomSolver:
    """Sample ``trials`` bit-widths uniformly from b_min..B_max; keep a feasible one."""

    name = 'random'

    def __init__(self, trials: int = 400, seed: int = 0, select: str = 'best'):
        self.trials = require_int_in_range('trials', trials, 1)
        if select not in ('best', 'uniform'):
            raise ValueError(f"select must be 'best' or 'uniform', got {select!r}")
        self.select = select
        self.seed = seed
        self._rng = random.Random(seed)

    def solve(self, problem: PlanningProblem) -> Plan:
        """Best (or a random) feasible trial; infeasible if no trial is feasible."""
        b_max = problem.params.b_max
        cache: dict[int, OperatingPoint | None] = {}
        feasible: list[OperatingPoint] = []
        for _ in range(self.trials):
            b = self._rng.randint(problem.b_min, b_max)
            if b not in cache:  # a repeated bit-width has the same answer: check it once
                cache[b] = least_energy_point(problem, b)
            point = cache[b]
            if point is not None:
                feasible.append(point)
        if not feasible:
            return make_plan(problem, None, self.name, self.trials,
                             f'none of {self.trials} random bit-widths is feasible')
        if self.select == 'best':
            point = max(feasible, key=lambda pt: pt.bit_width)
        else:
            point = self._rng.choice(feasible)
        return make_plan(problem, point, self.name, self.trials)
