"""The planner node in its own process: battery and deadline in, latched plan out."""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


@pytest.fixture
def graph(start_node, rclpy_node, spin_until):
    """Planner process plus publishers/subscribers in this process; yields helpers."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import BatteryState
    from std_msgs.msg import Float64, UInt8

    from qcoinf_ros.ros.messages import FrequencyProfile, profile_from_msg
    from qcoinf_ros.ros.qos import LATCHED, SENSOR

    got = {'bits': [], 'profiles': [], 'diag': []}
    node = rclpy_node
    node.create_subscription(UInt8, 'qcoinf/bit_width', lambda m: got['bits'].append(m.data),
                             LATCHED)
    node.create_subscription(FrequencyProfile, 'qcoinf/frequency_profile',
                             lambda m: got['profiles'].append(profile_from_msg(m)), LATCHED)
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: got['diag'].extend(m.status), 10)
    battery = node.create_publisher(BatteryState, 'battery_state', SENSOR)
    deadline = node.create_publisher(Float64, 'qcoinf/deadline', LATCHED)

    def send_battery(pct, reacted):
        """Publish until ``reacted()`` (sensor-data QoS is best effort); False after 10 s."""
        msg = BatteryState()
        msg.percentage = pct
        for _ in range(50):
            battery.publish(msg)
            if spin_until(reacted, timeout=0.2):
                return True
        return False

    params = ['-p', 'preset:=paper', '-p', 'model:=blip2', '-p', 'energy_policy:=linear',
              '-p', 'e0_full:=2.0', '-p', 'e0_min:=0.5', '-p', 'battery_reserve:=0.1']
    with start_node('planner_node', params) as proc:
        yield proc, got, spin_until, send_battery, deadline


def test_battery_drop_lowers_bit_width_and_infeasible_deadline_is_flagged(graph):
    from std_msgs.msg import Float64

    proc, got, spin_until, send_battery, deadline = graph
    assert spin_until(lambda: got['bits'] and got['profiles']), proc.output
    assert got['bits'][-1] == 16 and got['profiles'][-1].feasible  # full budget: b = B_max
    # E0 -> e0_min = 0.5 J
    # both topics: the plan and the bit-width arrive on their own readers, in either order
    assert send_battery(0.1, lambda: got['bits'][-1] == 11 and
                        got['profiles'][-1].bit_width == 11), (got['bits'], proc.output)
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
    # a NaN percentage with no charge/capacity says nothing: the plan is held (one WARN line)
    assert send_battery(float('nan'), lambda: 'battery state unknown' in proc.output), \
        proc.output
    assert send_battery(-5.0, lambda: 'dropped battery_state' in proc.output), proc.output
    deadline.publish(Float64(data=3.5))
    assert spin_until(lambda: got['profiles'][-1].feasible and got['bits'][-1] == 11), \
        proc.output
    assert proc.returncode is None
    assert proc.output.count('dropped deadline') == 1, proc.output
    assert 'dropped battery_state' in proc.output


def test_runtime_parameters_are_validated(graph, set_params):
    from rclpy.parameter import Parameter

    proc, got, spin_until, _, _ = graph

    def set_param(name, value):
        return set_params('planner_node', [Parameter(name, value=value)])[0]

    bad = set_param('solver', 'oracle')
    assert not bad.successful and 'solver must be one of' in bad.reason
    bad = set_param('e0_min', 5.0)  # above e0_full = 2.0
    assert not bad.successful and 'must not exceed' in bad.reason
    assert set_param('solver', 'profiles').successful
    assert spin_until(lambda: got['profiles'] and got['profiles'][-1].name in
                      ('low', 'medium', 'high')), proc.output
    assert proc.returncode is None


def test_measured_costs_make_the_plan_a_prediction_for_this_machine(
        start_node, rclpy_node, spin_until, set_params):
    from rclpy.parameter import Parameter
    from std_msgs.msg import Float64

    from qcoinf_ros.core.codec.cost import CostMessage
    from qcoinf_ros.ros.messages import (
        AgentCost, cost_msg, FrequencyProfile, profile_from_msg)
    from qcoinf_ros.ros.qos import LATCHED

    node = rclpy_node
    profiles = []
    node.create_subscription(FrequencyProfile, 'qcoinf/frequency_profile',
                             lambda m: profiles.append(profile_from_msg(m)), LATCHED)
    agent_pub = node.create_publisher(AgentCost, 'qcoinf/agent_cost', LATCHED)
    server_pub = node.create_publisher(AgentCost, 'qcoinf/server_cost', LATCHED)
    deadline = node.create_publisher(Float64, 'qcoinf/deadline', LATCHED)
    # what the nodes publish: t(b) = 10 ms + 5 ms b at 2 GHz; a 20 ms caption at 2.4 GHz
    agent = CostMessage('agent', 'm', 'lut', 'avx2', 1, tuple(0.010 + 0.005 * b
                                                              for b in range(1, 9)),
                        0.010, 0.005, 1.0, 2.0e9, 'test cpu', False, 'uniform', 8, 0)
    server = CostMessage('server', 'm', 'torch', 'torch', 1, (0.020,), 0.020, 0.0, 1.0, 2.4e9,
                         'test cpu', False, '', 0, 20)
    params = ['-p', 'preset:=paper', '-p', 'model:=git', '-p', 'b_max:=8',
              '-p', 'e0_full:=1000.0', '-p', 'default_t0:=0.052']
    with start_node('planner_node', params) as proc:
        assert spin_until(lambda: profiles, timeout=60), proc.output
        # the paper's hardware until a measurement arrives: 52 ms is out of its reach (GIT-base
        # at b = 1 is N_FLOP / (32 c f_max) = 66 ms on the agent alone)
        nominal = profiles[-1]
        assert not nominal.feasible
        assert nominal.predicted_agent_delay_s == pytest.approx(135.85e9 / (32 * 32 * 2e9))
        agent_pub.publish(cost_msg(agent))
        server_pub.publish(cost_msg(server))
        # t(b) + 20 ms <= 52 ms: b = 4; the clocks nothing sets stay at the measured ones
        assert spin_until(lambda: profiles[-1].bit_width == 4 and profiles[-1].f == 2.0e9,
                          timeout=30), proc.output
        plan = profiles[-1]
        assert plan.f_server == 2.4e9 and plan.feasible
        assert plan.predicted_agent_delay_s == pytest.approx(0.030)
        assert plan.predicted_delay_s == pytest.approx(0.050)
        assert spin_until(lambda: 'agent measured (lut/avx2' in proc.output), proc.output
        deadline.publish(Float64(data=0.1))
        assert spin_until(lambda: profiles[-1].bit_width == 8, timeout=30), proc.output
        assert profiles[-1].predicted_agent_delay_s == pytest.approx(0.050)
        # a garbage cost is dropped with its reason; the plan stands
        agent_pub.publish(AgentCost(part='agent'))  # no latencies
        assert spin_until(lambda: 'dropped agent_cost' in proc.output, timeout=30)
        assert proc.returncode is None

        def set_planner(**values):
            return set_params('planner_node', [Parameter(k, value=v) for k, v in values.items()])

        # a settable agent clock (cpufreq on a robot): the least-energy plan slows it down to
        # just meet T0: 50 ms at 2 GHz must fit in 100 - 20 ms -> 1.25 GHz
        assert all(r.successful for r in set_planner(agent_f_min=1.0e9, agent_f_max=3.0e9))
        assert spin_until(lambda: profiles[-1].f < 1.9e9, timeout=30), proc.output
        assert profiles[-1].f == pytest.approx(1.25e9, rel=1e-6)
        assert profiles[-1].predicted_agent_delay_s == pytest.approx(0.080, rel=1e-6)
        bad = set_planner(agent_f_min=4.0e9)[0]
        assert not bad.successful and 'must not exceed agent_f_max' in bad.reason
        # the paper's nominal model on demand
        count = proc.output.count("nominal (preset 'paper')")
        assert set_planner(cost_model='nominal')[0].successful
        assert spin_until(lambda: proc.output.count("nominal (preset 'paper')") > count), \
            proc.output
        assert spin_until(lambda: profiles[-1].f_server > 3e9), proc.output  # paper clocks


def test_b_max_is_adopted_from_the_agent_model_as_lambda_is(context):
    """With b_max 0 the planner plans with the agent's B_max (it used to keep the preset's 16)."""
    from rclpy.parameter import Parameter
    from qcoinf_ros.core.codec.agent_model import AgentModelInfo
    from qcoinf_ros.ros.messages import model_msg
    from qcoinf_ros.ros.nodes.planner_node import PlannerNode
    node = PlannerNode(context=context, parameter_overrides=[  # every input planned at once
        Parameter('model', value='blip2'), Parameter('cost_model', value='nominal'),
        Parameter('planning_period', value=0.0)])
    try:
        assert node._params.b_max == 16 and node._plan.point.bit_width == 16
        node._on_agent_model(model_msg(
            AgentModelInfo('m', 'uniform', 8, 12.5, 0.05, 1000)))
        assert node._params.b_max == 8 and node._plan.point.bit_width == 8
        assert node.lam == 12.5 and 'B_max 8' in node._why
    finally:
        node.destroy_node()
    fixed = PlannerNode(context=context, parameter_overrides=[
        Parameter('model', value='blip2'), Parameter('b_max', value=12)])
    try:
        fixed._on_agent_model(model_msg(
            AgentModelInfo('m', 'uniform', 8, 12.5, 0.05, 1000)))
        assert fixed._params.b_max == 12  # set by the user: kept (and a warning logged)
    finally:
        fixed.destroy_node()


def test_local_mode_plans_encode_plus_local_decode_and_split_again(
        start_node, rclpy_node, spin_until):
    """Issue 27, item 3: a LOST link with a local cost re-plans for the robot alone."""
    import dataclasses

    from std_msgs.msg import Float64, String

    from qcoinf_ros.core.codec.cost import CostMessage
    from qcoinf_ros.core.codec.link_state import encode_link_state, LinkStateMessage
    from qcoinf_ros.core.failover import LinkMonitor
    from qcoinf_ros.ros.messages import AgentCost, cost_msg, FrequencyProfile, profile_from_msg
    from qcoinf_ros.ros.qos import LATCHED

    node = rclpy_node
    profiles = []
    node.create_subscription(FrequencyProfile, 'qcoinf/frequency_profile',
                             lambda m: profiles.append(profile_from_msg(m)), LATCHED)
    pubs = {topic: node.create_publisher(AgentCost, f'qcoinf/{topic}', LATCHED)
            for topic in ('agent_cost', 'server_cost', 'local_cost')}
    pubs['link_state'] = node.create_publisher(String, 'qcoinf/link_state', LATCHED)
    deadline = node.create_publisher(Float64, 'qcoinf/deadline', LATCHED)
    agent = CostMessage('agent', 'm', 'lut', 'avx2', 1, tuple(0.010 + 0.005 * b
                                                              for b in range(1, 9)),
                        0.010, 0.005, 1.0, 2.0e9, 'test cpu', False, 'uniform', 8, 0)
    server = CostMessage('server', 'm', 'torch', 'torch', 1, (0.020,), 0.020, 0.0, 1.0, 2.4e9,
                         'test cpu', False, '', 0, 20)
    # the decoder on the robot: 40 ms at the robot's 2 GHz
    local = CostMessage('server', 'm', 'torch', 'torch', 1, (0.040,), 0.040, 0.0, 1.0, 2.0e9,
                        'test cpu', False, '', 0, 20)
    monitor = LinkMonitor(now=0.0)  # LOST at start: no decoder has answered yet

    def link(state):
        message = LinkStateMessage.from_snapshot(monitor.snapshot(), 0.0)
        pubs['link_state'].publish(String(data=encode_link_state(
            dataclasses.replace(message, state=state, reason=f'test: {state}'))))

    params = ['-p', 'preset:=paper', '-p', 'model:=git', '-p', 'b_max:=8',
              '-p', 'e0_full:=1000.0', '-p', 'default_t0:=0.072']
    with start_node('planner_node', params) as proc:
        assert spin_until(lambda: profiles, timeout=60), proc.output
        pubs['agent_cost'].publish(cost_msg(agent))
        pubs['server_cost'].publish(cost_msg(server))
        link('SPLIT')
        # split: t(b) + 20 ms <= 72 ms -> b = 8 (50 + 20 = 70 ms)
        assert spin_until(lambda: profiles[-1].bit_width == 8 and profiles[-1].feasible,
                          timeout=30), proc.output
        assert profiles[-1].predicted_delay_s == pytest.approx(0.070)
        # LOST with no local cost yet: the agent is not captioning locally, nothing changes
        link('LOST')
        spin_until(lambda: False, 1.0)
        assert 'local mode' not in proc.output
        # the local cost arrives while LOST: t(b) + 40 ms <= 72 ms -> b = 4 (30 + 40 = 70 ms)
        pubs['local_cost'].publish(cost_msg(local))
        assert spin_until(lambda: profiles[-1].bit_width == 4, timeout=30), proc.output
        plan = profiles[-1]
        assert plan.feasible and plan.predicted_delay_s == pytest.approx(0.070)
        assert plan.f == plan.f_server == 2.0e9  # the robot's clock for both parts
        assert spin_until(lambda: 'local mode: the decoder on the robot (40 ms)' in
                          proc.output, timeout=10), proc.output
        # back: split again
        link('SPLIT')
        assert spin_until(lambda: profiles[-1].bit_width == 8, timeout=30), proc.output
        assert profiles[-1].predicted_delay_s == pytest.approx(0.070)
        # the local cost made the local plan (the link was LOST already), SPLIT the split one
        assert spin_until(lambda: 'plan (measured local cost' in proc.output, timeout=10), \
            proc.output
        assert spin_until(lambda: 'plan (link SPLIT: split mode' in proc.output, timeout=10), \
            proc.output
        # an unreadable link state is dropped with its reason; the plan stands
        pubs['link_state'].publish(String(data='{"state": "LOST"'))
        assert spin_until(lambda: 'dropped link_state' in proc.output, timeout=30), proc.output
        deadline.publish(Float64(data=0.072))
        assert proc.returncode is None
