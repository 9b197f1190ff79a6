"""
The solvers of (P1) against each other and a brute force (``qcoinf bench planner``).

On random instances around a preset (default ``paper``) it reports

* how often the exact solver's bit-width equals a brute-force search's (target 100 %),
* the exact solver's median decision time (target <= 50 us in-process),
* the SCA's median time, the ratio to the exact solver's (target >= 1000x) and how often its
  rounded bit-width is the optimum (on a subsample: the SCA takes tens of ms per instance),
* the same for the fixed-frequency, random and profile baselines (and PPO with --with-ppo),
* that no solver ever beats the exact one and that every "feasible" plan meets the budgets
  when re-evaluated with the public model functions (eqs. (8)-(9)).

**Instances.** System parameters vary around the preset (each of its models, N_FLOP, N~_FLOP,
psi, psi~ scaled log-uniformly by [1/2, 2]); the budgets are drawn around values that bind:
a reference bit-width b_ref is drawn from B, ``T0 = T_min(b_ref) x U_log(0.5, 4)`` and
``E0 = E_min(b_ref, T0) x U_log(0.3, 3)``. This mixes loose (optimum B_max), tight and
infeasible instances; the counts of each are printed.

**Brute force.** For each b it scans a dense geometric grid of agent clocks
``f in [1e-4 f_max, f_max]`` (default 4096 points) and, for each f, takes the smallest server
clock that meets the deadline (for a fixed f the energy grows and the delay falls with f~, so
no other f~ can do better -- the one structural fact it uses; it does not use the KKT ratio
of the exact solver). ``b`` is feasible for the brute force if some grid point meets E0. The
grid points are genuine operating points, so the brute force can only *miss* feasibility: if
it finds a larger b than the exact solver, the exact solver is wrong. It can find a smaller
b only when E0 lies between the true least energy and the grid's least energy (a gap below
~1e-4 relative for this grid; the script prints the largest seen); such cases are counted
separately as grid-resolution misses, with the exact solver's margin. The script also checks
that the exact least energy never exceeds the grid's for any b.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import random
import statistics
import time

import numpy as np

from qcoinf_ros.core.planner import PlanningProblem
from qcoinf_ros.core.planner.core import FEAS_RTOL, least_energy_at
from qcoinf_ros.core.planner.presets import load_preset, preset_models
from qcoinf_ros.core.stats import percentile
from qcoinf_ros.core.system.model import total_delay, total_energy

__all__ = ['BruteForceCheck', 'brute_force', 'check_against_brute_force', 'random_instances',
           'summary', 'timed']


def _min_delay(problem: PlanningProblem, b: int) -> float:
    p = problem.params
    return (problem.agent_cycles[b - 1] / p.f_max + p.server_cycles / p.f_max_server
            + p.comm_delay)


def _least_energy(problem: PlanningProblem, b: int, t0: float) -> float:
    point = least_energy_at(problem, b, t0)
    return math.inf if point is None else point.energy


def random_instances(count: int, seed: int = 0, preset: str = 'paper',
                     vary_params: bool = True, param_pool: int = 64) -> list[PlanningProblem]:
    """``count`` random (P1) instances around ``preset`` (see the module docstring)."""
    rng = random.Random(seed)
    base_params, _, defaults = load_preset(preset)
    models = preset_models(preset) or [None]
    lam0 = float(defaults.get('lam', 40.0))

    def log_uniform(lo, hi):
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))

    pool = [base_params]
    if vary_params:
        pool = []
        for _ in range(param_pool):
            params = load_preset(preset, rng.choice(models)).params
            pool.append(dataclasses.replace(
                params, n_flop=params.n_flop * log_uniform(0.5, 2.0),
                n_flop_server=params.n_flop_server * log_uniform(0.5, 2.0),
                psi=params.psi * log_uniform(0.5, 2.0),
                psi_server=params.psi_server * log_uniform(0.5, 2.0)))
    problems = []
    for _ in range(count):
        params = rng.choice(pool)
        probe = PlanningProblem(params, lam0, 0.0, 0.0)
        b_ref = rng.randint(1, params.b_max)
        t0 = _min_delay(probe, b_ref) * log_uniform(0.5, 4.0)
        e_ref = _least_energy(probe, b_ref, t0)
        if not math.isfinite(e_ref):
            e_ref = _least_energy(probe, b_ref, _min_delay(probe, b_ref) * 2.0)
        e0 = e_ref * log_uniform(0.3, 3.0)
        problems.append(PlanningProblem(params, lam0 * log_uniform(0.25, 4.0), t0, e0))
    return problems


def brute_force(problem: PlanningProblem, n_grid: int = 4096):
    """
    Largest b feasible on a dense clock grid, and the grid's least energy per b.

    Returns ``(bit_width or None, least_energy)`` with ``least_energy[b-1]`` the smallest
    energy over grid points that meet the deadline (``inf`` if none).
    """
    p = problem.params
    w_a = np.asarray(problem.agent_cycles)[:, None]
    f = np.geomspace(max(1e-4 * p.f_max, p.f_min), p.f_max, n_grid)[None, :]
    budget = problem.t0 - p.comm_delay
    left = budget - w_a / f  # time left for the server
    with np.errstate(divide='ignore', invalid='ignore'):
        g = np.maximum(np.where(left > 0.0, p.server_cycles / left, np.inf), p.f_min_server)
    ok = g <= p.f_max_server
    g = np.where(ok, g, 0.0)
    energy = (p.eta * p.psi * w_a * f * f
              + p.eta_server * p.psi_server * p.server_cycles * g * g + p.comm_energy)
    least = np.where(ok, energy, np.inf).min(axis=1)
    feasible = np.nonzero(least <= problem.e0 * (1.0 + FEAS_RTOL))[0]
    return (int(feasible.max()) + 1 if feasible.size else None), least


def timed(solver, problems, progress=None, task=None):
    """Solve each problem, timing each call (garbage collection off, as ``timeit`` does)."""
    plans, times = [], []
    gc.collect()
    gc.disable()
    try:
        for problem in problems:
            start = time.perf_counter_ns()
            plan = solver.solve(problem)
            times.append((time.perf_counter_ns() - start) / 1e3)
            plans.append(plan)
            if progress is not None:
                progress.advance(task)
    finally:
        gc.enable()
    return plans, times


def _honest(problem: PlanningProblem, plan) -> bool:
    """Check that a feasible plan re-evaluated with eqs. (8)-(9) meets both budgets."""
    if not plan.feasible:
        return True
    p, cost = problem.params, problem.agent_cost
    delay = total_delay(p, plan.bit_width, plan.f, plan.f_server, cost)
    energy = total_energy(p, plan.bit_width, plan.f, plan.f_server, cost)
    return delay <= problem.t0 * (1 + 1e-9) and energy <= problem.e0 * (1 + 1e-9)


def summary(name, problems, plans, times, optimum) -> dict:
    """One solver's row: agreement with ``optimum``, honesty, median and p99 time [us]."""
    same = sum(pl.bit_width == op.bit_width for pl, op in zip(plans, optimum))
    better = sum(pl.objective < op.objective for pl, op in zip(plans, optimum))
    dishonest = sum(not _honest(pr, pl) for pr, pl in zip(problems, plans))
    return {'solver': name, 'n': len(plans), 'feasible': sum(pl.feasible for pl in plans),
            'optimal': same, 'better': better, 'dishonest': dishonest,
            'median_us': statistics.median(times),
            'p99_us': percentile(times, 99)}


@dataclasses.dataclass
class BruteForceCheck:
    """The exact solver's plans against the brute force over ``n`` instances."""

    n: int = 0
    agree: int = 0  # same bit-width (or both infeasible)
    brute_better: int = 0  # the grid found a larger feasible b: the exact solver is wrong
    grid_miss: int = 0  # the grid's resolution missed the exact b
    exact_worse_energy: int = 0  # a per-b least energy above the grid's (must be 0)
    worst_margin: float = 0.0  # the exact plan's margin to E0 on grid misses (relative)
    max_grid_gap: float = 0.0  # the grid's least energy above the exact one (relative)

    @property
    def passed(self) -> bool:
        """Every instance agrees or is a grid miss, and no count that must be 0 is not."""
        return (self.agree + self.grid_miss == self.n and not self.brute_better
                and not self.exact_worse_energy)


def check_against_brute_force(problems, optimum, grid: int = 4096,
                              advance=None) -> BruteForceCheck:
    """Compare the exact solver's ``optimum`` plans with :func:`brute_force` on ``grid``."""
    check = BruteForceCheck(n=len(problems))
    for problem, plan in zip(problems, optimum):
        b_brute, grid_least = brute_force(problem, grid)
        b_exact = plan.bit_width
        for b in range(1, problem.params.b_max + 1):
            least = _least_energy(problem, b, problem.t0)
            if least > grid_least[b - 1] * (1.0 + 1e-12):
                check.exact_worse_energy += 1
            if math.isfinite(least) and math.isfinite(grid_least[b - 1]):
                check.max_grid_gap = max(check.max_grid_gap, grid_least[b - 1] / least - 1.0)
        if b_brute == b_exact:
            check.agree += 1
        elif b_brute is not None and (b_exact is None or b_brute > b_exact):
            check.brute_better += 1
        else:
            check.grid_miss += 1
            check.worst_margin = max(check.worst_margin, (problem.e0 - plan.energy) / problem.e0)
        if advance is not None:
            advance()
    return check
