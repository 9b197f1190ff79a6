"""
Smoke test of the ROS 2 stack: a node in a separate process talks to this process over DDS.

Proves the wheels (or system ROS 2), the Fast DDS loopback profile, the installed entry point,
QoS choices and run-time parameter validation together. Every wait is bounded.
"""

import time

import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


SCENARIO = [
    '-p', 'rate_hz:=20.0', '-p', 'initial_percentage:=0.8', '-p', 'drain_per_second:=0.1',
    '-p', 'deadline_times:=[0.0, 1.0]', '-p', 'deadline_values:=[2.0, 0.5]',
    '-p', 'frame_id:=test_frame', '-p', 'wait_for_subscribers:=1',
]


def test_scenario_node_talks_over_dds(listen, start_node, spin_until):
    from sensor_msgs.msg import BatteryState
    from std_msgs.msg import Float64

    from qcoinf_ros.ros.qos import LATCHED, SENSOR

    battery = listen(BatteryState, 'battery_state', SENSOR)
    deadlines = listen(Float64, 'qcoinf/deadline', LATCHED, lambda m: m.data)
    with start_node('scenario_node', SCENARIO) as proc:
        received = spin_until(lambda: len(battery) >= 10 and len(deadlines) >= 2
                              or proc.returncode is not None, timeout=30.0)
        assert received and proc.returncode is None, (
            f'{len(battery)} battery, {deadlines} deadlines; node output:\n{proc.output}')
        # A subscriber that joins late still gets the deadline in force (transient local).
        late = listen(Float64, 'qcoinf/deadline', LATCHED, lambda m: m.data)
        assert spin_until(lambda: late, timeout=10.0), proc.output
    assert deadlines[:2] == [2.0, 0.5]
    assert late == [0.5]
    pcts = [m.percentage for m in battery]
    assert pcts == sorted(pcts, reverse=True) and pcts[-1] < pcts[0] <= 0.8
    assert {m.header.frame_id for m in battery} == {'test_frame'}
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in battery]
    assert stamps == sorted(stamps) and abs(stamps[-1] - time.time()) < 30.0


def test_bad_runtime_parameter_is_rejected_and_node_keeps_running(listen, start_node, spin_until,
                                                                  set_params):
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import BatteryState

    from qcoinf_ros.ros.qos import SENSOR

    battery = listen(BatteryState, 'battery_state', SENSOR)
    with start_node('scenario_node', SCENARIO) as proc:
        requests = {
            'rate_hz': Parameter('rate_hz', value=-1.0),
            'deadline_values': Parameter('deadline_values', value=[1.0, 2.0, 3.0]),
        }
        results = {name: set_params('scenario_node', [param])[0]
                   for name, param in requests.items()}
        assert not results['rate_hz'].successful
        assert 'rate_hz' in results['rate_hz'].reason
        assert not results['deadline_values'].successful
        assert 'same length' in results['deadline_values'].reason
        # A good value is accepted, and the node is still publishing.
        assert set_params('scenario_node', [Parameter('rate_hz', value=10.0)])[0].successful
        seen = len(battery)
        assert spin_until(lambda: len(battery) > seen + 3, timeout=10.0), proc.output
        assert proc.returncode is None


def test_invalid_startup_parameters_exit_with_reason(start_node):
    proc = start_node('scenario_node', ['-p', 'deadline_times:=[0.0, 1.0]'])
    assert proc.wait(timeout=20.0) == 2, proc.output
    proc.stop()
    assert 'same length' in proc.output
