"""
``qcoinf bag record`` and ``play`` over real DDS.

A played bag recorded again is the same bag; a damaged bag is replayed without its damaged part.
"""

from pathlib import Path
import subprocess
import sys

import pytest

from qcoinf_ros.core import qos
from qcoinf_ros.core.bags import BagReader, TopicSpec, write_bag
from qcoinf_ros.core.bags.cdr import build, check_message, header, serialize

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

ROOT = Path(__file__).resolve().parents[3]
# (a String topic of no converted name: qcoinf bag play converts an old qcoinf/caption String)
T0 = 4_000_000_000_000
STRING, FLOAT, BATTERY = 'std_msgs/msg/String', 'std_msgs/msg/Float64', \
    'sensor_msgs/msg/BatteryState'


def _source_bag(path):
    """2 s: 20 strings (reliable), 5 batteries (best effort), 2 deadlines (latched)."""
    msgs = [('/qcoinf/notes', T0 + k * 100_000_000,
             serialize(build(STRING, data=f'caption {k:02d}'), STRING)) for k in range(20)]
    msgs += [('/battery_state', T0 + 50_000_000 + k * 400_000_000,
              serialize(build(BATTERY, header=header(T0 + k, 'base'), percentage=1 - k / 10),
                        BATTERY)) for k in range(5)]
    msgs += [('/qcoinf/deadline', T0 + 20_000_000 + k * 1_000_000_000,
              serialize(build(FLOAT, data=2.0 + k), FLOAT)) for k in range(2)]
    write_bag(path, [TopicSpec('/qcoinf/notes', STRING, (qos.reliable(10),)),
                     TopicSpec('/battery_state', BATTERY, (qos.SENSOR,)),
                     TopicSpec('/qcoinf/deadline', FLOAT, (qos.LATCHED,))],
              sorted(msgs, key=lambda m: m[1]))
    return sorted(msgs, key=lambda m: m[1])


def _canonical(data, msgtype):
    return serialize(check_message(data, msgtype), msgtype)


def _player(bag, env, *extra):
    return subprocess.Popen([sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(bag),
                             *extra], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_the_nodes_profiles_are_the_declared_ones_and_conversions_round_trip():
    from rclpy.qos import qos_profile_sensor_data

    from qcoinf_ros.ros import qos as ros_qos
    from qcoinf_ros.ros.qos import qos_from_rclpy, qos_to_rclpy

    assert ros_qos.SENSOR == qos_profile_sensor_data

    assert qos_from_rclpy(ros_qos.SENSOR) == qos.SENSOR
    assert qos_from_rclpy(ros_qos.LATCHED) == qos.LATCHED
    assert qos_from_rclpy(ros_qos.reliable(7)) == qos.reliable(7)
    for profile in (qos.SENSOR, qos.LATCHED, qos.reliable(3)):
        assert qos_from_rclpy(qos_to_rclpy(profile)) == profile


def test_played_bag_recorded_again_is_the_same_bag(ros_env, tmp_path):
    from qcoinf_ros.tools.cli import bag as cli

    source = _source_bag(tmp_path / 'source')
    player = _player(tmp_path / 'source', ros_env, '--wait-for-subscribers', '20',
                     '--delay', '1.0')
    try:
        code = cli.main(['record', str(tmp_path / 'copy'), 'qcoinf/notes', 'battery_state',
                         '/qcoinf/deadline', '--max-messages', str(len(source)),
                         '--duration', '40', '--storage', 'sqlite3'])
        out, _ = player.communicate(timeout=30)
    finally:
        player.kill()
    assert code == 0 and player.returncode == 0, out
    assert 'published 27 messages' in out
    reader = BagReader(tmp_path / 'copy')
    assert reader.info.storage == 'sqlite3' and reader.problems == []
    copy = list(reader.messages())
    types = {'/qcoinf/notes': STRING, '/battery_state': BATTERY, '/qcoinf/deadline': FLOAT}
    for topic, msgtype in types.items():
        # the same messages; DDS may pad a payload to 4 bytes, as rosbag2 records it too
        assert [_canonical(m.data, msgtype) for m in copy if m.topic == topic] == \
            [d for t, _, d in source if t == topic], topic
        assert all(0 <= len(m.data) - len(_canonical(m.data, msgtype)) <= 3
                   for m in copy if m.topic == topic)
    # bag times are the recorder's receive times: the 0.1 s spacing of the captions survives
    stamps = [m.timestamp for m in copy if m.topic == '/qcoinf/notes']
    gaps = [(b - a) * 1e-9 for a, b in zip(stamps, stamps[1:])]
    assert 0.05 < sorted(gaps)[len(gaps) // 2] < 0.15
    # the offered QoS recorded is what the player offered: the source bag's
    for topic, want in (('/qcoinf/notes', qos.reliable(10)), ('/battery_state', qos.SENSOR),
                        ('/qcoinf/deadline', qos.LATCHED)):
        offered = reader.info.topic(topic).spec.qos
        assert offered and all(q.reliability == want.reliability and
                               q.durability == want.durability for q in offered), topic


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_damaged_bag_is_replayed_without_its_damaged_part(ros_env, rclpy_node, spin_until,
                                                          tmp_path, storage):
    from std_msgs.msg import String

    from qcoinf_ros.ros.qos import reliable

    bag = tmp_path / 'bag'
    pad = '.' * 1500  # rows of ~1.5 kB: a few per SQLite page
    msgs = [('/qcoinf/notes', T0 + k * 50_000_000,
             serialize(build(STRING, data=f'caption {k:02d}{pad}'), STRING)) for k in range(20)]
    write_bag(bag, [TopicSpec('/qcoinf/notes', STRING, (qos.reliable(10),))], msgs, storage)
    file = next(p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3'))
    data = bytearray(file.read_bytes())
    at = data.find(msgs[7][2])
    data[at + 4:at + 8] = (9999).to_bytes(4, 'little')  # caption 07: a broken length field
    cut = data.find(msgs[15][2]) + 6  # the file ends inside caption 15 ...
    if storage == 'sqlite3':
        cut = cut // 4096 * 4096  # ... or, for SQLite, at the start of its page
    file.write_bytes(bytes(data[:cut]))
    intact = [m.data for m in BagReader(bag).messages()]
    expected = [check_message(d, STRING).data for d in intact]
    assert 10 <= len(expected) <= 14 and f'caption 07{pad}' not in expected
    assert not any(e.startswith(('caption 15', 'caption 16', 'caption 19')) for e in expected)
    got = []
    rclpy_node.create_subscription(String, 'qcoinf/notes', lambda m: got.append(m.data),
                                   reliable(20))
    player = _player(bag, ros_env, '--wait-for-subscribers', '20', '--delay', '0.5')
    try:
        assert spin_until(lambda: player.poll() is not None, timeout=40)
        spin_until(lambda: len(got) >= len(expected), timeout=3)
        out = player.stdout.read()
    finally:
        player.kill()
    assert player.returncode == 1, out
    assert got == expected, out  # all the intact messages, nothing from the damaged parts
    assert 'the bag is damaged' in out and 'truncated' in out
    assert 'not replayed' in out  # caption 07, named with its time


def test_play_and_record_refuse_bad_arguments(tmp_path, capsys):
    from qcoinf_ros.tools.cli import bag as cli

    assert cli.main(['play', str(tmp_path / 'none')]) == 2
    _source_bag(tmp_path / 'b')
    assert cli.main(['play', str(tmp_path / 'b'), '--topics', 'not/there']) == 2
    assert cli.main(['play', str(tmp_path / 'b'), '--rate', '0']) == 2
    assert cli.main(['record', str(tmp_path / 'r')]) == 2  # no topics, no --all
    assert cli.main(['record', str(tmp_path / 'b'), 'x']) == 2  # exists
    assert cli.main(['record', str(tmp_path / 'r'), 'x', '--duration', '-1']) == 2
    assert cli.main(['play', str(tmp_path / 'b'), '--delay', '-1']) == 2
    text = capsys.readouterr().out
    assert 'not in the bag: not/there' in text and 'rate must be' in text and 'exists' in text
