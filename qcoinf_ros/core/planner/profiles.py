"""
Bit-width planning over a few fixed clock profiles (the paper's testbed, section VI-C).

On the Jetson AGX Orin testbed the clocks cannot be set freely; the paper picks among three
operating profiles (low, medium, high frequency) and, for each, the bit-width. For each profile
the best bit-width is the largest one whose delay and energy *at the profile's clocks* meet the
budgets; the best profile is the one with the best objective, ties broken by the least energy
(several profiles usually reach B_max when the budgets are loose). The fixed-frequency baseline
of section VI-C is the special case of one profile at the maximum clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
from typing import Sequence

from qcoinf_ros.core.planner.core import (
    cheapest_bit_width,
    evaluate_point,
    largest_feasible_bit_width,
    make_plan,
    Plan,
    PlanningProblem,
    point_at_clocks,
    worst_relative_violation,
)
from qcoinf_ros.core.validation import require_int_in_range, require_positive

__all__ = ['FixedFrequencySolver', 'FrequencyProfile', 'ProfileSolver', 'solve_over_profiles']


@dataclass(frozen=True)
class FrequencyProfile:
    """A named pair of clocks (Hz) the hardware can run, e.g. an ``nvpmodel`` power mode."""

    name: str
    f: float
    f_server: float
    nvpmodel_mode: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f'profile name must be a non-empty string, got {self.name!r}')
        object.__setattr__(self, 'f', require_positive(f'{self.name}.f', self.f))
        object.__setattr__(self, 'f_server',
                           require_positive(f'{self.name}.f_server', self.f_server))
        if self.nvpmodel_mode is not None:
            object.__setattr__(self, 'nvpmodel_mode', require_int_in_range(
                f'{self.name}.nvpmodel_mode', self.nvpmodel_mode, 0))


def solve_over_profiles(problem: PlanningProblem, profiles: Sequence[FrequencyProfile],
                        solver: str) -> Plan:
    """
    Best (profile, largest feasible b) pair; infeasible if no profile admits any b.

    The fallback of an infeasible answer stays on a profile: the cheapest bit-width on the
    profile with the least worst relative violation max(T/T0, E/E0).
    """
    p = problem.params
    best = best_profile = None
    checks = 0
    for prof in profiles:
        if prof.f > p.f_max * (1.0 + 1e-12) or prof.f_server > p.f_max_server * (1.0 + 1e-12):
            raise ValueError(
                f'profile {prof.name!r} clocks ({prof.f!r}, {prof.f_server!r}) Hz exceed '
                f'f_max = {p.f_max!r} / f_max_server = {p.f_max_server!r}')
        if prof.f < p.f_min * (1.0 - 1e-12) or prof.f_server < p.f_min_server * (1.0 - 1e-12):
            raise ValueError(
                f'profile {prof.name!r} clocks ({prof.f!r}, {prof.f_server!r}) Hz are below '
                f'the clock floors f_min = {p.f_min!r} / f_min_server = {p.f_min_server!r}')
        point, count = largest_feasible_bit_width(
            problem, functools.partial(point_at_clocks, problem, f=prof.f,
                                       f_server=prof.f_server))
        checks += count
        if point is not None and (best is None or (point.bit_width, -point.energy)
                                  > (best.bit_width, -best.energy)):
            best, best_profile = point, prof
    if best is not None and best_profile is not None:
        return make_plan(problem, best, solver, checks, profile=best_profile.name)
    b = cheapest_bit_width(problem)
    candidates = [evaluate_point(problem, b, prof.f, prof.f_server) for prof in profiles]
    fallback = min(candidates, key=functools.partial(worst_relative_violation, problem))
    names = ', '.join(prof.name for prof in profiles)
    return make_plan(problem, None, solver, checks,
                     f'no bit-width meets both budgets at the clocks of profile(s) {names}',
                     fallback=fallback)


class ProfileSolver:
    """Choose a clock profile and the bit-width (see the module docstring)."""

    name = 'profiles'

    def __init__(self, profiles: Sequence[FrequencyProfile]):
        profiles = tuple(profiles)
        if not profiles:
            raise ValueError('profiles must hold at least one FrequencyProfile, got none')
        for prof in profiles:
            if not isinstance(prof, FrequencyProfile):
                raise ValueError(f'profiles must be FrequencyProfile objects, got {prof!r}')
        self.profiles = profiles

    def solve(self, problem: PlanningProblem) -> Plan:
        """Best profile and bit-width for ``problem``; ``Plan.profile`` names the profile."""
        return solve_over_profiles(problem, self.profiles, self.name)


class FixedFrequencySolver:
    """Fixed-frequency baseline (section VI-C): f = f^max, f~ = f~^max, only b optimised."""

    name = 'fixed'

    def solve(self, problem: PlanningProblem) -> Plan:
        """Largest bit-width feasible at the maximum clocks."""
        p = problem.params
        prof = FrequencyProfile('max', p.f_max, p.f_max_server)
        return solve_over_profiles(problem, (prof,), self.name)
