"""
State topics match publishers of either durability; qos_overrides apply (planner process).

A late joiner gets the value in force from a latching publisher, and the standard
``qos_overrides`` start parameters apply (a bad one is refused like any bad parameter).

A transient-local reader never matches a volatile writer: a ``qcoinf/deadline`` publisher
created with the default QoS, as every tutorial writes one, used to be ignored silently.
"""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

PLANNER = ['-p', 'preset:=paper', '-p', 'b_max:=8', '-p', 'model:=git', '-p', 'default_t0:=2.0',
           '-p', 'e0_full:=100.0', '-p', 'cost_model:=nominal']


def _bits(listen):
    from std_msgs.msg import UInt8

    from qcoinf_ros.ros.qos import LATCHED
    return listen(UInt8, 'qcoinf/bit_width', LATCHED, lambda m: m.data)


def test_a_default_qos_deadline_publisher_changes_the_plan(listen, start_node, rclpy_node,
                                                           spin_until):
    from std_msgs.msg import Float64

    bits = _bits(listen)
    tutorial = rclpy_node.create_publisher(Float64, 'qcoinf/deadline', 10)  # reliable, volatile
    with start_node('planner_node', PLANNER) as planner:
        assert spin_until(lambda: bits and bits[-1] == 8, timeout=60), planner.output
        assert spin_until(lambda: tutorial.get_subscription_count() >= 1, timeout=30)
        tutorial.publish(Float64(data=1e-6))  # below any delay: the fallback, b = 1
        assert spin_until(lambda: bits[-1] == 1, timeout=30), planner.output
        assert spin_until(lambda: 'deadline 1e-06 s' in planner.output, timeout=10)
        assert planner.stop() == 0, planner.output
        # the transient-local reader's mismatch with this writer is expected: not warned about
        assert 'incompatible QoS' not in planner.output, planner.output


def test_a_planner_started_after_a_latched_deadline_still_gets_it(
        listen, start_node, rclpy_node, spin_until):
    from std_msgs.msg import Float64

    from qcoinf_ros.ros.qos import LATCHED
    bits = _bits(listen)
    latched = rclpy_node.create_publisher(Float64, 'qcoinf/deadline', LATCHED)
    latched.publish(Float64(data=1e-6))  # before the planner exists
    with start_node('planner_node', PLANNER) as planner:
        assert spin_until(lambda: 'deadline 1e-06 s' in planner.output, timeout=60), \
            planner.output
        assert spin_until(lambda: bits and bits[-1] == 1, timeout=30), (bits, planner.output)
        # the latched writer matched both readers: its one message was taken once
        assert planner.output.count('deadline 1e-06 s') == 1, planner.output
        assert planner.stop() == 0, planner.output


def test_qos_overrides_apply_and_a_bad_one_is_one_fatal_line(
        listen, start_node, rclpy_node, spin_until):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Float64

    key = 'qos_overrides./qcoinf/deadline.subscription_volatile.reliability'
    bits = _bits(listen)
    # a best-effort writer matches no reliable reader; overridden to best effort, it does
    best_effort = rclpy_node.create_publisher(
        Float64, 'qcoinf/deadline', QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    with start_node('planner_node', PLANNER + ['-p', f'{key}:=best_effort']) as planner:
        assert spin_until(lambda: best_effort.get_subscription_count() >= 1, timeout=60), \
            planner.output
        assert spin_until(lambda: bits and bits[-1] == 8, timeout=60), planner.output
        best_effort.publish(Float64(data=1e-6))
        assert spin_until(lambda: bits[-1] == 1, timeout=30), planner.output
        assert planner.stop() == 0, planner.output
    bad = start_node('planner_node', PLANNER + ['-p', f'{key}:=sometimes'])
    try:
        assert bad.wait(60) == 2, bad.output
    finally:
        bad.stop()
    fatal = [line for line in bad.output.splitlines() if '[FATAL]' in line]
    assert len(fatal) == 1 and 'qos_overrides of /qcoinf/deadline' in fatal[0], bad.output
    assert 'Traceback' not in bad.output, bad.output


def test_batteries_as_drivers_publish_them_drive_the_plan(start_node, rclpy_node, spin_until):
    # a NaN percentage with charge/capacity, then a 0..100 driver: each sets E0 and re-plans
    from sensor_msgs.msg import BatteryState

    from qcoinf_ros.ros.qos import SENSOR
    battery = rclpy_node.create_publisher(BatteryState, 'battery_state', SENSOR)
    with start_node('planner_node', PLANNER) as planner:
        assert spin_until(lambda: battery.get_subscription_count() >= 1, timeout=60)
        for msg, said in ((BatteryState(percentage=float('nan'), charge=0.5, capacity=2.0),
                           'plan (battery 25.0%)'),
                          (BatteryState(percentage=80.0), 'plan (battery 80.0%)')):
            assert spin_until(lambda: battery.publish(msg) or said in planner.output,
                              timeout=30), planner.output
        assert 'dropped battery_state' not in planner.output, planner.output
        assert planner.stop() == 0, planner.output
