"""The planner node in its own process: battery and deadline in, latched plan out."""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


@pytest.fixture
def graph(ros_env, rclpy_node, spin_until):
    """Planner process plus publishers/subscribers in this process; yields helpers."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import BatteryState
    from std_msgs.msg import Float64, String, UInt8

    from qcoinf_ros.codec.plan import decode_profile
    from qcoinf_ros.ros.processes import NodeProcess
    from qcoinf_ros.ros.qos import LATCHED, SENSOR

    got = {'bits': [], 'profiles': [], 'diag': []}
    node = rclpy_node
    node.create_subscription(UInt8, 'qcoinf/bit_width', lambda m: got['bits'].append(m.data),
                             LATCHED)
    node.create_subscription(String, 'qcoinf/frequency_profile',
                             lambda m: got['profiles'].append(decode_profile(m.data)), LATCHED)
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: got['diag'].extend(m.status), 10)
    battery = node.create_publisher(BatteryState, 'battery_state', SENSOR)
    deadline = node.create_publisher(Float64, 'qcoinf/deadline', LATCHED)

    def send_battery(pct):
        msg = BatteryState()
        msg.percentage = pct
        # sensor-data QoS is best effort: repeat until the planner reacted (bounded)
        for _ in range(3):
            battery.publish(msg)
            spin_until(lambda: False, timeout=0.05)

    params = ['-p', 'preset:=paper', '-p', 'model:=blip2', '-p', 'energy_policy:=linear',
              '-p', 'e0_full:=2.0', '-p', 'e0_min:=0.5', '-p', 'battery_reserve:=0.1']
    with NodeProcess('planner_node', params, env=ros_env) as proc:
        yield proc, got, spin_until, send_battery, deadline


def test_battery_drop_lowers_bit_width_and_infeasible_deadline_is_flagged(graph):
    from std_msgs.msg import Float64

    proc, got, spin_until, send_battery, deadline = graph
    assert spin_until(lambda: got['bits'] and got['profiles']), proc.output
    assert got['bits'][-1] == 16 and got['profiles'][-1].feasible  # full budget: b = B_max
    send_battery(0.1)  # E0 -> e0_min = 0.5 J
    assert spin_until(lambda: got['bits'][-1] == 11), (got['bits'], proc.output)
    assert got['profiles'][-1].bit_width == 11 and got['profiles'][-1].f > 0
    deadline.publish(Float64(data=0.001))  # below the least possible delay
    assert spin_until(lambda: not got['profiles'][-1].feasible), proc.output
    assert got['profiles'][-1].bit_width == 1  # the safest fallback
    assert spin_until(lambda: any(s.level == b'\x02' or s.level == 2 for s in got['diag']
                                  if 'infeasible' in s.message)), proc.output
    error = [s for s in got['diag'] if 'infeasible' in s.message][-1]
    values = {kv.key: kv.value for kv in error.values}
    assert values['feasible'] == 'False' and float(values['T0_s']) == 0.001
    # bad inputs are dropped, logged once, and the node keeps planning
    deadline.publish(Float64(data=-1.0))
    send_battery(float('nan'))
    deadline.publish(Float64(data=3.5))
    assert spin_until(lambda: got['profiles'][-1].feasible and got['bits'][-1] == 11), \
        proc.output
    assert proc.returncode is None
    assert proc.output.count('dropped deadline') == 1, proc.output
    assert 'dropped battery_state' in proc.output


def test_runtime_parameters_are_validated(graph, rclpy_node):
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    proc, got, spin_until, _, _ = graph
    client = AsyncParameterClient(rclpy_node, 'planner_node')
    assert spin_until(client.services_are_ready), proc.output

    def set_param(name, value):
        future = client.set_parameters([Parameter(name, value=value)])
        assert spin_until(future.done), proc.output
        return future.result().results[0]

    bad = set_param('solver', 'oracle')
    assert not bad.successful and 'solver must be one of' in bad.reason
    bad = set_param('e0_min', 5.0)  # above e0_full = 2.0
    assert not bad.successful and 'must not exceed' in bad.reason
    assert set_param('solver', 'profiles').successful
    assert spin_until(lambda: got['profiles'] and got['profiles'][-1].name in
                      ('low', 'medium', 'high')), proc.output
    assert proc.returncode is None
