"""Unit tests of the scripted battery drain and deadline schedule (no ROS)."""

import math

import pytest

from qcoinf_ros.core.scenario import BatteryDrain, PiecewiseConstant

pytestmark = pytest.mark.check


def test_battery_drains_linearly_and_clamps_at_floor():
    battery = BatteryDrain(initial_percentage=0.9, drain_per_second=0.1, floor_percentage=0.2,
                           capacity_ah=2.0, voltage=12.0)
    assert battery.at(0.0).percentage == pytest.approx(0.9)
    assert battery.at(3.0).percentage == pytest.approx(0.6)
    assert battery.at(3.0).charge_ah == pytest.approx(1.2)
    assert battery.at(3.0).current_a < 0.0
    assert battery.at(100.0).percentage == pytest.approx(0.2)
    assert battery.at(100.0).current_a == 0.0


def test_piecewise_constant_switches_at_times():
    schedule = PiecewiseConstant((0.0, 3.0, 6.0), (2.0, 0.5, 3.0))
    assert [schedule.at(t) for t in (0.0, 2.999, 3.0, 5.0, 6.0, 1e6)] == \
        [2.0, 2.0, 0.5, 0.5, 3.0, 3.0]


@pytest.mark.parametrize('kwargs, needle', [
    ({'initial_percentage': 1.5}, 'initial_percentage'),
    ({'initial_percentage': math.nan}, 'initial_percentage'),
    ({'capacity_ah': 0.0}, 'capacity_ah'),
    ({'drain_per_second': -0.1}, 'drain_per_second'),
    ({'initial_percentage': 0.1, 'floor_percentage': 0.5}, 'floor_percentage'),
])
def test_battery_rejects_bad_values(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        BatteryDrain(**kwargs)


@pytest.mark.parametrize('times, values, needle', [
    ((), (), 'empty'),
    ((0.0, 1.0), (1.0,), 'same length'),
    ((1.0,), (1.0,), 'start at 0'),
    ((0.0, 2.0, 1.0), (1.0, 1.0, 1.0), 'strictly increasing'),
    ((0.0,), (math.nan,), 'NaN'),
])
def test_schedule_rejects_bad_values(times, values, needle):
    with pytest.raises(ValueError, match=needle):
        PiecewiseConstant(times, values)


def test_negative_elapsed_time_is_rejected():
    with pytest.raises(ValueError, match='elapsed_s'):
        BatteryDrain().at(-1.0)
