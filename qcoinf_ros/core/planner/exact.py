"""
Exact solver of (P1): the largest feasible bit-width with least-energy clocks.

Why it is exact (the bounds of eqs. (24) and (26), problem (30)): the objective D^U(b-1) - D^L(b-1)
depends on ``b`` alone and is strictly decreasing in it (``inf`` at b = 1), so the optimum is
the largest ``b`` for which *some* clocks meet both budgets. For a given ``b`` the least energy
that meets the deadline has a closed form
(:func:`~qcoinf_ros.core.planner.core.least_energy_frequencies`), and ``b`` is feasible iff that
energy is within E0. With the paper's cost model (and any calibrated one whose cycles do not
decrease with ``b``) feasibility is monotone in ``b``, so a bisection needs about
log2(B_max) closed-form checks; otherwise the bit-widths are scanned from B_max down. All of it
is plain float arithmetic (no numpy) so one decision takes microseconds.

The clocks returned are the least-energy ones for the chosen ``b``: with slack in the
deadline they are the slowest that still meet T0 (energy grows with the clocks, delay falls).
Among the optimal plans (all share the optimal ``b``) this one spends the least energy.
A plan with b = 1 is feasible and returned with ``objective = inf`` (D^U(0) is infinite).
"""

from __future__ import annotations

import functools

from qcoinf_ros.core.planner.core import (
    largest_feasible_bit_width,
    least_energy_point,
    make_plan,
    Plan,
    PlanningProblem,
)

__all__ = ['ExactSolver']


class ExactSolver:
    """Provably optimal closed-form solver of (P1) (see the module docstring)."""

    name = 'exact'

    def solve(self, problem: PlanningProblem) -> Plan:
        """Largest feasible bit-width and its least-energy clocks, or an infeasible plan."""
        point, checks = largest_feasible_bit_width(
            problem, functools.partial(least_energy_point, problem))
        return make_plan(problem, point, self.name, checks)
