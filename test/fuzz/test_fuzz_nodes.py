"""
The per-node fuzzer (issue 14): every node, every subscription, every run-time parameter.

Each node runs in this process (its real constructor, its real model where it has one: the
tiny captioner), and hypothesis drives its subscription callbacks with messages built from the
message type (:mod:`node_fuzz`: numeric edge values, hostile and mutated JSON, the package's
typed messages valid and with one field set to an edge value, extreme sequences, stamps
anywhere in time, images of extreme sizes), then runs every timer callback (values a callback
accepted are formatted there later). Run-time parameters are set through
the node's own parameter interface with values of their type. Asserted for every example:

* no exception escapes a callback, a timer or a parameter change;
* every input a node drops is logged with its reason (a new drop class gives a log line);
* an accepted parameter value satisfies its declared range;
* afterwards a good input is still handled (no poison state), and the node's resident memory
  grew less than :data:`MEMORY_BOUND` over the whole run.

``QCOINF_FUZZ_EXAMPLES=N`` runs N random examples per input instead of the derandomized
default (:mod:`fuzz_support`); ``QCOINF_FUZZ_TABLE=path`` writes the coverage table
(node x input x examples, and the drops found) as Markdown.
"""

from __future__ import annotations

import os
from pathlib import Path
import time

from fuzz_support import bounded, fuzz_settings
from hypothesis import given, strategies as st
import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

import node_fuzz  # noqa: E402, I100 (after the skip: needs the ROS message packages)

#: Largest growth of this process's resident memory over one node's fuzzing [bytes].
MEMORY_BOUND = 300 * 1024 * 1024
EXAMPLES = 40  # per subscription, derandomized (QCOINF_FUZZ_EXAMPLES overrides)
PARAMETER_EXAMPLES = 20  # per run-time parameter (a camera resizing to 8192 x 8192 takes ~3 s)
#: node, input, examples, how many were refused (messages dropped with a logged reason;
#: parameter values rejected with a reason), seconds
COVERAGE: list[tuple[str, str, int, int, float]] = []


def _rss() -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
    return 0


class Recorder:
    """Stands in for a node's DropLog logger: records the lines, forwards them."""

    def __init__(self, logger):
        self.logger, self.lines = logger, []

    def warning(self, text):
        self.lines.append(text)


def _typed_examples():
    """Return valid messages of the package's own types (the fuzzer mutates them by field)."""
    import numpy as np
    from std_msgs.msg import Header

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.core.codec.agent_model import AgentModelInfo
    from qcoinf_ros.core.codec.applied import AppliedMessage
    from qcoinf_ros.core.codec.caption import CaptionRecord
    from qcoinf_ros.core.codec.cost import CostMessage
    from qcoinf_ros.core.codec.plan import ProfileMessage
    from qcoinf_ros.ros import messages
    return [
        messages.profile_msg(ProfileMessage('medium', 1e9, 5e9, 6, True, None, 0.4, 1.7, 0.2)),
        messages.profile_msg(ProfileMessage('jetson', 1e9, 5e9, 4, False, 2, 0.4, 1.7, 0.2)),
        messages.cost_msg(CostMessage('agent', 'm', 'lut', 'avx2', 1, (0.004, 0.005), 0.003,
                                      0.001, 0.99, 2.4e9, 'cpu', False, 'uniform', 2, 0)),
        messages.cost_msg(CostMessage('server', 'm', 'torch', 'x', 1, (0.02,), 0.02, 0.0, 1.0,
                                      None, 'cpu', False, '', 0, 20)),
        messages.model_msg(AgentModelInfo('m', 'uniform', 8, 12.5, 0.05, 1000)),
        messages.applied_msg(AppliedMessage('medium', 1e9, None, 'cpufreq', '', False)),
        messages.caption_msg(CaptionRecord('a red circle', 0, 6, 4, 0.2, 0.01, 0.1), Header()),
        messages.embedding_msg(np.zeros((4, 8), np.float32), EmbeddingMeta('m', 6, 'int8'),
                               Header()),
    ]


def _json_examples():
    """Return the JSON still carried in std_msgs/String: the agent's link state."""
    from qcoinf_ros.core.codec.link_state import encode_link_state, LinkStateMessage
    from qcoinf_ros.core.failover import LinkMonitor
    return [encode_link_state(LinkStateMessage.from_snapshot(LinkMonitor(now=0.0).snapshot(),
                                                             0.0))]


def _strategy(msg_type):
    from sensor_msgs.msg import Image
    generic = node_fuzz.message_strategy(msg_type, _json_examples(), examples=_typed_examples())
    if msg_type is Image:
        return st.one_of(node_fuzz.image_strategy(), generic)
    return generic


def _make(name, context):
    """Return the node ``name`` in this process, small (tiny model, no calibration)."""
    from rclpy.parameter import Parameter
    model = [Parameter('model', value='tiny'), Parameter('calibrate', value='never'),
             Parameter('threads', value=1)]
    if name == 'planner_node':
        from qcoinf_ros.ros.nodes.planner_node import PlannerNode
        return PlannerNode(context=context,
                           parameter_overrides=[Parameter('planning_period', value=0.0)])
    if name == 'agent_encoder_node':
        from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
        return AgentEncoderNode(context=context, parameter_overrides=model)
    if name == 'edge_decoder_node':
        from qcoinf_ros.ros.nodes.edge_decoder_node import EdgeDecoderNode
        return EdgeDecoderNode(context=context, parameter_overrides=model + [
            Parameter('max_new_tokens', value=3)])
    if name == 'monitor_node':
        from qcoinf_ros.ros.nodes.monitor_node import MonitorNode
        return MonitorNode(context=context)
    if name == 'frequency_actuator_node':
        from qcoinf_ros.ros.nodes.frequency_actuator_node import FrequencyActuatorNode
        return FrequencyActuatorNode(context=context)
    if name == 'scenario_node':
        from qcoinf_ros.ros.nodes.scenario_node import ScenarioNode
        return ScenarioNode(context=context)
    if name == 'camera_node':
        from qcoinf_ros.ros.nodes.camera_node import CameraNode
        return CameraNode(context=context, parameter_overrides=[
            Parameter('source', value='scenes'), Parameter('scene_count', value=3),
            Parameter('scene_size', value=32)])
    raise AssertionError(name)


def _specs(name):
    import importlib
    return importlib.import_module(f'qcoinf_ros.ros.nodes.{name}').PARAMS


NODES = ['planner_node', 'agent_encoder_node', 'edge_decoder_node', 'monitor_node',
         'frequency_actuator_node', 'scenario_node', 'camera_node']


def _run_timers(node):
    for timer in list(node.timers):
        timer.callback()


class Checked:
    """Runs one input on a node and checks the promises above."""

    def __init__(self, node):
        self.node = node
        self.drops = getattr(node, '_drops', None)
        if self.drops is not None:
            self.recorder = Recorder(self.drops._logger)
            self.drops._logger = self.recorder

    def __call__(self, what, action):
        before = set(self.drops.counts) if self.drops is not None else set()
        with bounded(what):
            action()
            _run_timers(self.node)
        if self.drops is None:
            return
        for key in set(self.drops.counts) - before:  # a new class: its first drop is logged
            assert any(line.startswith(f'dropped {key}: ') for line in self.recorder.lines), \
                f'{what}: dropped as {key!r} without a log line saying so'


#: Message infos as rclpy passes them to a two-argument callback (Jazzy: no publisher GID).
INFOS = st.sampled_from([
    {'source_timestamp': 0, 'received_timestamp': 0, 'publication_sequence_number': 1,
     'reception_sequence_number': None},
    {'source_timestamp': 0, 'received_timestamp': 0, 'publication_sequence_number': None,
     'reception_sequence_number': None,
     'publisher_gid': {'implementation_identifier': 'rmw_fastrtps_cpp', 'data': bytes(16)}},
    {'publisher_gid': {'implementation_identifier': 'x', 'data': b'\xff' * 16}}])


def _takes_info(callback) -> bool:
    import inspect
    try:
        inspect.signature(callback).bind(object())
        return False
    except TypeError:
        return True


def _subscriptions(node):
    return [(sub.topic_name, sub.msg_type, sub.callback) for sub in node.subscriptions]


@pytest.mark.parametrize('name', NODES)
def test_no_message_or_parameter_kills_the_node(name, context):
    node = _make(name, context)
    check = Checked(node)
    start = _rss()
    try:
        for topic, msg_type, callback in _subscriptions(node):
            count = [0]

            @fuzz_settings(EXAMPLES)
            @given(msg=_strategy(msg_type), info=INFOS)
            def feed(msg, info):
                count[0] += 1

                def action():
                    if _takes_info(callback):
                        callback(msg, info)
                    else:
                        callback(msg)
                    if name == 'agent_encoder_node' and topic.endswith('image_raw'):
                        node._on_image(msg)  # the worker's half, here and now
                check(f'{name} {topic} {msg!r:.300}', action)
            before = check.drops.total if check.drops is not None else 0
            began = time.monotonic()
            feed()
            found = check.drops.total - before if check.drops is not None else 0
            COVERAGE.append((name, topic, count[0], found, time.monotonic() - began))
        specs = [s for s in _specs(name) if not s.read_only]
        for spec in specs:
            count, rejected = [0], [0]

            @fuzz_settings(PARAMETER_EXAMPLES)
            @given(value=node_fuzz.parameter_strategy(spec))
            def set_parameter(value):
                from rclpy.parameter import Parameter
                count[0] += 1
                result = []

                def action():
                    result.append(node.set_parameters([Parameter(spec.name, value=value)])[0])
                check(f'{name} parameter {spec.name} := {value!r:.200}', action)
                if result[0].successful:
                    assert spec.check(node.get_parameter(spec.name).value) is None, \
                        (spec.name, value)
                else:
                    assert result[0].reason, (spec.name, value)  # refused with a reason
                    rejected[0] += 1
                # back to the start value: the next example starts from a sane node (and a
                # camera does not go on resizing to 8192 x 8192 for every later example)
                node.set_parameters([Parameter(spec.name, value=start_value)])
            start_value = node.get_parameter(spec.name).value
            began = time.monotonic()
            set_parameter()
            COVERAGE.append((name, f'parameter {spec.name}', count[0], rejected[0],
                             time.monotonic() - began))
        _assert_still_working(name, node)
        grown = _rss() - start
        assert grown < MEMORY_BOUND, f'{name}: resident memory grew by {grown / 2**20:.0f} MiB'
    finally:
        node.destroy_node()
        _write_table()


def _assert_still_working(name, node):
    """Check that a good input after the hostile ones is still handled."""
    from std_msgs.msg import Float64
    if name == 'planner_node':
        node._on_deadline(Float64(data=2.5))
        assert node._t0 == 2.5 and node._plan is not None
    elif name == 'agent_encoder_node':
        import numpy as np
        from qcoinf_ros.ros.image import array_to_image_msg
        # the worker thread may still be encoding frames the fuzzer queued: wait until it is
        # idle (queue empty, count steady), so the count below is this frame's alone
        frames, deadline = -1, time.monotonic() + 30.0
        while time.monotonic() < deadline and (len(node._queue) or frames != node._frames):
            frames = node._frames
            time.sleep(0.3)
        frames = node._frames
        node._on_image(array_to_image_msg(np.zeros((96, 96, 3), np.uint8), 'rgb8'))
        assert node._frames == frames + 1
    elif name == 'monitor_node':
        node._on_deadline(Float64(data=2.5))
        assert node._state.deadline == 2.5


def _write_table():
    path = os.environ.get('QCOINF_FUZZ_TABLE')
    if not path:
        return
    lines = ['| node | input | examples | refused (dropped and logged / rejected) | s |',
             '|---|---|---|---|---|']
    lines += [f'| {n} | {i} | {k} | {d} | {t:.1f} |' for n, i, k, d, t in COVERAGE]
    Path(path).write_text('\n'.join(lines) + '\n')
