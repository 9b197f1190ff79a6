"""
The state of charge of a ``sensor_msgs/BatteryState`` as battery drivers really publish it.

The message says ``percentage`` is 0..1, or NaN when unmeasured. Drivers differ: many publish
NaN with ``charge`` and ``capacity`` [Ah] set, and some publish 0..100. :class:`ChargeReader`
turns each message into a state of charge in [0, 1] for the energy policy
(:mod:`qcoinf_ros.core.planner.energy_policy`), or ``None`` when the message does not say (the
planner then holds its plan):

* a finite ``percentage`` is read in the ``scale`` given: ``unit`` (0..1, the message's
  definition), ``percent`` (0..100), or ``auto``: 0..1 until a value above 1 is seen, then 0..100
  from that message on (a 0..100 driver at 1 % would otherwise read as full: set ``percent``
  for such a driver to be exact from the first message);
* a NaN ``percentage``: ``charge / capacity`` when both are finite, the capacity positive and the
  charge not negative (up to 5 % over the capacity is read as full: gauges drift), else unknown.

A value outside its scale, or a charge far above the capacity, raises ``ValueError`` naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

SCALES = ('auto', 'unit', 'percent')
#: charge / capacity up to this is read as a full battery (gauges over-read a little).
OVERFULL = 1.05


@dataclass
class ChargeReader:
    """Reads the state of charge; ``auto`` remembers a 0..100 driver once it has seen one."""

    scale: str = 'auto'
    percent_seen: bool = False

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f'Invalid battery percentage scale: "{self.scale}" (expected one '
                             f'of {", ".join(SCALES)})')

    def state_of_charge(self, percentage: float, charge: float = math.nan,
                        capacity: float = math.nan) -> float | None:
        """Return the state of charge in [0, 1], or None when the message does not say."""
        p = float(percentage)
        if math.isnan(p):
            return self._from_charge(float(charge), float(capacity))
        if math.isinf(p) or p < 0.0:
            raise ValueError(f'battery percentage must be finite and >= 0, got {p!r}')
        percent = self.scale == 'percent' or (self.scale == 'auto' and
                                              (self.percent_seen or p > 1.0))
        if percent:
            if p > 100.0:
                raise ValueError(f'battery percentage must be in [0, 100] (scale '
                                 f'{self.scale}{", a 0..100 driver" * (self.scale == "auto")}),'
                                 f' got {p!r}')
            if self.scale == 'auto':
                self.percent_seen = True
            return p / 100.0
        if p > 1.0:
            raise ValueError(f'battery percentage must be in [0, 1] (scale unit), got {p!r}')
        return p

    @staticmethod
    def _from_charge(charge: float, capacity: float) -> float | None:
        if not (math.isfinite(charge) and math.isfinite(capacity)) or capacity <= 0.0 or \
                charge < 0.0:
            return None
        ratio = charge / capacity
        if ratio > OVERFULL:
            raise ValueError(f'battery charge {charge!r} Ah is above its capacity '
                             f'{capacity!r} Ah')
        return min(ratio, 1.0)
