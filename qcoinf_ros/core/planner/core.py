"""
Problem (P1), plans and the routines every solver shares.

(P1), paper eq. (30): minimise D^U(b-1) - D^L(b-1) over b in {1..B_max}, 0 <= f <= f^max,
0 <= f~ <= f~^max subject to T(b, f, f~) <= T0 (30a) and E(b, f, f~) <= E0 (30b).

Two facts make it easy (the bounds of eqs. (24) and (26), problem (30)):

* The objective depends on ``b`` only and is strictly decreasing in ``b`` (it is ``inf`` at
  b = 1, where D^U(0) is infinite). The optimum is therefore the **largest feasible b**.
* For a fixed ``b`` the frequencies enter only the constraints, and whether some (f, f~) meets
  both is a two-variable convex question with a closed form (:func:`least_energy_frequencies`):
  the least energy that meets the deadline is below E0 or it is not.

Feasibility of an operating point is judged with a relative tolerance :data:`FEAS_RTOL`
(1e-9) on T0 and E0, the same for every solver and for the brute-force check, so that a point
that meets a budget exactly up to float rounding counts as feasible. Nothing beyond that
tolerance is ever reported as feasible: every :class:`Plan` is built by :func:`make_plan`,
which re-evaluates delay and energy from the model and decides ``feasible`` itself.

A quality floor ``b_min`` (:attr:`PlanningProblem.b_min`, default 1 as in the paper) narrows the
bit-widths to ``{b_min..B_max}``: below it a model's outputs collapse, and a robot would rather
miss a budget at ``b_min`` than send them. The search, the feasibility check and the fallback
all keep to it, so an instance with no feasible ``b >= b_min`` is infeasible and its fallback is
the safest point at or above the floor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import functools
import math
from typing import Callable, NamedTuple, Protocol

from qcoinf_ros.core.system.model import AgentCostModel, NominalAgentCost, SystemParams
from qcoinf_ros.core.theory.rate_distortion import distortion_lower_bound, distortion_upper_bound
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative, require_positive

__all__ = [
    'FEAS_RTOL',
    'OperatingPoint',
    'Plan',
    'PlanningProblem',
    'Solver',
    'bound_terms',
    'cheapest_bit_width',
    'diagnose',
    'evaluate_point',
    'infeasible_plan',
    'largest_feasible_bit_width',
    'least_energy_at',
    'least_energy_frequencies',
    'least_energy_point',
    'make_plan',
    'point_at_clocks',
    'safest_point',
    'SAFE_RTOL',
    'worst_relative_violation',
]

#: Relative tolerance on T0 and E0 when judging feasibility (float rounding only).
FEAS_RTOL = 1e-9


@dataclass(frozen=True)
class PlanningProblem:
    """
    One instance of (P1): the system, the weight statistic and the two budgets.

    ``lam`` is the rate parameter of the exponential weight-magnitude model, eq. (3);
    ``t0`` (s) and ``e0`` (J) are the delay and energy budgets of (30a)-(30b). ``e0`` may be
    ``inf`` (no energy constraint); ``t0`` must be finite. ``agent_cost`` defaults to the
    paper's workload model, eq. (4). ``b_min`` is the quality floor, the lowest bit-width a
    plan may use (1..B_max; 1: the paper's ``{1..B_max}``).
    """

    params: SystemParams
    lam: float
    t0: float
    e0: float
    agent_cost: AgentCostModel | None = None
    b_min: int = 1
    #: ``(W_a(1), ..., W_a(B_max))`` agent cycles, derived from ``agent_cost``.
    agent_cycles: tuple[float, ...] = field(init=False, repr=False, compare=False)
    #: Whether ``agent_cycles`` is non-decreasing in ``b`` (then feasibility is monotone in b).
    monotone: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.params, SystemParams):
            raise ValueError(f'params must be a SystemParams, got {self.params!r}')
        object.__setattr__(self, 'lam', require_positive('lam', self.lam))
        object.__setattr__(self, 't0', require_nonnegative('t0', self.t0))
        object.__setattr__(self, 'e0', require_nonnegative('e0', self.e0, allow_inf=True))
        cost = self.agent_cost
        if cost is not None and not isinstance(cost, AgentCostModel):
            raise ValueError(f'agent_cost must be an AgentCostModel, got {cost!r}')
        object.__setattr__(self, 'b_min', require_int_in_range('b_min', self.b_min, 1,
                                                               self.params.b_max))
        table, monotone = _table(self.params, cost)
        object.__setattr__(self, 'agent_cycles', table)
        object.__setattr__(self, 'monotone', monotone)


@functools.lru_cache(maxsize=256)
def _table(params: SystemParams, cost: AgentCostModel | None):
    if cost is None:
        cost = NominalAgentCost.from_params(params)
    table = cost.cycles_table(params.b_max)
    return table, all(a <= b for a, b in zip(table, table[1:]))


class OperatingPoint(NamedTuple):
    """A bit-width and two clocks with the delay and energy they cost (eqs. (8)-(9))."""

    bit_width: int
    f: float
    f_server: float
    delay: float
    energy: float


@dataclass(frozen=True)
class Plan:
    """
    A solver's answer to one :class:`PlanningProblem`.

    If ``feasible`` is true, ``(bit_width, f, f_server)`` meets both budgets and ``objective``
    = ``d_upper - d_lower`` = D^U(b-1) - D^L(b-1). If ``feasible`` is false, ``bit_width`` is
    ``None``, the numbers are NaN/inf and ``reason`` says why; ``fallback`` then holds the
    safest operating point (the least agent work, clocks that minimise the worst relative
    budget violation max(T/T0, E/E0)) for a caller that must run *something*, kept apart so
    that an infeasible answer is never mistaken for a plan. A b = 1 plan is feasible with
    ``objective = inf`` (D^U(0) is infinite: the bound says nothing), the worst feasible
    answer. ``iterations`` counts the solver's work (per-b checks, SCA iterations, trials);
    ``relaxed_bit_width`` is the SCA's continuous b~* before rounding and ``profile`` the clock
    profile chosen by the profile and fixed-frequency solvers.
    """

    bit_width: int | None
    f: float
    f_server: float
    delay: float
    energy: float
    objective: float
    feasible: bool
    reason: str
    solver: str
    d_upper: float
    d_lower: float
    iterations: int = 0
    fallback: OperatingPoint | None = None
    relaxed_bit_width: float | None = None
    profile: str | None = None

    def __post_init__(self):
        if self.feasible and (self.bit_width is None or self.fallback is not None):
            raise ValueError(f'a feasible plan needs a bit_width and no fallback: {self!r}')
        if not self.feasible and self.bit_width is not None:
            raise ValueError(f'an infeasible plan must have bit_width None: {self!r}')

    @property
    def point(self) -> OperatingPoint | None:
        """Return the planned operating point, ``None`` if infeasible."""
        if not self.feasible or self.bit_width is None:
            return None
        return OperatingPoint(self.bit_width, self.f, self.f_server, self.delay, self.energy)


class Solver(Protocol):
    """Anything that answers (P1): ``solve(problem) -> Plan``."""

    name: str

    def solve(self, problem: PlanningProblem) -> Plan:
        """Return a plan for ``problem``; infeasible instances give ``feasible=False``."""


@functools.lru_cache(maxsize=None)
def _lam_bounds(bit_width: int) -> tuple[float, float]:
    rate = bit_width - 1.0
    return (distortion_upper_bound(rate, 1.0), distortion_lower_bound(rate, 1.0))


def bound_terms(bit_width: int, lam: float) -> tuple[float, float]:
    """
    (D^U(b-1), D^L(b-1)) of eqs. (26) and (24) for an integer bit-width, cached.

    Both bounds scale as 1/lam, so they are computed once per ``b`` at lam = 1 by
    :mod:`qcoinf_ros.core.theory.rate_distortion` and divided by ``lam``.
    """
    upper, lower = _lam_bounds(bit_width)
    return upper / lam, lower / lam


def least_energy_frequencies(w_a: float, w_s: float, k_a: float, k_s: float, f_max: float,
                             g_max: float, t_budget: float, f_min: float = 0.0,
                             g_min: float = 0.0):
    """
    Least-energy clocks meeting a compute-delay budget; ``None`` if none exists.

    Minimises ``k_a w_a f^2 + k_s w_s g^2`` (eqs. (6)-(7), ``k = eta psi``) subject to
    ``w_a/f + w_s/g <= t_budget`` (eqs. (4)-(5)), ``f_min <= f <= f_max`` and
    ``g_min <= g <= g_max`` (the paper: floors 0). Energy increases and delay decreases with
    each clock, so unless the floors already meet the deadline, the delay constraint is tight
    at the optimum: the least-energy clocks are the slowest that still meet it. KKT with
    multiplier mu on the delay: ``2 k_a w_a f = mu w_a / f^2`` and likewise for ``g``, so
    ``2 k_a f^3 = mu = 2 k_s g^3``: the ratio ``f/g = (k_s/k_a)^(1/3)`` is fixed by eta, psi,
    eta~, psi~ alone. In ``u = 1/f`` the tight deadline is a segment and the energy is convex
    along it, so the optimum is that KKT point clipped to the ``u`` the clock ranges allow.
    Returns ``(f, g, compute_energy)`` in pure floats (no numpy: this is the hot path).
    """
    if t_budget <= 0.0 or w_a / f_max + w_s / g_max > t_budget:
        return None
    if f_min > 0.0 and g_min > 0.0 and w_a / f_min + w_s / g_min <= t_budget:
        return f_min, g_min, k_a * w_a * f_min * f_min + k_s * w_s * g_min * g_min
    if w_s <= 0.0:  # no server work: the agent clock alone meets the deadline
        f = max(w_a / t_budget, f_min) if w_a > 0.0 else f_min or f_max
        return f, g_min or g_max, k_a * w_a * f * f
    if w_a <= 0.0:
        g = max(w_s / t_budget, g_min)
        return f_min or f_max, g, k_s * w_s * g * g
    ratio = (k_s / k_a) ** (1.0 / 3.0)
    f = ratio * (w_a / ratio + w_s) / t_budget  # the KKT point's agent clock
    # f range on the tight deadline: the agent clock's own range, and the server clock's
    # (g <= g_max needs f >= w_a / (T - w_s/g_max); g >= g_min needs f <= w_a / (T - w_s/g_min))
    f_lo = max(f_min, w_a / (t_budget - w_s / g_max))
    rest = t_budget - w_s / g_min if g_min > 0.0 else 0.0
    f_hi = min(f_max, w_a / rest) if rest > 0.0 else f_max
    f = min(max(f, f_lo), f_hi)
    g = min(max(w_s / (t_budget - w_a / f), g_min), g_max)
    return f, g, k_a * w_a * f * f + k_s * w_s * g * g


def evaluate_point(problem: PlanningProblem, bit_width: int, f: float,
                   f_server: float) -> OperatingPoint:
    """
    Delay (8) and energy (9) of ``(bit_width, f, f_server)`` for ``problem``.

    Same formulas as :func:`qcoinf_ros.core.system.model.total_delay`/``total_energy`` (the
    tests check they agree) on the problem's cycle table, without their input checks.
    """
    p = problem.params
    w_a = problem.agent_cycles[bit_width - 1]
    w_s = p.server_cycles
    delay = (w_a / f if f > 0.0 else math.inf) + (w_s / f_server if f_server > 0.0
                                                  else math.inf) + p.comm_delay
    energy = p.k_agent * w_a * f * f + p.k_server * w_s * f_server * f_server + p.comm_energy
    return OperatingPoint(bit_width, f, f_server, delay, energy)


def least_energy_at(problem: PlanningProblem, bit_width: int,
                    t0: float | None = None) -> OperatingPoint | None:
    """
    Least-energy point at ``bit_width`` meeting the deadline ``t0`` (default T0), E0 ignored.

    :func:`least_energy_frequencies` on the budget left after the (optional) upload time;
    ``None`` if even the maximum clocks miss the deadline.
    """
    p = problem.params
    t0 = problem.t0 if t0 is None else t0
    w_a = problem.agent_cycles[bit_width - 1]
    sol = least_energy_frequencies(w_a, p.server_cycles, p.k_agent, p.k_server, p.f_max,
                                   p.f_max_server, t0 - p.comm_delay, p.f_min, p.f_min_server)
    if sol is None:
        return None
    f, g, energy = sol
    return OperatingPoint(bit_width, f, g, w_a / f + p.server_cycles / g + p.comm_delay,
                          energy + p.comm_energy)


def least_energy_point(problem: PlanningProblem, bit_width: int) -> OperatingPoint | None:
    """Test one b for (P1): the least-energy point meeting T0 if it is within E0, else None."""
    point = least_energy_at(problem, bit_width)
    if point is None or point.energy > problem.e0 * (1.0 + FEAS_RTOL):
        return None
    return point


def point_at_clocks(problem: PlanningProblem, bit_width: int, f: float,
                    f_server: float) -> OperatingPoint | None:
    """Return the operating point at fixed clocks if it meets both budgets, else ``None``."""
    point = evaluate_point(problem, bit_width, f, f_server)
    return point if _meets(problem, point) else None


def worst_relative_violation(problem: PlanningProblem, point: OperatingPoint) -> float:
    """max(T/T0, E/E0) of ``point`` (<= 1 iff it meets both budgets; inf for a zero budget)."""
    def ratio(value, budget):
        return value / budget if budget > 0.0 else (math.inf if value > 0.0 else 0.0)
    return max(ratio(point.delay, problem.t0), ratio(point.energy, problem.e0))


def _meets(problem: PlanningProblem, point: OperatingPoint) -> bool:
    return (point.delay <= problem.t0 * (1.0 + FEAS_RTOL)
            and point.energy <= problem.e0 * (1.0 + FEAS_RTOL))


def largest_feasible_bit_width(problem: PlanningProblem,
                               check: Callable[[int], OperatingPoint | None]):
    """
    Largest ``b`` in b_min..B_max with ``check(b)`` not ``None``; ``(point, checks)``.

    ``check`` must be monotone (feasible at ``b`` implies feasible below) whenever the cycle
    table is non-decreasing; then a bisection needs ~log2(B_max) checks (after a first check of
    B_max, the common loose case). Otherwise the bit-widths are scanned from B_max down.
    """
    b_min, b_max = problem.b_min, problem.params.b_max
    top = check(b_max)
    if top is not None or b_min == b_max:
        return top, 1
    if not problem.monotone:
        for count, b in enumerate(range(b_max - 1, b_min - 1, -1), start=2):
            point = check(b)
            if point is not None:
                return point, count
        return None, b_max - b_min + 1
    best = check(b_min)
    checks = 2
    if best is None:
        return None, checks
    lo, hi = b_min, b_max  # feasible at lo, infeasible at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        point = check(mid)
        checks += 1
        if point is None:
            hi = mid
        else:
            lo, best = mid, point
    return best, checks


def make_plan(problem: PlanningProblem, point: OperatingPoint | None, solver: str,
              iterations: int = 0, reason: str = '', *,
              relaxed_bit_width: float | None = None, profile: str | None = None,
              fallback: OperatingPoint | None = None) -> Plan:
    """
    Build the :class:`Plan` for a candidate point, re-checking it against (P1).

    ``point`` ``None``, or a point that breaks a budget, a clock range or the bit-width range,
    yields an infeasible plan with ``fallback`` (default :func:`safest_point`); ``reason`` is
    prepended to the diagnosis.
    """
    extra = {'relaxed_bit_width': relaxed_bit_width}
    if point is None:
        return infeasible_plan(problem, solver, reason, iterations, fallback=fallback, **extra)
    violation = _violation(problem, point)
    if violation is not None:
        return infeasible_plan(problem, solver, f'{reason}: {violation}' if reason else violation,
                               iterations, fallback=fallback, **extra)
    upper, lower = bound_terms(point.bit_width, problem.lam)
    if not reason:
        reason = 'b = 1: D^U(0) is infinite' if point.bit_width == 1 else 'ok'
    return Plan(point.bit_width, point.f, point.f_server, point.delay, point.energy,
                upper - lower, True, reason, solver, upper, lower, iterations, None,
                relaxed_bit_width, profile)


def _violation(problem: PlanningProblem, point: OperatingPoint) -> str | None:
    p = problem.params
    if not problem.b_min <= point.bit_width <= p.b_max:
        return f'bit-width {point.bit_width} outside {problem.b_min}..{p.b_max}'
    if not (max(p.f_min * (1.0 - FEAS_RTOL), 0.0) < point.f <= p.f_max * (1.0 + FEAS_RTOL)
            and max(p.f_min_server * (1.0 - FEAS_RTOL), 0.0) < point.f_server
            <= p.f_max_server * (1.0 + FEAS_RTOL)):
        return f'clocks ({point.f:.4g}, {point.f_server:.4g}) Hz outside the allowed range'
    if point.delay > problem.t0 * (1.0 + FEAS_RTOL):
        return f'delay {point.delay:.6g} s > T0 = {problem.t0:.6g} s'
    if point.energy > problem.e0 * (1.0 + FEAS_RTOL):
        return f'energy {point.energy:.6g} J > E0 = {problem.e0:.6g} J'
    return None


def infeasible_plan(problem: PlanningProblem, solver: str, reason: str = '',
                    iterations: int = 0, *, relaxed_bit_width: float | None = None,
                    fallback: OperatingPoint | None = None) -> Plan:
    """Build an infeasible :class:`Plan` with a diagnosis and a fallback (:func:`safest_point`)."""
    if fallback is None:
        fallback = safest_point(problem)
    why = diagnose(problem)
    reason = f'{reason}; {why}' if reason else why
    nan = math.nan
    return Plan(None, nan, nan, nan, nan, math.inf, False, reason, solver, math.inf, nan,
                iterations, fallback, relaxed_bit_width)


def cheapest_bit_width(problem: PlanningProblem) -> int:
    """Return the bit-width >= ``b_min`` with the fewest agent cycles (the lowest on ties)."""
    table = problem.agent_cycles
    return min(range(problem.b_min - 1, len(table)), key=table.__getitem__) + 1


def diagnose(problem: PlanningProblem) -> str:
    """Why no bit-width is feasible (or, if one is, say so)."""
    p = problem.params
    b = cheapest_bit_width(problem)
    floor = f', the quality floor b_min = {problem.b_min}' if problem.b_min > 1 else ''
    least = least_energy_at(problem, b)
    if least is None:
        fastest = evaluate_point(problem, b, p.f_max, p.f_max_server)
        return (f'deadline: T0 = {problem.t0:.6g} s is below the least possible delay '
                f'{fastest.delay:.6g} s (b = {b} at the maximum clocks{floor})')
    if least.energy > problem.e0:
        return (f'energy: E0 = {problem.e0:.6g} J is below the least energy '
                f'{least.energy:.6g} J that meets T0 = {problem.t0:.6g} s (b = {b}{floor})')
    return f'b = {b} with least-energy clocks would be feasible'


#: Bit-widths whose worst relative violation is within this fraction of the least one count as
#: equally safe; the fallback keeps the highest of them, so that quality is not given up for a
#: saving that does not exist (an agent whose measured cost hardly depends on b).
SAFE_RTOL = 0.01


def _safest_at(problem: PlanningProblem, b: int) -> OperatingPoint:
    """Clocks at ``b`` minimising ``max(T/T0, E/E0)`` (bisection on the scale, see below)."""
    p = problem.params
    t0, e0 = problem.t0, problem.e0
    fastest = evaluate_point(problem, b, p.f_max, p.f_max_server)
    if t0 <= 0.0 or e0 <= 0.0:
        return fastest

    def clocks_at(scale):
        point = least_energy_at(problem, b, scale * t0)
        return None if point is None or point.energy > scale * e0 else point

    lo = max(1.0, fastest.delay / t0) * (1.0 + 1e-12)
    best = clocks_at(lo)
    if best is None:
        hi = 2.0 * lo
        for _ in range(200):
            best = clocks_at(hi)
            if best is not None:
                break
            lo, hi = hi, 2.0 * hi
        else:  # pragma: no cover - E_min(s T0) ~ 1/s^2 always falls below s E0
            return fastest
        while hi - lo > 1e-9 * hi:
            mid = 0.5 * (lo + hi)
            sol = clocks_at(mid)
            if sol is None:
                lo = mid
            else:
                hi, best = mid, sol
    return best


def safest_point(problem: PlanningProblem) -> OperatingPoint:
    """
    Fallback for an infeasible instance: least worst relative violation, then most bits.

    At each bit-width the clocks that minimise ``s = max(T/T0, E/E0)``: for a scale ``s`` the
    least-energy clocks meeting ``s T0`` cost ``E_min(s T0)``, decreasing in ``s``, so the
    smallest ``s`` with ``E_min(s T0) <= s E0`` is found by bisection (to 1e-9 relative). The
    least ``s`` is at the bit-width with the fewest agent cycles (b = ``b_min``, 1 unless a quality
    floor is set, for the paper's model);
    among the bit-widths within :data:`SAFE_RTOL` of it the highest is taken (with a cycle
    table that grows in ``b``, ``s`` grows too, and :func:`largest_feasible_bit_width`'s
    bisection finds it). With
    ``T0 = 0`` or ``E0 = 0`` no scale exists: the cheapest bit-width at the maximum clocks.
    """
    cheapest = cheapest_bit_width(problem)
    base = _safest_at(problem, cheapest)
    if problem.t0 <= 0.0 or problem.e0 <= 0.0:
        return base
    limit = worst_relative_violation(problem, base) * (1.0 + SAFE_RTOL)

    def safe(b):
        point = _safest_at(problem, b)
        return point if worst_relative_violation(problem, point) <= limit else None

    point, _ = largest_feasible_bit_width(problem, safe)
    return point if point is not None else base
