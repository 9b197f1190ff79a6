"""
Bags written by the real rosbag2 are read and played as rosbag2 does.

The bags are rosbag2's own test resources (``test/data/rosbag2_real/``, see the README
there): ``qcoinf bag info`` and ``qcoinf bag play`` on each, both storages, metadata
versions 4-8, single storage files, relative topic names, a non-CDR bag, a bag without
``metadata.yaml``; the player's messages counted by a real subscriber in another process.
Also what the package's own writer puts where rosbag2 reads it (``ros_distro``, MCAP
``topic_type_hash``) and the metadata rules by version.
"""

from collections import Counter
from pathlib import Path
import sqlite3
import struct
import subprocess
import sys

import pytest
import yaml

from qcoinf_ros.core import qos
from qcoinf_ros.core.bags import BagReader, TopicSpec, write_bag
from qcoinf_ros.core.bags.cdr import build, check_message, import_message_class, serialize
from qcoinf_ros.core.bags.metadata import INFINITE, parse_metadata, storage_paths

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT / 'test' / 'data' / 'rosbag2_real'
STRING = 'std_msgs/msg/String'

#: Per-topic message counts of each bag, as its storage holds them (for the .db3 files also
#: re-counted with SQL below; the MCAP counts are those of the bags' README).
EXPECTED = {
    'mcap_v4_talker': {'/topic': 10, '/rosout': 10, '/parameter_events': 0},
    'sqlite3_v4_talker': {'/topic': 10, '/rosout': 10, '/parameter_events': 0},
    'sqlite3_v5_convert_b': {'c_strings': 50, 'a_empty': 25},
    'mcap_v7_cdr_test': {'/test_topic': 3, '/array_topic': 4},
    'sqlite3_v8_topics_services': {'/test_topic1': 1, '/test_topic2': 1,
                                   '/test_service1/_service_event': 4,
                                   '/test_service2/_service_event': 4,
                                   '/events/write_split': 0},
    'sqlite3_v4_wrong_rmw': {'/test_topic': 3, '/array_topic': 4},
    'files/only_topics.mcap': {'/rosout': 0, '/parameter_events': 7,
                               '/events/write_split': 0},
    'files/topics_and_services.db3': {'/parameter_events': 7, '/events/write_split': 0,
                                      '/add_two_ints2/_service_event': 0,
                                      '/add_two_ints/_service_event': 6, '/rosout': 0},
    'mcap_nometa_multiple_files': {'/chatter': 3177},
}
VERSIONS = {'mcap_v4_talker': 4, 'sqlite3_v4_talker': 4, 'sqlite3_v5_convert_b': 5,
            'mcap_v7_cdr_test': 7, 'sqlite3_v8_topics_services': 8, 'sqlite3_v4_wrong_rmw': 4}


def _importable(msgtype: str) -> bool:
    try:
        import_message_class(msgtype)
        return True
    except ValueError:
        return False


def test_the_expected_counts_are_the_sqlite_storages_own():
    for name, expected in EXPECTED.items():
        path = REAL / name
        files = [path] if path.is_file() else sorted(path.glob('*.db3'))
        if not files or files[0].suffix != '.db3':
            continue
        counts = Counter()
        for db in files:
            with sqlite3.connect(f'file:{db}?mode=ro', uri=True) as con:
                counts.update(dict(con.execute(
                    'SELECT topics.name, COUNT(messages.id) FROM topics LEFT JOIN messages '
                    'ON messages.topic_id = topics.id GROUP BY topics.id')))
        assert dict(counts) == expected, name


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_info_lists_each_topic_with_the_storage_count(name, capsys):
    from qcoinf_ros.tools.cli import bag as cli

    path = REAL / name
    code = cli.main(['info', str(path)])
    out = capsys.readouterr().out
    reader = BagReader(path)
    with reader:
        assert {t.spec.name: t.count for t in reader.info.topics} == EXPECTED[name]
        got = Counter(m.topic for m in reader.messages())
    assert {k: v for k, v in EXPECTED[name].items() if v} == dict(got)
    assert reader.info.message_count == sum(EXPECTED[name].values())
    if name == 'mcap_nometa_multiple_files':  # a recording that needs `ros2 bag reindex`
        assert code == 1 and 'metadata.yaml is missing' in out and 'salvaging' in out
        assert len(reader.files) == 3
        return
    assert code == 0, out
    assert 'damaged' not in out
    for topic in EXPECTED[name]:
        assert topic[:15] in out  # rich may shorten a long name in its column
    if name in VERSIONS:
        assert reader.metadata.version == VERSIONS[name]
        assert f'metadata.yaml: version {VERSIONS[name]}' in out
        # metadata.yaml's counts agree with the storage's (no warning about them)
        assert all(t.listed == t.count for t in reader.info.topics)
    else:  # a single storage file: its own record of its topics, no metadata.yaml
        assert reader.metadata is None and reader.files == [path]
    if name == 'sqlite3_v4_wrong_rmw':
        assert 'cannot be replayed: serialization format wrong_format' in out
    else:
        assert reader.refusal is None
    # a type shared by two topics is warned about once
    assert len(set(reader.warnings)) == len(reader.warnings)


def test_relative_names_are_kept_as_recorded_and_found_by_either_name():
    reader = BagReader(REAL / 'sqlite3_v5_convert_b')
    with reader:
        assert [t.spec.name for t in reader.info.topics] == ['c_strings', 'a_empty']
        assert reader.info.topic('/a_empty') is reader.info.topic('a_empty')
        assert reader.info.topic('a_empty').qualified_name == '/a_empty'
        assert {m.topic for m in reader.messages(['/a_empty'])} == {'a_empty'}
        assert sum(1 for _ in reader.messages(['c_strings'])) == 50


def test_v4_qos_text_is_read_with_unknown_history_and_a_lifespan():
    from rosbags.interfaces import QosDurability, QosHistory, QosReliability, QosTime

    reader = BagReader(REAL / 'sqlite3_v4_talker')
    with reader:
        rosout = reader.info.topic('/rosout').spec.qos[0]
    assert rosout.history == QosHistory.UNKNOWN and rosout.depth == 0
    assert rosout.reliability == QosReliability.RELIABLE
    assert rosout.durability == QosDurability.TRANSIENT_LOCAL
    assert rosout.lifespan == QosTime(10, 0)
    offered, warnings = qos.playback_qos([rosout])
    assert offered == rosout._replace(history=QosHistory.KEEP_LAST, depth=10) and not warnings


# -- the metadata rules, by version ------------------------------------------------------------
def _metadata(version: int, qos_field: str, files: str = '[bag/x.db3]') -> str:
    return (f'rosbag2_bagfile_information:\n  version: {version}\n'
            f'  storage_identifier: sqlite3\n  relative_file_paths: {files}\n'
            '  duration: {nanoseconds: 5}\n  starting_time: {nanoseconds_since_epoch: 7}\n'
            '  message_count: 1\n  topics_with_message_count:\n'
            '    - topic_metadata: {name: /t, type: std_msgs/msg/String, '
            f'serialization_format: cdr, offered_qos_profiles: {qos_field}}}\n'
            '      message_count: 1\n')


FOXY = ('"- history: 3\\n  depth: 0\\n  reliability: 1\\n  durability: 2\\n  deadline:\\n'
        '    sec: 2147483647\\n    nsec: 4294967295\\n  lifespan:\\n    sec: 2147483647\\n'
        '    nsec: 2147483647\\n  liveliness: 1\\n  liveliness_lease_duration:\\n'
        '    sec: 9223372036\\n    nsec: 854775807\\n  avoid_ros_namespace_conventions: false"')
V9 = ('[{history: keep_last, depth: 4, reliability: best_effort, durability: volatile, '
      'deadline: {sec: 0, nsec: 0}, lifespan: {sec: 0, nsec: 0}, liveliness: automatic, '
      'liveliness_lease_duration: {sec: 0, nsec: 0}, avoid_ros_namespace_conventions: false}]')


def test_foxy_infinite_durations_become_infinite():
    (topic, count), = parse_metadata(_metadata(4, FOXY)).topics
    profile, = topic.qos
    assert profile.deadline == profile.lifespan == INFINITE
    assert profile.liveliness_lease_duration == INFINITE and count == 1


def test_v9_qos_as_a_list_of_words_and_v8_as_text_of_numbers():
    from rosbags.interfaces import QosHistory, QosReliability

    (topic, _), = parse_metadata(_metadata(9, V9)).topics
    assert topic.qos[0].reliability == QosReliability.BEST_EFFORT and topic.qos[0].depth == 4
    assert topic.qos[0].history == QosHistory.KEEP_LAST
    (topic, _), = parse_metadata(_metadata(8, FOXY)).topics
    assert topic.qos[0].reliability == QosReliability.RELIABLE


def test_file_paths_before_version_4_are_relative_to_the_bag_folders_parent(tmp_path):
    old = parse_metadata(_metadata(3, "''"))
    new = parse_metadata(_metadata(4, "''", '[x.db3]'))
    assert storage_paths(tmp_path / 'bag', old) == [tmp_path / 'bag' / 'x.db3']
    assert storage_paths(tmp_path / 'bag', new) == [tmp_path / 'bag' / 'x.db3']
    assert new.topics[0][0].qos == ()


@pytest.mark.parametrize('text, words', [
    (_metadata(10, "''"), 'version 10'),
    (_metadata(4, "''").replace('  message_count: 1\n  topics', '  topics'), 'message_count'),
    (_metadata(4, '[1, 2]'), 'offered_qos_profiles'),
    ('[' * 5000, 'not YAML'),
    ('a: 1\n', 'rosbag2_bagfile_information'),
])
def test_bad_metadata_is_a_value_error_naming_what(text, words):
    with pytest.raises(ValueError, match=words):
        parse_metadata(text)


# -- what the package writes ---------------------------------------------------------------------
@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_written_bags_carry_ros_distro_and_the_mcap_type_hash(tmp_path, monkeypatch, storage):
    from qcoinf_ros.core.bags.cdr import typestore

    monkeypatch.setenv('ROS_DISTRO', 'jazzy')
    bag = tmp_path / 'bag'
    write_bag(bag, [TopicSpec('chatter', STRING, (qos.reliable(10),))],
              [('/chatter', 5, serialize(build(STRING, data='hi'), STRING))], storage)
    reader = BagReader(bag)
    with reader:
        assert reader.metadata.ros_distro == 'jazzy' and reader.metadata.version == 9
        assert [t.spec.name for t in reader.info.topics] == ['/chatter']  # written qualified
        assert [m.topic for m in reader.messages(['chatter'])] == ['/chatter']
    want = typestore().hash_rihs01(STRING)
    assert want.startswith('RIHS01_') and reader.info.topics[0].type_hash == want
    storage_file = reader.files[0]
    raw = storage_file.read_bytes()
    if storage == 'mcap':
        # the channel's metadata map, as rosbag2_storage_mcap writes it (and reads it back)
        key = raw.index(b'\x0f\x00\x00\x00topic_type_hash')
        size, = struct.unpack('<I', raw[key + 19:key + 23])
        assert raw[key + 23:key + 23 + size].decode() == want
        assert b'ros_distro: jazzy' in raw or b'ros_distro: "jazzy"' in raw
    else:
        with sqlite3.connect(f'file:{storage_file}?mode=ro', uri=True) as con:
            text, = con.execute('SELECT metadata FROM metadata').fetchone()
        assert 'ros_distro: "jazzy"' in text
    monkeypatch.delenv('ROS_DISTRO')
    write_bag(tmp_path / 'plain', [TopicSpec('/c', STRING)], [], storage)
    assert BagReader(tmp_path / 'plain').metadata.ros_distro == ''


def test_the_sample_bag_storage_file_opens_on_its_own():
    path = ROOT / 'test' / 'data' / 'sample_bag' / 'sample_bag.mcap'
    reader = BagReader(path)
    with reader:
        assert reader.problems == [] and reader.metadata is None
        assert reader.info.message_count == sum(1 for _ in reader.messages()) > 0


# -- play, with a subscriber in this process -----------------------------------------------------
def _player(bag, env, *extra):
    return subprocess.Popen([sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(bag),
                             *extra], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _canonical(data: bytes, msgtype: str) -> bytes:
    return serialize(check_message(data, msgtype), msgtype)


@pytest.mark.ros
@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_play_delivers_every_message_of_importable_types(name, ros_env, rclpy_node,
                                                         spin_until, tmp_path):
    pytest.importorskip('std_msgs.msg', reason='ROS message packages missing')
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    path = REAL / name
    with BagReader(path) as reader:
        topics = {t.spec.name: t.spec.msgtype for t in reader.info.topics}
        refused = reader.refusal is not None
        damaged = bool(reader.problems)
        bag_messages = Counter((reader.info.topic(m.topic).qualified_name,
                                _canonical(m.data, m.msgtype))
                               for m in reader.messages() if _importable(m.msgtype))
    playable = {name: t for name, t in topics.items() if _importable(t)}
    received = Counter()
    for topic, msgtype in playable.items():
        full = '/' + topic.lstrip('/')
        rclpy_node.create_subscription(
            import_message_class(msgtype), full,
            lambda data, full=full, msgtype=msgtype: received.update(
                [(full, _canonical(data, msgtype))]),
            # deeper than any bag here: a reader history that fills while this test's thread
            # is busy drops the oldest samples (3082 of 3177 once on a loaded machine)
            QoSProfile(depth=10000, reliability=ReliabilityPolicy.RELIABLE), raw=True)
    # rosbag2's offer is keep_last 10: at four times the recorded rate a reader on a busy
    # machine fell behind and the writer dropped the oldest unacknowledged samples (3092 of
    # 3177 once, the player's "published 3177" notwithstanding); a user who needs every message
    # asks for a deeper writer, as ros2 bag play is asked
    overrides = tmp_path / 'qos.yaml'
    overrides.write_text(yaml.safe_dump({name: {'depth': 10000} for name in playable}))
    player = _player(path, ros_env, '--wait-for-subscribers', '20', '--rate', '4',
                     '--qos-profile-overrides-path', str(overrides))
    try:
        # other nodes' /rosout and /parameter_events traffic is not the bag's: only the bag's
        # messages are counted
        spin_until(lambda: player.poll() is not None and
                   all(received[k] >= v for k, v in bag_messages.items()), timeout=60)
        out, _ = player.communicate(timeout=30)
    finally:
        player.kill()
    delivered = Counter({k: min(received[k], v) for k, v in bag_messages.items()})
    assert delivered == bag_messages, out
    if refused:
        assert player.returncode == 2 and 'serialization format wrong_format' in out
        assert not bag_messages
        return
    for topic, msgtype in topics.items():
        if topic not in playable:
            assert out.count(f'not playing {topic}:') == 1, out
    if not bag_messages:  # no type of this bag is installed here: nothing was played
        assert player.returncode == 1 and 'published nothing' in out, out
        assert 'published 0' not in out
        return
    total = sum(bag_messages.values())
    assert f'published {total} messages' in out, out
    for topic in playable:
        assert f'{topic}: offering reliable, volatile, keep_last 10000 (QoS override)' in out, out
    assert player.returncode == (1 if damaged else 0), out


@pytest.mark.ros
def test_relative_names_are_published_in_the_root_namespace(ros_env, rclpy_node, spin_until,
                                                            tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from std_msgs.msg import String

    from qcoinf_ros.core.bags.cdr import typestore

    bag = tmp_path / 'relative'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        conn = writer.add_connection('chatter_rel', STRING, typestore=typestore(),
                                     offered_qos_profiles=[qos.reliable(10)])
        for k in range(5):
            writer.write(conn, 1_000 + k * 10_000_000,
                         serialize(build(STRING, data=f'm{k}'), STRING))
    got = []
    rclpy_node.create_subscription(String, '/chatter_rel', lambda m: got.append(m.data), 10)
    for topics in (['--topics', 'chatter_rel'], ['--topics', '/chatter_rel'], []):
        got.clear()
        player = _player(bag, ros_env, '--wait-for-subscribers', '20', *topics)
        try:
            spin_until(lambda: player.poll() is not None and len(got) >= 5, timeout=40)
            out, _ = player.communicate(timeout=30)
        finally:
            player.kill()
        assert player.returncode == 0 and got == [f'm{k}' for k in range(5)], out
        assert 'published 5 messages' in out and 'chatter_rel 5' in out


@pytest.mark.ros
def test_a_qos_override_replaces_the_recorded_offer(ros_env, rclpy_node, spin_until, tmp_path):
    # recorded volatile, overridden transient_local: the offer the graph sees is the override's
    from rclpy.qos import DurabilityPolicy
    from rosbags.rosbag2 import StoragePlugin, Writer

    from qcoinf_ros.core.bags.cdr import typestore

    bag = tmp_path / 'volatile'
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/latched', STRING, typestore=typestore(),
                                     offered_qos_profiles=[qos.reliable(10)])
        for k in range(3):
            writer.write(conn, 1_000 + k, serialize(build(STRING, data=f'm{k}'), STRING))
    overrides = tmp_path / 'qos.yaml'
    overrides.write_text('/latched: {durability: transient_local, depth: 5}\n'
                         '/not_in_bag: {depth: 1}\n')
    player = _player(bag, ros_env, '--qos-profile-overrides-path', str(overrides), '--delay',
                     '30')
    try:
        spin_until(lambda: rclpy_node.get_publishers_info_by_topic('/latched'), timeout=30)
        offer = rclpy_node.get_publishers_info_by_topic('/latched')[0].qos_profile
        assert offer.durability == DurabilityPolicy.TRANSIENT_LOCAL
    finally:
        player.kill()
        out, _ = player.communicate(timeout=30)
    assert '/latched: offering reliable, transient_local, keep_last 5 (QoS override)' in out, out
    assert 'QoS override for /not_in_bag: no such topic played' in out, out
    # a bad file: exit 2 naming the key, before anything is played
    overrides.write_text('/latched: {depht: 5}\n')
    done = subprocess.run([sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(bag),
                           '--qos-profile-overrides-path', str(overrides)], env=ros_env,
                          cwd=ROOT, text=True, capture_output=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "/latched: unexpected key 'depht'" in done.stdout + done.stderr


@pytest.mark.parametrize('mode', ['FILE', 'MESSAGE'])
@pytest.mark.parametrize('storage', ['MCAP', 'SQLITE3'])
def test_zstd_compressed_bags_are_read(tmp_path, mode, storage):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

    from qcoinf_ros.core.bags.cdr import typestore

    bag = tmp_path / 'zstd'
    writer = Writer(bag, version=9, storage_plugin=getattr(StoragePlugin, storage))
    writer.set_compression(getattr(CompressionMode, mode), CompressionFormat.ZSTD)
    sent = [serialize(build(STRING, data=f'z{k}' * 50), STRING) for k in range(20)]
    with writer:
        conn = writer.add_connection('/z', STRING, typestore=typestore())
        for k, data in enumerate(sent):
            writer.write(conn, 100 + k, data)
    reader = BagReader(bag)
    with reader:
        assert reader.metadata.compression_mode == mode.lower()
        assert [m.data for m in reader.messages()] == sent and reader.problems == []
        assert reader.info.topic('/z').count == 20


def test_fifos_are_not_read_as_bags(tmp_path):
    import os

    fifo = tmp_path / 'x.mcap'
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match='neither a bag folder nor a regular storage file'):
        BagReader(fifo)
    with pytest.raises(ValueError, match='not a rosbag2 bag'):  # the folder holds no file
        BagReader(tmp_path)
    os.mkfifo(tmp_path / 'metadata.yaml')
    with pytest.raises(ValueError, match='not a rosbag2 bag'):
        BagReader(tmp_path)


@pytest.mark.parametrize('listed', ['../outside/x.db3', '/OUTSIDE/x.db3', 'link.db3'])
def test_storage_files_outside_the_bag_folder_are_never_read(tmp_path, listed):
    """Regression: `..`, absolute paths or a symlink out made `play` publish foreign files."""
    import shutil

    outside = tmp_path / 'outside'
    shutil.copytree(REAL / 'sqlite3_v4_talker', outside)
    (outside / 'talker.db3').rename(outside / 'x.db3')
    bag = tmp_path / 'bag'
    bag.mkdir()
    (bag / 'link.db3').symlink_to(outside / 'x.db3')
    text = (REAL / 'sqlite3_v4_talker' / 'metadata.yaml').read_text()
    listed = listed.replace('/OUTSIDE', str(outside))
    (bag / 'metadata.yaml').write_text(text.replace('- talker.db3', f'- {listed}'))
    reader = BagReader(bag)
    with reader:
        assert list(reader.messages()) == [] and reader.files == []
    assert any('outside the bag folder: not read' in p.reason for p in reader.problems)


def test_metadata_bombs_are_bounded(tmp_path):
    import time

    from qcoinf_ros.core.bags.metadata import MAX_METADATA_BYTES

    bag = tmp_path / 'bag'
    bag.mkdir()
    shutil_text = (REAL / 'sqlite3_v4_talker' / 'metadata.yaml').read_text()
    (bag / 'talker.db3').write_bytes((REAL / 'sqlite3_v4_talker' / 'talker.db3').read_bytes())
    levels = ''.join(f'  - &l{i} [*l{i - 1}, *l{i - 1}, *l{i - 1}, *l{i - 1}]\n'
                     for i in range(1, 30))
    bomb = 'bomb:\n  - &l0 [a, b]\n' + levels
    (bag / 'metadata.yaml').write_text(
        bomb + shutil_text.replace('  relative_file_paths:\n    - talker.db3',
                                   '  relative_file_paths: *l29'))
    start = time.monotonic()
    reader = BagReader(bag)  # a list of lists, not of paths: salvaged, in bounded time
    assert time.monotonic() - start < 10
    assert any('relative_file_paths' in p.reason for p in reader.problems)
    assert sum(1 for _ in reader.messages()) == 20
    (bag / 'metadata.yaml').write_bytes(b'#' * (MAX_METADATA_BYTES + 1))
    reader = BagReader(bag)
    assert any('larger than' in p.reason for p in reader.problems)
