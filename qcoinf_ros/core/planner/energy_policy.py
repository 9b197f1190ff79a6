"""
From the battery's state of charge to the per-inference energy budget E0 of (P1), eq. (30b).

The paper takes E0 as given; on a robot it has to come from somewhere. Two policies:

* ``linear`` (default): E0 falls linearly from ``e0_full`` at a full battery to ``e0_min`` at
  ``reserve`` (the state of charge kept for driving home), and stays at ``e0_min`` below it::

      E0(p) = e0_min + (e0_full - e0_min) * clamp((p - reserve) / (1 - reserve), 0, 1)

* ``step``: E0 is ``e0_full`` above ``high``, ``(e0_full + e0_min) / 2`` between ``reserve``
  and ``high``, and ``e0_min`` at or below ``reserve`` — fewer re-plans, coarser budgets.

``p`` is ``sensor_msgs/BatteryState.percentage`` in [0, 1]. A NaN or out-of-range ``p`` raises
``ValueError`` (the planner node drops that message and keeps the last budget).
"""

from __future__ import annotations

from dataclasses import dataclass
import math

from qcoinf_ros.core.validation import require_nonnegative, require_positive

POLICIES = ('linear', 'step')


@dataclass(frozen=True)
class EnergyBudgetPolicy:
    """Maps state of charge to E0 [J per inference]."""

    kind: str = 'linear'
    e0_full: float = 2.0
    e0_min: float = 0.5
    reserve: float = 0.1
    high: float = 0.6

    def __post_init__(self):
        if self.kind not in POLICIES:
            raise ValueError(f'Invalid energy policy: "{self.kind}" (expected one of '
                             f'{", ".join(POLICIES)})')
        require_positive('e0_full', self.e0_full)
        require_nonnegative('e0_min', self.e0_min)
        if self.e0_min > self.e0_full:
            raise ValueError(f'e0_min ({self.e0_min!r}) must not exceed e0_full '
                             f'({self.e0_full!r})')
        for name in ('reserve', 'high'):
            value = require_nonnegative(name, getattr(self, name))
            if value >= 1.0:
                raise ValueError(f'{name} must be in [0, 1), got {value!r}')
        if self.kind == 'step' and self.high <= self.reserve:
            raise ValueError(f'high ({self.high!r}) must exceed reserve ({self.reserve!r})')

    def budget(self, percentage: float) -> float:
        """Return E0 for a state of charge ``percentage`` in [0, 1]."""
        if not isinstance(percentage, (int, float)) or math.isnan(percentage) or \
                not 0.0 <= percentage <= 1.0:
            raise ValueError(f'battery percentage must be in [0, 1], got {percentage!r}')
        if self.kind == 'step':
            if percentage > self.high:
                return self.e0_full
            if percentage > self.reserve:
                return 0.5 * (self.e0_full + self.e0_min)
            return self.e0_min
        share = min(max((percentage - self.reserve) / (1.0 - self.reserve), 0.0), 1.0)
        return self.e0_min + (self.e0_full - self.e0_min) * share
