"""
The paper's SCA solver of (P1), Algorithm 1, with cvxpy in place of CVX.

Steps as in section V-B: relax ``b`` to a real ``b~ in (1, B_max]`` (P2); introduce
``b~' > 0`` with ``b~ <= 1/b~'`` so that the workload terms ``N_FLOP/(b~' b f c)`` of the delay
(32a) and energy (32b) are convex (P3); replace the non-convex ``b~ <= 1/b~'`` by its
linearisation at ``b~'^(k)``, (35)/(36a), which is an inner (conservative) approximation because
``1/b~'`` is convex; solve the convex (P4.k), move the linearisation points, repeat until the
objective decreases by less than ``delta`` (relative), round ``b~*``.

**The surrogate objective.** Eq. (34) as printed keeps D^U at its value at ``b~^(k)`` (a
constant) and subtracts the linearised D^L, i.e. it minimises ``-zeta^(k)(b~)``, which grows
with ``b~``; it is not an upper bound of the objective, and minimising it drives ``b~`` down.
Here the surrogate is a true majorizer, tight at ``b~^(k)`` (so the objective of (P2) is
non-increasing over the iterations, as the paper's convergence argument needs):

* ``-D^L`` is concave (D^L(b~-1) = 1/(lam 2^b~) is convex), so its linearisation (33) is an
  upper bound of it -- exactly the paper's step.
* ``D^U(b~-1)`` is convex in ``b~``: with ``t = 2^-(b~-1)``, ``2 lam D^U + 1 = phi(t) =
  sqrt((1+3t)/(1-t))``; ``phi'' = s^3 (4s-3)^(-3/2) 12 (s-1) >= 0`` with ``s = 1/(1-t)``, so
  phi is convex and increasing in t, and t is convex in ``b~``: the composition is convex
  (checked numerically in the tests too). It is, however, not DCP as written (a square root of
  a convex function). It is kept *exactly* as a function of ``b~`` through its epigraph,
  ``phi^2 - 1 = 4t/(1-t) = 4t + 4t^2/(1-t) <= r`` (DCP: ``quad_over_lin``) with
  ``t >= exp(-ln2 (b~-1))`` (DCP), and only the outer square root ``phi = sqrt(1 + r)``, which
  is concave in ``r``, is linearised at ``r^(k)`` -- again an upper bound, tight at the current
  point. So the only approximations are the two tangent majorizers and the paper's (36a).
* Scaling: ``t`` and ``r`` are scaled by ``2^(b~^(k)-1)`` (their size at the current point)
  and the objective by ``lam 2^(b~^(k))``, so that every subproblem is O(1) however large
  ``b~`` is; the scale factors are cvxpy ``Parameter`` s, as are the linearisation points and
  the instance's coefficients, so the problem is built and canonicalised once (DPP) and only
  re-solved.

**Initial point.** ``b~^(0) = 1 + eps``, ``b~'^(0) = 1/b~^(0)``; (P4.1) is feasible iff some
clocks meet both budgets at ``b~^(0)`` (checked with the closed form of the exact solver).
If not, the relaxed problem has no feasible point; the integer b = 1 (``b_min`` under a quality
floor) is then checked on its own (it is in B but not in the relaxation's ``(1, B_max]``).

**Rounding.** ``b~*`` is rounded to the nearest integer and the result re-checked against
(P1): first with the SCA's clocks, then with the clocks re-optimised for the rounded ``b``
(least energy meeting T0); if neither meets the budgets, ``b`` is lowered by one and checked
again, down to the quality floor ``b_min``. The plan's ``relaxed_bit_width`` keeps ``b~*`` and
``reason`` says which clocks were used, so the rounding is reported honestly.

**Calibrated costs.** The SCA needs the workload affine in ``b~`` (eq. (4) is linear). For a
calibrated cost it plans with the tightest affine majorant of the measured cycles that has
their least-squares slope; rounding re-checks against the measured table.
"""

from __future__ import annotations

import math
import warnings

import cvxpy as cp
import numpy as np

from qcoinf_ros.core.planner.core import (
    infeasible_plan,
    least_energy_frequencies,
    least_energy_point,
    make_plan,
    OperatingPoint,
    Plan,
    PlanningProblem,
    point_at_clocks,
)
from qcoinf_ros.core.theory.rate_distortion import design_objective
from qcoinf_ros.core.validation import require_int_in_range, require_positive

__all__ = ['ScaSolver', 'affine_majorant']

LN2 = math.log(2.0)


def affine_majorant(cycles) -> tuple[float, float]:
    """
    ``(alpha, beta)`` with ``alpha + beta b >= W_a(b)`` for b = 1..len(cycles), tightest.

    The slope is the least-squares slope (floored at 0) and the intercept the smallest that
    covers every point; for the paper's cost, eq. (4), it is exact (alpha = 0).
    """
    w = np.asarray(cycles, dtype=np.float64)
    b = np.arange(1, len(w) + 1, dtype=np.float64)
    beta = max(float(np.polyfit(b, w, 1)[0]), 0.0) if len(w) > 1 else 0.0
    alpha = float(np.max(w - beta * b))
    if alpha <= 1e-12 * float(np.max(w)):  # eq. (4): zero up to rounding; never negative
        alpha = 0.0
    return alpha, beta


class ScaSolver:
    """Algorithm 1 of the paper with a valid majorizer (see the module docstring)."""

    name = 'sca'

    def __init__(self, delta: float = 1e-6, max_iter: int = 100, eps: float = 1e-3,
                 cvx_solver: str = 'CLARABEL'):
        self.delta = require_positive('delta', delta)
        self.max_iter = require_int_in_range('max_iter', max_iter, 1)
        self.eps = require_positive('eps', eps)
        if cvx_solver not in cp.installed_solvers():
            raise ValueError(f'cvx_solver {cvx_solver!r} is not installed; '
                             f'have {cp.installed_solvers()}')
        self.cvx_solver = cvx_solver
        self._build()

    def _build(self):
        par = {name: cp.Parameter(nonneg=nonneg, name=name) for name, nonneg in (
            ('b_k', True), ('eps_k', True), ('a_r', True), ('p1', True), ('p2', True),
            ('b_hi', True), ('c1', True), ('c2', True), ('c3', True), ('d1', True),
            ('d2', True), ('d3', True), ('x_lo', True), ('y_lo', True))}
        b = cp.Variable(name='b')  # relaxed bit-width b~
        bp = cp.Variable(pos=True, name='bp')  # b~' of (P3)
        t_hat = cp.Variable(pos=True, name='t_hat')  # 2^(b_k-1) t, t = 2^-(b-1)
        r_hat = cp.Variable(name='r_hat')  # 2^(b_k-1) (phi^2 - 1)
        s = cp.Variable(name='s')
        w = cp.Variable(pos=True, name='w')  # 1 - t
        x = cp.Variable(pos=True, name='x')  # f / f_max
        y = cp.Variable(pos=True, name='y')  # f~ / f~_max
        constraints = [
            cp.exp(-LN2 * (b - par['b_k'])) <= t_hat,
            w == 1.0 - par['eps_k'] * t_hat,
            cp.quad_over_lin(t_hat, w) <= s,
            4.0 * t_hat + 4.0 * par['eps_k'] * s <= r_hat,
            b + par['p1'] * bp <= par['p2'],  # (36a)
            par['c1'] * cp.inv_pos(x) + par['c2'] * cp.inv_prod(cp.hstack([bp, x]))
            + par['c3'] * cp.inv_pos(y) <= 1.0,  # (32a) / T0
            par['d1'] * cp.square(x) + par['d2'] * cp.quad_over_lin(x, bp)
            + par['d3'] * cp.square(y) <= 1.0,  # (32b) / E0
            b >= 1.0 + self.eps, b <= par['b_hi'],  # (31c)
            x <= 1.0, y <= 1.0,  # (30d), (30e)
            x >= par['x_lo'], y >= par['y_lo'],  # clock floors (0 in the paper)
        ]
        objective = cp.Minimize(par['a_r'] * r_hat + 0.5 * LN2 * b)
        self._prob = cp.Problem(objective, constraints)
        if not self._prob.is_dcp(dpp=True):  # pragma: no cover - a construction error
            raise RuntimeError('the SCA subproblem is not DPP')
        self._par = par
        self._var = {'b': b, 'bp': bp, 'x': x, 'y': y}

    def _set_point(self, b_k: float, bp_k: float):
        par = self._par
        eps_k = 2.0 ** (1.0 - b_k)  # t at b_k
        phi_k = math.sqrt((1.0 + 3.0 * eps_k) / (1.0 - eps_k))
        par['b_k'].value = b_k
        par['eps_k'].value = eps_k
        par['a_r'].value = 1.0 / (4.0 * phi_k)
        par['p1'].value = 1.0 / bp_k ** 2
        par['p2'].value = 2.0 / bp_k

    def solve(self, problem: PlanningProblem) -> Plan:
        """Run Algorithm 1 on ``problem``; see the module docstring for every step."""
        p = problem.params
        t_budget = problem.t0 - p.comm_delay
        e_budget = problem.e0 - p.comm_energy
        alpha, beta = affine_majorant(problem.agent_cycles)
        k_a, k_s = p.k_agent, p.k_server
        b0 = 1.0 + self.eps
        start = least_energy_frequencies(alpha + beta * b0, p.server_cycles, k_a, k_s, p.f_max,
                                         p.f_max_server, t_budget, p.f_min, p.f_min_server)
        low = problem.b_min
        if start is None or start[2] > e_budget:
            point = least_energy_point(problem, low)
            return make_plan(problem, point, self.name, 0,
                             '' if point is None else f'relaxation infeasible; b = {low} checked')
        if p.b_max == low:
            return make_plan(problem, least_energy_point(problem, low), self.name, 0)
        par = self._par
        par['b_hi'].value = float(p.b_max)
        par['x_lo'].value = p.f_min / p.f_max
        par['y_lo'].value = p.f_min_server / p.f_max_server
        par['c1'].value = alpha / (p.f_max * t_budget)
        par['c2'].value = beta / (p.f_max * t_budget)
        par['c3'].value = p.server_cycles / (p.f_max_server * t_budget)
        scale = 1.0 / e_budget if math.isfinite(e_budget) else 0.0
        par['d1'].value = k_a * alpha * p.f_max ** 2 * scale
        par['d2'].value = k_a * beta * p.f_max ** 2 * scale
        par['d3'].value = k_s * p.server_cycles * p.f_max_server ** 2 * scale

        b_k, bp_k = b0, 1.0 / b0
        clocks = (start[0], start[1])
        obj_k = float(design_objective(b_k, problem.lam))
        iterations = 0
        var = self._var
        for iterations in range(1, self.max_iter + 1):
            self._set_point(b_k, bp_k)
            try:
                with warnings.catch_warnings():  # 'inaccurate' is handled below
                    warnings.simplefilter('ignore', UserWarning)
                    self._prob.solve(solver=self.cvx_solver)
            except cp.error.SolverError:
                break
            if self._prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
                break
            b_new = min(max(float(var['b'].value), b0), float(p.b_max))
            obj_new = float(design_objective(b_new, problem.lam))
            if obj_new > obj_k:  # solver noise: the majorizer cannot increase the objective
                break
            clocks = (min(max(float(var['x'].value) * p.f_max, p.f_min), p.f_max),
                      min(max(float(var['y'].value) * p.f_max_server, p.f_min_server),
                          p.f_max_server))
            decrease = obj_k - obj_new
            b_k, bp_k, obj_k = b_new, float(var['bp'].value), obj_new
            if decrease <= self.delta * obj_k:
                break
        return self._round(problem, b_k, clocks, iterations)

    def _round(self, problem: PlanningProblem, b_relaxed: float, clocks, iterations) -> Plan:
        b = min(max(int(round(b_relaxed)), problem.b_min), problem.params.b_max)
        while b >= problem.b_min:
            point: OperatingPoint | None = point_at_clocks(problem, b, *clocks)
            how = 'SCA clocks'
            if point is None:
                point, how = least_energy_point(problem, b), 're-optimised clocks'
            if point is not None:
                reason = f'b~* = {b_relaxed:.4f} rounded to {b} ({how})'
                return make_plan(problem, point, self.name, iterations, reason,
                                 relaxed_bit_width=b_relaxed)
            b -= 1
        return infeasible_plan(problem, self.name, f'no bit-width in {problem.b_min}..'
                               f'max(round({b_relaxed:.4f}), {problem.b_min}) is feasible',
                               iterations, relaxed_bit_width=b_relaxed)
