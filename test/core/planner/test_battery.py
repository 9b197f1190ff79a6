"""Battery states as drivers publish them: NaN with charge/capacity, 0..100, unknown."""

import math

import pytest

from qcoinf_ros.core.planner.battery import ChargeReader, SCALES

NAN = math.nan


def test_the_message_definition_0_to_1_is_read_as_is():
    reader = ChargeReader('unit')
    assert reader.state_of_charge(0.0) == 0.0 and reader.state_of_charge(0.42) == 0.42
    assert reader.state_of_charge(1.0) == 1.0
    with pytest.raises(ValueError, match=r'\[0, 1\] \(scale unit\), got 42.0'):
        reader.state_of_charge(42.0)


def test_a_0_to_100_driver_is_read_in_percent():
    reader = ChargeReader('percent')
    assert reader.state_of_charge(42.0) == pytest.approx(0.42)
    assert reader.state_of_charge(1.0) == pytest.approx(0.01)  # 1 %, not full
    with pytest.raises(ValueError, match=r'\[0, 100\]'):
        reader.state_of_charge(100.5)


def test_auto_switches_to_percent_once_it_sees_a_value_above_1():
    reader = ChargeReader()
    assert reader.state_of_charge(0.8) == 0.8
    assert reader.state_of_charge(80.0) == pytest.approx(0.8)
    assert reader.percent_seen
    assert reader.state_of_charge(1.0) == pytest.approx(0.01)  # the same driver at 1 %


def test_nan_percentage_reads_charge_over_capacity():
    reader = ChargeReader()
    assert reader.state_of_charge(NAN, charge=1.5, capacity=2.0) == pytest.approx(0.75)
    assert reader.state_of_charge(NAN, charge=2.05, capacity=2.0) == 1.0  # gauge over-reads
    with pytest.raises(ValueError, match='above its capacity'):
        reader.state_of_charge(NAN, charge=3.0, capacity=2.0)


@pytest.mark.parametrize('charge, capacity', [(NAN, 2.0), (1.0, NAN), (1.0, 0.0), (-1.0, 2.0),
                                              (math.inf, 2.0), (NAN, NAN)])
def test_nan_percentage_without_a_valid_charge_is_unknown(charge, capacity):
    assert ChargeReader().state_of_charge(NAN, charge, capacity) is None


@pytest.mark.parametrize('value', [-0.1, math.inf, -math.inf])
def test_impossible_percentages_are_refused_naming_the_value(value):
    for scale in SCALES:
        with pytest.raises(ValueError, match='battery percentage'):
            ChargeReader(scale).state_of_charge(value)


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError, match='"tenths"'):
        ChargeReader('tenths')
