"""
The co-inference graph as separate processes over DDS.

camera -> agent encoder -> edge decoder, with the planner steering the agent's bit-width from
the battery and the deadline.

The model is a complete tiny GIT checkpoint written to a temporary directory (random weights,
the real BERT WordPiece tokenizer, a CLIP processor): real model code paths, loaded from disk
by both sides like a user's checkpoint.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from qcoinf_ros.core.models.tiny import save_tiny_git_checkpoint
    return save_tiny_git_checkpoint(tmp_path_factory.mktemp('tiny_git'))


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    import cv2
    folder = tmp_path_factory.mktemp('frames')
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(folder / f'{i}.png'), rng.integers(0, 256, (40, 48, 3), np.uint8))
    return folder


class Graph:
    """Subscriptions and publishers of the test process, with a bounded spin."""

    def __init__(self, node, spin):
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import BatteryState, Image
        from std_msgs.msg import Float64, UInt8

        from qcoinf_ros.msg import Caption, Embedding
        from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR

        self.node = node
        self.images, self.captions, self.latency, self.embedding_bits = {}, [], [], []
        node.create_subscription(
            Image, 'camera/image_raw',
            lambda m: self.images.__setitem__(self._stamp(m.header), m), SENSOR)
        node.create_subscription(Caption, 'qcoinf/caption',
                                 lambda m: self.captions.append(m.text), reliable(10))
        node.create_subscription(Vector3Stamped, 'qcoinf/latency', self.latency.append,
                                 reliable(10))

        node.create_subscription(Embedding, 'qcoinf/embedding',
                                 lambda m: self.embedding_bits.append(m.bit_width), reliable(2))
        self.plan_bits = []
        node.create_subscription(UInt8, 'qcoinf/bit_width',
                                 lambda m: self.plan_bits.append(m.data), LATCHED)
        self.battery = node.create_publisher(BatteryState, 'battery_state', SENSOR)
        self.deadline = node.create_publisher(Float64, 'qcoinf/deadline', LATCHED)
        self._spin = spin  # the conftest `spin_until` fixture

    @staticmethod
    def _stamp(header):
        return (header.stamp.sec, header.stamp.nanosec, header.frame_id)

    def spin_until(self, predicate, timeout=60.0):
        return self._spin(predicate, timeout)

    def set_battery(self, pct):
        from sensor_msgs.msg import BatteryState
        msg = BatteryState()
        msg.percentage = pct
        for _ in range(3):
            self.battery.publish(msg)
            self._spin(lambda: False, timeout=0.05)


def test_frames_in_captions_out_and_the_planner_steers_the_agent(rclpy_node, spin_until,
                                                                 start_node, checkpoint,
                                                                 frames):
    from std_msgs.msg import Float64

    model = f'model:=git:{checkpoint}'
    procs = [
        start_node('edge_decoder_node', ['-p', model, '-p', 'max_new_tokens:=5']),
        start_node('agent_encoder_node', ['-p', model, '-p', 'b_max:=8']),
        # the paper's nominal cost model (eqs. (4)-(9)) makes the battery steer b here; the
        # measured one is tested in test_planner_node.py
        start_node('planner_node', ['-p', 'preset:=paper', '-p', 'b_max:=8',
                                    '-p', 'e0_full:=2.0', '-p', 'e0_min:=0.2',
                                    '-p', 'cost_model:=nominal']),
        start_node('camera_node', ['-p', 'source:=folder', '-p', f'path:={frames}',
                                   '-p', 'rate_hz:=8.0', '-p', 'frame_id:=cam']),
    ]
    graph = Graph(rclpy_node, spin_until)
    output = lambda: '\n'.join(f'--- {p.name}\n{p.output}' for p in procs)  # noqa: E731
    assert graph.spin_until(lambda: len(graph.latency) >= 3), output()
    # every latency message carries the stamp of a camera frame, and a plausible latency
    for lat in graph.latency:
        assert Graph._stamp(lat.header) in graph.images, 'unknown frame stamp'
        assert 0.0 < lat.vector.x < 30.0 and 0.0 < lat.vector.y <= lat.vector.x
    assert graph.captions and all(isinstance(c, str) for c in graph.captions)
    assert graph.plan_bits and graph.plan_bits[-1] == 8
    assert graph.spin_until(lambda: graph.embedding_bits and graph.embedding_bits[-1] == 8)
    # battery at the reserve: E0 -> 0.2 J -> the planner lowers b, the agent switches
    graph.set_battery(0.1)
    assert graph.spin_until(lambda: graph.plan_bits[-1] == 6), output()
    assert graph.spin_until(lambda: graph.embedding_bits[-1] == 6), output()
    # an impossible deadline: safest fallback (b = 1) and the pipeline keeps running
    graph.deadline.publish(Float64(data=1e-4))
    assert graph.spin_until(lambda: graph.plan_bits[-1] == 1), output()
    seen = len(graph.captions)
    assert graph.spin_until(lambda: graph.embedding_bits[-1] == 1 and
                            len(graph.captions) > seen + 2), output()
    assert all(p.returncode is None for p in procs), output()
    assert 'INFEASIBLE' in procs[2].output
    # the planner's lambda is the one fitted to the agent model's own weights
    assert graph.spin_until(lambda: 'agent model lambda' in procs[2].output), output()


def test_bad_images_and_embeddings_are_dropped_and_nodes_stay_alive(rclpy_node, spin_until,
                                                                    start_node, checkpoint):
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.core.models.registry import model_fingerprint
    from qcoinf_ros.ros.messages import Embedding, embedding_msg
    from qcoinf_ros.ros.qos import reliable, SENSOR

    model = f'model:=git:{checkpoint}'
    decoder = start_node('edge_decoder_node', ['-p', model, '-p', 'max_new_tokens:=3'])
    agent = start_node('agent_encoder_node', ['-p', model])
    graph = Graph(rclpy_node, spin_until)
    node = rclpy_node
    images = node.create_publisher(Image, 'camera/image_raw', SENSOR)
    embeddings = node.create_publisher(Embedding, 'qcoinf/embedding', reliable(2))
    # this process subscribes to both topics too: wait for the nodes' subscriptions
    assert graph.spin_until(lambda: images.get_subscription_count() >= 2 and
                            embeddings.get_subscription_count() >= 2), agent.output
    model_id = model_fingerprint(checkpoint, 'git')
    good = np.zeros((17, 32), np.float32)
    bad = [  # each one in turn, once the node has logged the previous one; one per drop
        # class (a class's later drops are summarised, not logged one by one)
        (Embedding(model_id=model_id, bit_width=8, codec='jpeg', shape=[17, 32],
                   data=b'\xff\xd8'), 'Invalid embedding compression'),
        (embedding_msg(good, EmbeddingMeta('git:someoneelse', 8), Header()),
         'differs from this decoder model'),
        (embedding_msg(np.zeros((3, 32), np.float32), EmbeddingMeta(model_id, 8), Header()),
         'differs from the model embedding shape'),
    ]
    for msg, needle in bad:
        embeddings.publish(msg)
        assert graph.spin_until(lambda: needle in decoder.output, timeout=20), \
            decoder.output
    for image, needle in (
            (Image(height=2, width=2, encoding='rgb8', step=6, data=bytes(5)),
             'data length'),
            (Image(height=0, width=0, encoding='rgb8', step=0, data=b''), 'zero size'),
            (Image(height=1, width=1, encoding='yuv422', step=2, data=bytes(2)),
             'needs an even width'),
            (Image(height=1, width=1, encoding='yuv444', step=3, data=bytes(3)),
             'unsupported image encoding')):
        images.publish(image)
        assert graph.spin_until(lambda: needle in agent.output, timeout=20), agent.output
        graph.spin_until(lambda: False, timeout=0.1)  # below max_source_rate_hz (60)
    # a good embedding is still decoded: the decoder is alive and well
    embeddings.publish(embedding_msg(good, EmbeddingMeta(model_id, 8), Header()))
    assert graph.spin_until(lambda: graph.captions, timeout=30), decoder.output
    assert decoder.returncode is None and agent.returncode is None
    assert decoder.output.count('dropped embedding') == 3, decoder.output


def test_wrong_checkpoint_fails_configure_with_the_reason(start_node, tmp_path):
    proc = start_node('agent_encoder_node', ['-p', f'model:=git:{tmp_path}'])
    assert proc.wait(timeout=60) == 2, proc.output
    assert 'has no config.json' in proc.output
