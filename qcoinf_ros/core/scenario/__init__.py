"""Scripted situations for the demo and tests: battery drain and deadline schedules."""

from qcoinf_ros.core.scenario.schedule import BatteryDrain, BatterySample, PiecewiseConstant

__all__ = ['BatteryDrain', 'BatterySample', 'PiecewiseConstant']
