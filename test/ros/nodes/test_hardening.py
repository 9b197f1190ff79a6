"""
Issue 14's examples, one regression test each: inputs that killed, wedged or bloated a node.

The nodes run in this process (their real constructors; the tiny captioner where a model is
needed) and their callbacks are called directly with the message that once did the damage.
"""

from __future__ import annotations

import array
import math

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


class Lines:
    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(text)


@pytest.fixture
def planner(context):
    from qcoinf_ros.ros.nodes.planner_node import PlannerNode
    from rclpy.parameter import Parameter
    # every input planned at once (no coalescing: the test calls the callbacks in a row)
    node = PlannerNode(context=context,
                       parameter_overrides=[Parameter('planning_period', value=0.0)])
    node._drops._logger = Lines()
    yield node
    node.destroy_node()


def _model(**more):
    from rclpy.parameter import Parameter
    values = {'model': 'tiny', 'calibrate': 'never', 'threads': 1, **more}
    return [Parameter(k, value=v) for k, v in values.items()]


def test_a_subnormal_deadline_is_dropped_not_a_division_by_zero(planner):
    """1e-310 passed "positive and finite", and the fallback divided by zero (latched)."""
    from std_msgs.msg import Float64

    from qcoinf_ros.core.planner import PlanningProblem
    plan = planner._plan
    for t0 in (1e-310, 5e-324):
        planner._on_deadline(Float64(data=t0))  # raised ZeroDivisionError
    assert planner._plan is plan and planner._t0 != 1e-310
    assert any('T0 [s] must not be subnormal' in line for line in planner._drops._logger.lines)
    with pytest.raises(ValueError, match='t0 must not be subnormal'):
        PlanningProblem(planner._params, 1.0, 1e-310, 1.0)


def test_json_numbers_python_cannot_hold_are_refused_by_planner_actuator_and_monitor(
        planner, context):
    """10**400 and 1e999 raised OverflowError in the callbacks or later, in a timer."""
    from qcoinf_ros.msg import FrequencyProfile, ModelInfo
    from qcoinf_ros.ros.nodes.frequency_actuator_node import FrequencyActuatorNode
    from qcoinf_ros.ros.nodes.monitor_node import MonitorNode
    lam = planner.lam
    for value in (float('inf'), 1e-310):  # typed now: what a float64 holds that is no lambda
        planner._on_agent_model(ModelInfo(model_id='m', scheme='uniform', b_max=8, lam=value,
                                          ks=0.1, num_params=1))
    assert planner.lam == lam
    assert planner._drops.counts['agent_model.unreadable'] == 2
    for cls in (FrequencyActuatorNode, MonitorNode):
        node = cls(context=context)
        try:
            node._drops._logger = Lines()
            node._on_profile(FrequencyProfile(name='x', f_hz=1e9, f_server_hz=1e9, bit_width=4,
                                              feasible=True, predicted_delay_s=float('inf')))
            node._on_profile(FrequencyProfile(name='x', f_hz=float('nan'), f_server_hz=1e9,
                                              bit_width=4))
            for timer in node.timers:
                timer.callback()  # formatting the accepted value raised here
            assert node._drops.total == 2, node._drops.counts
        finally:
            node.destroy_node()


def test_parameters_that_made_the_fallback_nan_are_refused(planner):
    """link_rate_bps 1e-300 with 1e10 payload bytes: an infinite upload, NaN clocks."""
    from rclpy.parameter import Parameter
    results = planner.set_parameters([Parameter('payload_bytes', value=1e10),
                                      Parameter('link_rate_bps', value=1e-300)])
    assert not results[-1].successful and 'not a finite time' in results[-1].reason
    point = planner._plan.point if planner._plan.feasible else planner._plan.fallback
    assert math.isfinite(point.f) and math.isfinite(point.f_server)


def test_run_time_array_parameters_are_range_checked(context):
    """A negative deadline in deadline_values was accepted at run time (refused at start)."""
    from rclpy.parameter import Parameter

    from qcoinf_ros.ros.nodes.scenario_node import PARAMS, ScenarioNode
    spec = next(s for s in PARAMS if s.name == 'deadline_values')
    assert 'must be >=' in spec.check(array.array('d', [-1.0]))  # what rclpy hands over
    node = ScenarioNode(context=context)
    try:
        result = node.set_parameters([Parameter('deadline_values', value=[-1.0])])[0]
        assert not result.successful and 'deadline_values must be >=' in result.reason
        assert list(node.get_parameter('deadline_values').value) == [1.0]
    finally:
        node.destroy_node()


@pytest.fixture
def decoder(context):
    from qcoinf_ros.ros.nodes.edge_decoder_node import EdgeDecoderNode
    node = EdgeDecoderNode(context=context, parameter_overrides=_model(max_new_tokens=3))
    node._drops._logger = Lines()
    yield node
    node.destroy_node()


def test_the_decoder_applies_max_new_tokens_at_run_time(decoder):
    """Setting max_new_tokens reported success and was never applied."""
    from rclpy.parameter import Parameter
    assert decoder.set_parameters([Parameter('max_new_tokens', value=7)])[0].successful
    assert decoder._p['max_new_tokens'] == 7


def _embedding(decoder, sec, nanosec=0, frame_id='camera'):
    import numpy as np
    from std_msgs.msg import Header

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.ros.messages import embedding_msg
    msg = embedding_msg(np.zeros(decoder._split.embedding_shape, np.float32),
                        EmbeddingMeta(decoder._split.model_id, 8), Header())
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    return msg


def test_stamps_outside_the_windows_and_replays_are_dropped(decoder):
    """sec=-1 broke the monitor's pairing; 1970/2038 gave +-1e9 s latencies; replays again."""
    decoder._stop_worker()  # keep what is queued in the queue, to look at
    now = decoder.get_clock().now().seconds_nanoseconds()[0]
    for sec in (-1, 1, 2 ** 31 - 1, now - 3600, now + 60):
        decoder._on_embedding(0, _embedding(decoder, sec))
    assert len(decoder._queue) == 0 and decoder._drops.total == 5
    assert decoder._drops.counts == {'embedding.stamp_invalid': 1, 'embedding.stamp_past': 2,
                                     'embedding.stamp_future': 2}
    lines = ' '.join(decoder._drops._logger.lines)
    for needle in ('invalid stamp', 's in the past', 's in the future'):
        assert needle in lines, lines
    good = _embedding(decoder, now)
    decoder._on_embedding(0, good)
    assert len(decoder._queue) == 1
    decoder._on_embedding(0, good)  # the same embedding again: a replay
    assert len(decoder._queue) == 1 and decoder._drops.counts['embedding.replay'] == 1
    assert 'a replay' in decoder._drops._logger.lines[-1]
    decoder._on_embedding(0, _embedding(decoder, 0, 0))  # not stamped: taken
    assert len(decoder._queue) == 2


def test_huge_and_extreme_frames_are_dropped_before_they_are_decoded(context):
    """A 1x8192 frame was enlarged x480 by the monitor; 1x32768 cost the agent 3 GB."""
    import tracemalloc

    from sensor_msgs.msg import Image

    from qcoinf_ros.msg import Caption
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    from qcoinf_ros.ros.nodes.monitor_node import MonitorNode
    agent = AgentEncoderNode(context=context, parameter_overrides=_model())
    monitor = MonitorNode(context=context)
    try:
        for width, height in ((1, 8192), (32768, 1), (5000, 5000)):
            frame = Image(width=width, height=height, encoding='mono8', step=width,
                          data=bytes(width * height))
            tracemalloc.start()
            try:
                agent._on_image(frame)
                monitor._on_image(frame)
                monitor._on_caption(Caption(text='a caption'))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert peak < 64 * 2 ** 20, (width, height, peak)
        assert agent._frames == 0
        assert set(agent._drops.counts) == set(monitor._drops.counts) == {'image.size'}
        assert 'aspect ratio of 8192:1' in agent._drops.first['image.size']
        assert 'more than 8294400' in monitor._drops.last['image.size']
    finally:
        agent.destroy_node()
        monitor.destroy_node()


def test_a_20000_character_word_is_wrapped_without_a_cubic_cost(monkeypatch):
    """Cutting one long word tried every prefix from the longest: O(n^3) text measurements."""
    import importlib

    import cv2
    module = importlib.import_module('qcoinf_ros.core.monitor.annotate')  # the function shadows it
    calls = []
    real = cv2.getTextSize

    def counted(*args):
        calls.append(len(args[0]))
        return real(*args)
    monkeypatch.setattr(module.cv2, 'getTextSize', counted)
    lines = module.wrap('w' * 20000, 464, 0.5)
    assert ''.join(lines) == 'w' * (module.MAX_TEXT_CHARS - 3) + '...'
    assert len(calls) < 2000 and sum(calls) < 2_000_000, (len(calls), sum(calls))


def test_the_monitor_keeps_a_bounded_table_of_diagnostics(context):
    """Every new /diagnostics name was kept forever (and with it every value)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    from qcoinf_ros.ros.nodes.monitor_node import MonitorNode
    node = MonitorNode(context=context)
    try:
        for i in range(500):
            status = DiagnosticStatus(name=f'junk {i} ' + 'n' * 5000, message='m' * 5000)
            status.values = [KeyValue(key=f'k{j}', value='v' * 5000) for j in range(200)]
            node._on_diagnostics(DiagnosticArray(status=[status]))
        statuses = node._state.statuses
        assert len(statuses) == 64
        assert all(len(s.values) <= 64 and len(s.message) <= 2000 for s in statuses.values())
        assert max(map(len, statuses)) <= 2000
    finally:
        node.destroy_node()


def test_declared_parameters_read_as_typed_attributes(planner):
    """declare_all's values: attributes of the spec's type; a typo or an assignment fails."""
    from rclpy.parameter import Parameter

    values = planner._p
    assert values.replan_tolerance == values['replan_tolerance']
    assert isinstance(values.b_max, int) and isinstance(values.solver, str)
    with pytest.raises(AttributeError, match="no parameter 'replan_tolerence'"):
        values.replan_tolerence  # noqa: B018
    with pytest.raises(AttributeError, match='set_parameters'):
        values.b_max = 3
    assert planner.set_parameters([Parameter('replan_tolerance', value=0.125)])[0].successful
    assert values.replan_tolerance == 0.125  # accepted run-time changes show through


def test_a_camera_resize_beyond_the_image_limits_is_dropped_not_made(context):
    """Width 3181 made 30 MB frames of a 96-px scene (8192 x 8192: 200 MB): a fuzzer hang."""
    from rclpy.parameter import Parameter

    from qcoinf_ros.ros.nodes.camera_node import CameraNode
    camera = CameraNode(context=context, parameter_overrides=[
        Parameter('source', value='scenes'), Parameter('scene_count', value=2)])
    try:
        camera._drops._logger = Lines()
        assert camera.set_parameters([Parameter('height', value=8192),
                                      Parameter('width', value=3181)])[1].successful
        camera._tick()
        assert camera.frames == 0
        assert any('3181x8192 has 26058752 pixels' in line
                   for line in camera._drops._logger.lines), camera._drops._logger.lines
        assert camera.set_parameters([Parameter('width', value=0),
                                      Parameter('height', value=0)])[0].successful
        camera._tick()
        assert camera.frames == 1  # the next frame within the limits is published
    finally:
        camera.destroy_node()


def _battery(percentage, charge=math.nan, capacity=math.nan):
    from sensor_msgs.msg import BatteryState
    return BatteryState(percentage=percentage, charge=charge, capacity=capacity)


def test_battery_states_as_drivers_publish_them_drive_the_plan(planner):
    """A NaN percentage with charge/capacity, and a 0..100 driver, both set E0."""
    full, reserve = planner._policy.budget(1.0), planner._policy.budget(0.1)
    planner._on_battery(_battery(math.nan, charge=0.1, capacity=1.0))
    assert planner._battery_pct == pytest.approx(0.1) and planner._e0 == pytest.approx(reserve)
    planner._on_battery(_battery(100.0))  # a 0..100 driver, auto scale
    assert planner._battery_pct == pytest.approx(1.0) and planner._e0 == pytest.approx(full)
    planner._on_battery(_battery(10.0))
    assert planner._battery_pct == pytest.approx(0.1) and planner._e0 == pytest.approx(reserve)
    assert planner._drops.total == 0


def test_a_battery_state_that_says_nothing_holds_the_plan(planner):
    planner._on_battery(_battery(0.5))
    plan, e0 = planner._plan, planner._e0
    for _ in range(3):
        planner._on_battery(_battery(math.nan))  # no percentage, no charge: unknown
    assert planner._plan is plan and planner._e0 == e0 and planner._battery_pct == 0.5
    assert planner._battery_unknown and planner._drops.total == 0
    planner._on_battery(_battery(-5.0))  # impossible: dropped with the reason
    assert any('finite and >= 0' in line for line in planner._drops._logger.lines)
    planner._on_battery(_battery(0.2))
    assert not planner._battery_unknown and planner._battery_pct == 0.2
