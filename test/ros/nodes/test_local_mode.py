"""
The agent's local mode in this process (issue 27): its routes, its captions, its cost drift.

The encoder's cost drift is tested here too (the same agent, the same way).

The agent runs its real constructor on the tiny captioner (its decoder loaded for local mode);
the frames are handed to its encode step directly, and what it publishes is read by a node of
the same context.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def _params(**more):
    from rclpy.parameter import Parameter
    values = {'model': 'tiny', 'calibrate': 'never', 'threads': 1, **more}
    return [Parameter(k, value=v) for k, v in values.items()]


def _frame(node):
    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.ros.image import array_to_image_msg
    msg = array_to_image_msg(make_scene('test', 0).as_tuple()[0], 'rgb8')
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id = 'camera'
    return msg


def test_a_lost_link_captions_on_the_robot_marked_local(context, rclpy_node, listen, spin_until):
    from geometry_msgs.msg import Vector3Stamped
    from qcoinf_ros.core.failover import LOST
    from qcoinf_ros.msg import Caption, Embedding
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    from qcoinf_ros.ros.qos import reliable

    agent = AgentEncoderNode(context=context, parameter_overrides=_params(probe_period=3600.0))
    got = {'caption': listen(Caption, 'qcoinf/caption', reliable(10)),
           'local': listen(Vector3Stamped, 'qcoinf/local_latency', reliable(10)),
           'embedding': listen(Embedding, 'qcoinf/embedding', reliable(10))}
    try:
        assert agent._local is not None and 'local mode: ready' in agent._local_note
        assert agent._link.snapshot().state == LOST  # no decoder has answered yet
        agent._link.decoders(0, 0.0)  # and none is matched: nothing to probe
        frames = [_frame(rclpy_node) for _ in range(3)]
        for frame in frames:
            agent._on_image(frame)
        spin_until(lambda: len(got['local']) == 3 and len(got['embedding']) == 3, timeout=5.0)
        assert len(got['caption']) == len(got['local']) == 3, got
        assert [m.header.stamp for m in got['local']] == [f.header.stamp for f in frames]
        assert all(m.vector.y > 0 and m.vector.z > 0 for m in got['local'])
        assert all(c.text and c.origin == Caption.ORIGIN_LOCAL and c.tokens > 0 and
                   c.decode_s > 0 for c in got['caption'])
        assert [c.header.stamp for c in got['caption']] == [f.header.stamp for f in frames]
        # the embeddings still go out, marked captioned (no decoder captions them again)
        assert [(m.captioned, m.probe) for m in got['embedding']] == [(True, False)] * 3
        counts = agent._router.counts
        assert (counts.edge, counts.local, counts.probe) == (0, 3, 0)
        # a decoder present: the next frame is a probe (captioned here, and sent marked probe)
        agent._link.decoders(1, 0.1)
        agent._on_image(_frame(rclpy_node))
        spin_until(lambda: len(got['embedding']) == 4 and len(got['local']) == 4, timeout=5.0)
        assert (got['embedding'][-1].captioned, got['embedding'][-1].probe) == (True, True)
        assert len(got['local']) == 4 and agent._router.counts.probe == 1
        assert agent._link.snapshot().in_flight == 1  # its answer is awaited
    finally:
        agent.destroy_node()


def test_off_or_too_large_a_decoder_says_no_captions_while_lost(context):
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    for params, note in ((_params(local_mode=False), 'local mode: off'),
                         (_params(local_max_params=1000), 'more than local_max_params')):
        agent = AgentEncoderNode(context=context, parameter_overrides=params)
        try:
            assert agent._local is None and note in agent._local_note, agent._local_note
            assert 'no captions while the edge server is lost' in agent._local_note
            assert not agent._router.local_available
        finally:
            agent.destroy_node()


def test_the_local_cost_follows_the_machine_when_the_local_decodes_drift(context):
    from qcoinf_ros.core.codec.cost import CostMessage
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    agent = AgentEncoderNode(context=context, parameter_overrides=_params(cost_window=5))
    try:
        agent._local_cost = CostMessage('server', 'm', 'torch', 'torch', 1, (0.010,), 0.010,
                                        0.0, 1.0, 2.0e9, 'cpu', True, '', 0, 8)
        for _ in range(5):  # within cost_drift (20 %): the published cost holds
            agent._track_local_cost(0.011)
        assert agent._local_cost.seconds == (0.010,)
        for _ in range(5):  # twice as slow: republished, scaled
            agent._track_local_cost(0.020)
        assert agent._local_cost.seconds == pytest.approx((0.020,))
        assert not agent._local_cost.cached
    finally:
        agent.destroy_node()


def test_the_encode_cost_follows_the_machine_while_the_bit_width_changes(context, rclpy_node,
                                                                         listen, spin_until):
    # a busy machine slows every b alike: the ratios to the published cost at each frame's own
    # b are pooled, so a plan that switches b every few frames is still corrected
    from qcoinf_ros.core.codec.cost import CostMessage
    from qcoinf_ros.msg import AgentCost
    from qcoinf_ros.ros.nodes.agent_encoder_node import AgentEncoderNode
    from qcoinf_ros.ros.qos import LATCHED
    agent = AgentEncoderNode(context=context, parameter_overrides=_params(cost_window=6))
    try:
        seconds = tuple(0.002 + 0.001 * b for b in range(1, 9))
        agent._cost = CostMessage('agent', 'm', 'lut', 'avx2', 1, seconds, 0.002, 0.001, 1.0,
                                  2.0e9, 'cpu', True, 'uniform', 8)
        got = listen(AgentCost, 'qcoinf/agent_cost', LATCHED)
        spin_until(lambda: got, timeout=5.0)  # the one published at configure
        published = len(got)
        for b in (8, 8, 2, 2, 5, 5):  # within cost_drift (20 %): the published cost holds
            agent._track_cost(1.1 * seconds[b - 1], b)
        assert agent._cost.seconds == seconds
        for b in (8, 2, 8, 2, 6, 3):  # 30 % slower at every b, never two frames at one b
            agent._track_cost(1.3 * seconds[b - 1], b)
        assert agent._cost.seconds == pytest.approx(tuple(1.3 * t for t in seconds))
        assert not agent._cost.cached
        spin_until(lambda: len(got) == published + 1, timeout=5.0)
        assert list(got[-1].seconds) == pytest.approx([1.3 * t for t in seconds])
    finally:
        agent.destroy_node()
