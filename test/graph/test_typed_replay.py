"""
An old bag (String/CompressedImage topics, before 0.2) and a new one replay into the graph alike.

``test/data/old_edge_bag`` holds an edge server's inputs as releases before 0.2 recorded them:
the agent's embeddings as ``sensor_msgs/CompressedImage`` (``qcoinf/embedding;v1`` payloads),
its model and cost as JSON in ``std_msgs/String``. ``qcoinf bag play`` converts them to
``qcoinf_ros/Embedding``, ``ModelInfo`` and ``AgentCost``; a bag of the same content written
with today's types (``qcoinf make sample-bag --edge typed``) is played as it is. An edge decoder
and a planner (processes) take either: the test's subscriber receives a typed ``Caption`` for
every embedding, stamped as its frame, and a ``FrequencyProfile`` planned with the bag's cost.
"""

from pathlib import Path
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

ROOT = Path(__file__).resolve().parents[2]
OLD_BAG = ROOT / 'test' / 'data' / 'old_edge_bag'


def _echo(msg, indent: str = '') -> str:
    """Return the message as ``ros2 topic echo`` prints it: its fields, one a line (YAML)."""
    lines = []
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, 'get_fields_and_field_types'):
            lines.append(f'{indent}{name}:\n{_echo(value, indent + "  ")}')
        else:
            lines.append(f'{indent}{name}: {list(value) if hasattr(value, "tolist") else value!r}')
    return '\n'.join(lines)


def _play(bag, env) -> str:
    out = subprocess.run([sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(bag),
                          '--wait-for-subscribers', '30', '--delay', '0.5'], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_an_old_and_a_new_bag_replay_into_the_graph(ros_env, rclpy_node, spin_until, start_node,
                                                    tmp_path):
    from qcoinf_ros.msg import Caption, FrequencyProfile
    from qcoinf_ros.ros.qos import LATCHED, reliable

    new_bag = tmp_path / 'new_edge_bag'
    made = subprocess.run([sys.executable, '-m', 'qcoinf_ros.tools.cli.make_sample_bag',
                           str(new_bag), '--edge', 'typed'], env=ros_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    assert 'qcoinf_ros/msg/Embedding' in made.stdout, made.stdout
    captions, plans = [], []
    rclpy_node.create_subscription(Caption, 'qcoinf/caption', captions.append, reliable(20))
    rclpy_node.create_subscription(FrequencyProfile, 'qcoinf/frequency_profile', plans.append,
                                   LATCHED)
    decoder = start_node('edge_decoder_node', ['-p', 'model:=tiny', '-p', 'threads:=1',
                                               '-p', 'max_stamp_age:=0.0'])
    results = {}
    for name, bag in (('old', OLD_BAG), ('new', new_bag)):
        captions.clear()
        with start_node('planner_node', []) as planner:
            out = _play(bag, ros_env)
            if name == 'old':
                assert 'recorded as sensor_msgs/msg/CompressedImage (before 0.2), played ' \
                    'as qcoinf_ros/msg/Embedding' in out, out
            assert spin_until(lambda: len(captions) >= 4, timeout=60), \
                decoder.output + planner.output
            assert spin_until(lambda: 'measured agent cost' in planner.output, timeout=30), \
                planner.output
        results[name] = list(captions)
        print(f'--- {name} bag {bag.name}: {out.strip().splitlines()[-1]}')
        print(f'{name} bag, first Caption on /qcoinf/caption:\n{_echo(captions[0])}')
    print(f'FrequencyProfile on /qcoinf/frequency_profile:\n{_echo(plans[-1])}')
    for name, got in results.items():
        stamps = sorted((c.header.stamp.sec, c.header.stamp.nanosec) for c in got)
        assert stamps == [(1767225600, 500_000_000), (1767225601, 300_000_000),
                          (1767225602, 100_000_000), (1767225602, 900_000_000)], (name, stamps)
        assert all(c.header.frame_id == 'camera' and c.origin == Caption.ORIGIN_EDGE and
                   c.bit_width == 8 and c.text and c.tokens > 0 and c.encode_s == 0.004
                   for c in got), (name, got)
    # same embeddings (int8 codes, kept exact by the conversion): the same captions
    assert [c.text for c in results['old']] == [c.text for c in results['new']]
    assert plans and plans[-1].bit_width >= 1 and plans[-1].f_hz > 0
