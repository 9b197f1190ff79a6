"""
Issue 29 over DDS: a flood of junk with ever-changing values cannot blind a node's drop log.

An agent encoder runs as its own process (``model:=tiny``). The test floods it with 1,000 frames
stamped ``sec = -1 .. -1000`` and bit-widths 100..255 (each message a distinct value), then
sends each other kind of bad frame once: every one of those classes gets its own log line, the
flood's classes one line each (and summaries, not a line per drop), and the node's
``/diagnostics`` status counts the drops per class.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

AGENT = ['-p', 'model:=tiny', '-p', 'threads:=1', '-p', 'calibrate:=never']
WAIT = 60.0


def test_every_class_of_bad_input_is_logged_after_a_flood(start_node, rclpy_node, spin_until):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import UInt8

    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.core.status_names import AGENT_ENCODER
    from qcoinf_ros.msg import Embedding
    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.qos import reliable, SENSOR

    node = rclpy_node
    images = node.create_publisher(Image, 'camera/image_raw', SENSOR)
    bits = node.create_publisher(UInt8, 'qcoinf/bit_width', reliable(1000))
    embeddings, drops = [], {}

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.endswith(f': {AGENT_ENCODER}'):
                drops.update((kv.key, kv.value) for kv in status.values
                             if kv.key.startswith('dropped'))
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    node.create_subscription(Embedding, 'qcoinf/embedding', embeddings.append, reliable(2))
    good = array_to_image_msg(make_scene('test', 0).as_tuple()[0], 'rgb8')
    agent = start_node('agent_encoder_node', AGENT)
    try:
        # active: a good frame is encoded
        for _ in range(int(WAIT)):
            images.publish(good)
            if spin_until(lambda: embeddings, timeout=1.0):
                break
        assert embeddings and bits.get_subscription_count() >= 1, agent.output

        # the flood: 1,000 distinct invalid stamps and 1,000 bit-widths outside 1..b_max
        start = time.monotonic()
        for i in range(1000):
            junk = Image(height=1, width=1, encoding='mono8', step=1, data=b'\0')
            junk.header.stamp.sec, junk.header.stamp.nanosec = -1 - i, i
            images.publish(junk)
            bits.publish(UInt8(data=100 + i % 156))
            if i % 20 == 0:
                spin_until(lambda: False, timeout=0.01)
        assert spin_until(lambda: int(drops.get('dropped[image.stamp]', 0)) >= 100 and
                          int(drops.get('dropped[bit_width.range]', 0)) >= 100,
                          timeout=WAIT), (drops, agent.output)

        # then each other kind of bad frame once: every class gets its line
        for frame, cls in (
                (Image(height=0, width=0, encoding='rgb8', step=0, data=b''), 'image.zero_size'),
                (Image(height=1, width=1, encoding='yuv444', step=3, data=bytes(3)),
                 'image.encoding'),
                (Image(height=2, width=2, encoding='rgb8', step=6, data=bytes(5)), 'image.data'),
                (Image(height=1, width=1, encoding='yuv422', step=2, data=bytes(2)),
                 'image.subsampled_size'),
                (Image(height=1, width=8192, encoding='mono8', step=8192, data=bytes(8192)),
                 'image.size')):
            # best effort (sensor data): resent until it arrives; a repeat is only counted
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and f'dropped {cls}: ' not in agent.output:
                images.publish(frame)
                spin_until(lambda: f'dropped {cls}: ' in agent.output, timeout=0.5)
            assert f'dropped {cls}: ' in agent.output, (cls, agent.output[-3000:])
        assert spin_until(lambda: int(drops.get('dropped[image.size]', 0)) >= 1,
                          timeout=WAIT), drops

        # the flood's classes: one line each, then summaries (at most one per 10 s)
        out, seconds = agent.output, time.monotonic() - start
        assert out.count('dropped image.stamp: invalid stamp sec=-') == 1, out
        assert out.count('dropped bit_width.range: ') == 1, out
        assert out.count('invalid stamp sec=') <= 1 + out.count('drop summary'), out
        assert out.count('drop summary') <= 2 + seconds / 10, (seconds, out)
        assert agent.returncode is None
    finally:
        agent.stop()
