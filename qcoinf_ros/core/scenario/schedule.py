"""
Pure models of the scripted inputs of the planner: a draining battery and a deadline schedule.

The scenario node publishes them on ``battery_state`` and ``qcoinf/deadline``; keeping the
arithmetic here lets it be tested without ROS.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from qcoinf_ros.core.validation import require_finite, require_nonnegative, require_positive


@dataclass(frozen=True)
class BatterySample:
    """State of charge at one instant (fields as in sensor_msgs/BatteryState)."""

    percentage: float  # 0..1
    charge_ah: float
    voltage: float
    current_a: float  # negative while discharging (BatteryState convention)


@dataclass(frozen=True)
class BatteryDrain:
    """A battery discharging at a constant power, clamped at ``floor_percentage``."""

    initial_percentage: float = 1.0
    capacity_ah: float = 2.0
    voltage: float = 14.8
    drain_per_second: float = 0.01  # fraction of the capacity per second
    floor_percentage: float = 0.0

    def __post_init__(self):
        for name in ('initial_percentage', 'floor_percentage'):
            value = require_nonnegative(name, getattr(self, name))
            if value > 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value!r}')
        if self.floor_percentage > self.initial_percentage:
            raise ValueError(
                f'floor_percentage ({self.floor_percentage!r}) must not exceed '
                f'initial_percentage ({self.initial_percentage!r})')
        require_positive('capacity_ah', self.capacity_ah)
        require_positive('voltage', self.voltage)
        require_nonnegative('drain_per_second', self.drain_per_second)

    def at(self, elapsed_s: float) -> BatterySample:
        """Return the battery state ``elapsed_s`` seconds after the start."""
        elapsed_s = require_nonnegative('elapsed_s', elapsed_s)
        drained = self.initial_percentage - self.drain_per_second * elapsed_s
        pct = max(self.floor_percentage, drained)
        draining = pct > self.floor_percentage and self.drain_per_second > 0.0
        current = -self.drain_per_second * self.capacity_ah * 3600.0 if draining else 0.0
        return BatterySample(
            percentage=pct, charge_ah=pct * self.capacity_ah, voltage=self.voltage,
            current_a=current)


@dataclass(frozen=True)
class PiecewiseConstant:
    """A value that switches at given times: ``values[i]`` holds from ``times[i]`` on."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self):
        times = tuple(require_finite('times', t) for t in self.times)
        values = tuple(require_finite('values', v) for v in self.values)
        if not times:
            raise ValueError('times must not be empty')
        if len(times) != len(values):
            raise ValueError(
                f'times and values must have the same length, got {len(times)} and {len(values)}')
        if times[0] != 0.0:
            raise ValueError(f'times must start at 0.0, got {times[0]!r}')
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError(f'times must be strictly increasing, got {list(times)!r}')
        object.__setattr__(self, 'times', times)
        object.__setattr__(self, 'values', values)

    def at(self, elapsed_s: float) -> float:
        """Return the value in force ``elapsed_s`` seconds after the start."""
        elapsed_s = require_nonnegative('elapsed_s', elapsed_s)
        return self.values[bisect_right(self.times, elapsed_s) - 1]
