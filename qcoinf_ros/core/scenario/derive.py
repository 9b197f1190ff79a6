"""
A demo scenario derived from the measured cost: each phase's budget forces a chosen bit-width.

Fixed deadlines and energy budgets mean nothing on a machine other than the one they were
written for. :func:`derive_scenario` takes the planning model the planner uses (the preset's
parameters with the measured agent and server costs, :func:`qcoinf_ros.core.planner.measured.
measured_model`), computes the predicted delay ``T(b)`` and energy ``E(b)`` of every bit-width
(eqs. (8)-(9) at the fixed clocks) and writes the budgets so that (P1)'s answer in each phase is
a chosen ``b``:

1. *loose*: ``T0 = loose (1 + m) T(B_max)``, battery full: ``b = B_max``;
2. *deadline* phases, one per target ``b*`` (the middle of ``[floor, B_max]``, then ``floor``):
   ``T0 = (1 + m) (T(b*) + h (T(b* + 1) - T(b*)))``, ``h = 1/2`` for the middle target and
   ``h = floor_headroom`` (3/4) for the floor. With the planner's ``delay_margin`` ``m`` the
   planner keeps ``T(b) (1 + m) <= T0``, so ``b*`` fits and ``b* + 1`` does not, and the
   measured delay has ``m T(b*)`` plus ``h`` of a bit-plane of headroom;
3. *energy*: the deadline loose again while the battery drains; the linear energy policy's
   ``e0_full`` and ``e0_min`` are set so that E0 crosses ``E(B_max)`` as the phase starts and
   ends at ``E(floor) + h (E(floor + 1) - E(floor))``: ``b`` steps down from ``B_max`` to
   ``floor`` as the charge falls.

The floor's budgets sit ``floor_headroom`` of a step above it, not halfway: the agent re-measures
its cost while it runs (``cost_drift``) and a busy machine makes every ``T(b)`` and ``E(b)``
grow; a budget halfway up the step then pushed the plan below the floor (captions collapse), while
a cost that shrinks only lifts it to ``floor + 1``.

Where the measured cost is flat in ``b`` (a plateau: the agent's int8 kernels run every ``b``
in the same time, :mod:`qcoinf_ros.core.runtime`), no budget picks a ``b`` on the plateau but its
top, ``B_max``: the targets and the energy phase's end are taken among the bit-widths whose
next one costs more (``rungs``), the floor raised to the lowest of them; on a cost flat from
the floor up the scenario is the loose phase alone (``b = B_max`` throughout) and says why.

``floor`` is the lowest bit-width whose captions have not collapsed (:func:`quality_floor`, from
the model's measured quality per bit-width); no phase asks for less. The same numbers give the
planner's ``replan_tolerance`` (a fraction of E0 small enough to see each step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from qcoinf_ros.core.scenario.schedule import BatteryDrain
from qcoinf_ros.core.system.model import AgentCostModel, SystemParams, total_delay, total_energy
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative, require_positive

__all__ = ['Phase', 'DerivedScenario', 'derive_scenario', 'quality_floor']


@dataclass(frozen=True)
class Phase:
    """One phase: ``[start, end)`` seconds, the bit-width it should force and what binds."""

    start: float
    end: float
    bit_width: int
    binding: str  # 'none', 'deadline' or 'energy'
    t0: float


@dataclass(frozen=True)
class DerivedScenario:
    """Budgets for the scenario and planner nodes, and what each phase is meant to show."""

    deadline_times: tuple[float, ...]
    deadline_values: tuple[float, ...]
    e0_full: float
    e0_min: float
    replan_tolerance: float
    floor: int
    phases: tuple[Phase, ...]
    delays: tuple[float, ...]  # predicted T(b), b = 1..B_max
    energies: tuple[float, ...]  # predicted E(b)
    #: The bit-widths a budget can force (the next costs more), B_max included.
    rungs: tuple[int, ...] = ()

    def describe(self) -> list[str]:
        """One line per phase, for the report."""
        lines = []
        b_max = len(self.delays)
        flat = [b for b in range(1, b_max + 1) if self.rungs and b not in self.rungs]
        if flat:
            lines.append(f'b = {", ".join(map(str, flat))} cost what the next bit-width costs '
                         "(the kernels' time is flat there): no budget picks them")
        for p in self.phases:
            what = {'none': f'loose budgets: b = {p.bit_width}',
                    'deadline': f'T0 between T({p.bit_width}) and T({p.bit_width + 1}) with '
                                f'the margin: b = {p.bit_width}',
                    'energy': f'the battery drains: E0 falls from E({len(self.energies)}) to '
                              f'between E({self.floor}) and E({self.floor + 1}), b steps down '
                              f'to {self.floor}'}[p.binding]
            lines.append(f'{p.start:.0f}-{p.end:.0f} s: T0 = {1e3 * p.t0:.1f} ms, {what}')
        return lines


def quality_floor(rows: Sequence[tuple[int, float]], keep: float = 0.9) -> int:
    """
    Return the lowest ``b`` from which on quality stays at ``keep`` x the best's or more.

    ``rows``: ``(bit_width, score)`` (e.g. CIDEr per agent bit-width, at B_max and below).
    Below the returned ``b`` the captions have collapsed (some ``b' <= b`` scores less than
    ``keep`` times the top-bit-width score). ``ValueError`` for an empty table.
    """
    if not rows:
        raise ValueError('the quality table is empty')
    keep = require_positive('keep', keep)
    rows = sorted(rows, reverse=True)
    top = rows[0][1]
    floor = rows[0][0]
    for bits, score in rows:
        if score < keep * top:
            break
        floor = bits
    return floor


def _policy_share(percentage: float, reserve: float) -> float:
    return min(max((percentage - reserve) / (1.0 - reserve), 0.0), 1.0)


def derive_scenario(params: SystemParams, agent_cost: AgentCostModel | None, *, floor: int,
                    duration: float, battery: BatteryDrain, reserve: float = 0.1,
                    delay_margin: float = 0.0, loose: float = 1.25,
                    floor_headroom: float = 0.75) -> DerivedScenario:
    """
    Budgets that make (P1) choose ``B_max``, two deadline-bound ``b`` and an energy descent.

    ``params`` and ``agent_cost``: the planning model (clocks at their maximum); ``floor``: the
    lowest bit-width to ask for; ``duration``: the scenario's length [s]; ``battery``: the
    scripted drain; ``reserve``: the energy policy's reserve; ``delay_margin``: the planner's;
    ``floor_headroom``: where in the step from ``floor`` to ``floor + 1`` the floor's budgets
    lie (0 < h < 1). Raises ``ValueError`` naming the value that makes the scenario impossible.
    """
    b_max = params.b_max
    floor = require_int_in_range('floor', floor, 1, b_max)
    duration = require_positive('duration', duration)
    margin = require_nonnegative('delay_margin', delay_margin)
    loose = require_positive('loose', loose)
    if loose <= 1.0:
        raise ValueError(f'loose must be > 1, got {loose!r}')
    headroom = require_positive('floor_headroom', floor_headroom)
    if headroom >= 1.0:
        raise ValueError(f'floor_headroom must be < 1, got {floor_headroom!r}')
    f, f_server = params.f_max, params.f_max_server
    delays = tuple(total_delay(params, b, f, f_server, agent_cost) for b in range(1, b_max + 1))
    energies = tuple(total_energy(params, b, f, f_server, agent_cost)
                     for b in range(1, b_max + 1))
    if any(b > a for a, b in zip(delays[1:], delays)) or \
            any(b > a for a, b in zip(energies[1:], energies)):
        raise ValueError('the predicted delay and energy must not fall with b to derive budgets '
                         f'from them, got T(b) = {delays}')
    # A bit-width the budgets can force: its next one costs more in delay and energy (on a
    # plateau, e.g. where the flat int8 kernels run, every b of it fits wherever the first does,
    # and the planner takes the highest). B_max always can.
    rungs = [b for b in range(1, b_max) if delays[b] > delays[b - 1]
             and energies[b] > energies[b - 1]] + [b_max]
    low = next(b for b in rungs if b >= floor)  # the lowest b a budget forces, >= the floor

    def between(table, b):  # halfway between b and b + 1; the lowest rung: h of the way
        h = headroom if b == low else 0.5
        return table[b - 1] + h * (table[b] - table[b - 1])

    middle = max((b for b in rungs if low <= b <= (b_max + floor + 1) // 2), default=low)
    targets = [b for b in dict.fromkeys([middle, low]) if b < b_max]
    t_loose = loose * (1.0 + margin) * delays[-1]
    energy_start = 0.6 * duration if low < b_max else duration
    step = energy_start / (1 + len(targets))
    phases = [Phase(0.0, step, b_max, 'none', t_loose)]
    for i, b in enumerate(targets, start=1):
        phases.append(Phase(i * step, (i + 1) * step, b, 'deadline',
                            (1.0 + margin) * between(delays, b)))
    e_hi = energies[-1] + 0.25 * (energies[-1] - energies[-2]) if b_max > 1 else energies[-1]
    if energy_start < duration:
        phases.append(Phase(energy_start, duration, b_max, 'energy', t_loose))
        e_lo = between(energies, low)
        p1, p2 = battery.at(energy_start).percentage, battery.at(duration).percentage
        s1, s2 = _policy_share(p1, reserve), _policy_share(p2, reserve)
        if s1 - s2 <= 1e-9:
            raise ValueError(f'the battery must drain above the reserve {reserve!r} during the '
                             f'energy phase, got {p1:.3f} -> {p2:.3f}')
        span = (e_hi - e_lo) / (s1 - s2)
        e0_min = e_lo - span * s2
        if e0_min < 0.0:
            raise ValueError(f'no linear energy policy ends at E0 = {e_lo!r} J: the battery '
                             f'drains too little during the energy phase')
        e0_full = e0_min + span
        steps = [energies[b] - energies[b - 1] for b in rungs if low <= b < b_max]
        tolerance = min(0.02, 0.25 * min(steps) / energies[-1])
    else:
        e0_full = e0_min = 2.0 * e_hi  # energy never binds
        tolerance = 0.02
    return DerivedScenario(
        deadline_times=tuple(p.start for p in phases),
        deadline_values=tuple(p.t0 for p in phases), e0_full=e0_full, e0_min=e0_min,
        replan_tolerance=max(tolerance, 1e-6), floor=low, phases=tuple(phases),
        delays=delays, energies=energies, rungs=tuple(rungs))
