"""stamp_age: the age of a header stamp, NaN for none or an invalid one."""

import math

import pytest

pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


@pytest.mark.parametrize('sec, nanosec, age', [
    (99, 500_000_000, 0.5), (100, 0, 0.0), (101, 0, -1.0),  # a stamp ahead: negative
    (0, 0, math.nan),                                       # not stamped
    (-1, 0, math.nan), (100, 1_000_000_000, math.nan),      # rclpy's Time refuses these
])
def test_stamp_age(sec, nanosec, age):
    from builtin_interfaces.msg import Time as Stamp
    from rclpy.time import Time

    from qcoinf_ros.ros.stamps import stamp_age
    got = stamp_age(Time(seconds=100), Stamp(sec=sec, nanosec=nanosec))
    assert (math.isnan(got) and math.isnan(age)) or got == pytest.approx(age)
