"""
A bag recorded on one ROS 2 distribution replays on the other.

``test/data/cross_distro/`` holds two recordings of the sample bag made with ``qcoinf bag
record`` over real DDS: one on the Jazzy wheels (SQLite 3), one on the Kilted wheels (MCAP); see
the README there. CI runs the suite on both distributions, so each bag is replayed on the
distribution it was recorded on and on the other one: its ``ros_distro`` is read, every message
is valid CDR for the running distribution's typestore, and a subscriber in this process
receives every message ``qcoinf bag play`` publishes from another process.
"""

from collections import Counter
from pathlib import Path
import subprocess
import sys

import pytest

from qcoinf_ros.core.bags import BagReader
from qcoinf_ros.core.bags.cdr import check_message, distro, import_message_class, serialize

ROOT = Path(__file__).resolve().parents[3]
BAGS = {'jazzy': ROOT / 'test' / 'data' / 'cross_distro' / 'recorded_on_jazzy',
        'kilted': ROOT / 'test' / 'data' / 'cross_distro' / 'recorded_on_kilted'}
COUNTS = {'/camera/image_raw': 10, '/battery_state': 10, '/qcoinf/deadline': 3}


def _canonical(data: bytes, msgtype: str) -> bytes:
    return serialize(check_message(data, msgtype), msgtype)


@pytest.mark.parametrize('recorded_on', sorted(BAGS))
def test_the_recording_says_where_it_was_made_and_reads_here(recorded_on):
    reader = BagReader(BAGS[recorded_on])
    with reader:
        assert reader.metadata.ros_distro == recorded_on
        assert reader.storage == ('sqlite3' if recorded_on == 'jazzy' else 'mcap')
        assert {t.spec.name: t.count for t in reader.info.topics} == COUNTS
        messages = list(reader.messages())  # each checked against this distribution's types
    assert reader.problems == [] and len(messages) == sum(COUNTS.values())
    assert distro() in ('jazzy', 'kilted')


@pytest.mark.ros
@pytest.mark.parametrize('recorded_on', sorted(BAGS))
def test_a_bag_recorded_on_either_distribution_replays_here(recorded_on, ros_env, rclpy_node,
                                                            spin_until):
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    path = BAGS[recorded_on]
    with BagReader(path) as reader:
        expected = Counter((m.topic, _canonical(m.data, m.msgtype)) for m in reader.messages())
        types = {t.spec.name: t.spec.msgtype for t in reader.info.topics}
    received = Counter()
    for topic, msgtype in types.items():
        rclpy_node.create_subscription(
            import_message_class(msgtype), topic,
            lambda data, topic=topic, msgtype=msgtype: received.update(
                [(topic, _canonical(data, msgtype))]),
            QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT), raw=True)
    player = subprocess.Popen([sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(path),
                               '--wait-for-subscribers', '20', '--rate', '4'], env=ros_env,
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        spin_until(lambda: player.poll() is not None and received == expected, timeout=60)
        out, _ = player.communicate(timeout=30)
    finally:
        player.kill()
    assert player.returncode == 0, out
    assert received == expected, out
