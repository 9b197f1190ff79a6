"""Bags written by the package: read back intact by rosbags; damaged bags salvaged, not trusted."""

from pathlib import Path
import shutil

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
import yaml

from qcoinf_ros.core import qos
from qcoinf_ros.core.bags import (
    BagReader, BagWriter, METADATA_VERSION, qualify, TopicSpec, write_bag)
from qcoinf_ros.core.bags.cdr import (
    build, check_message, has_header, header, header_stamp_ns, import_message_class,
    normalize_type, register_definition, restamp, serialize)
from qcoinf_ros.core.bags.storage import write_chunk_crcs

pytestmark = pytest.mark.check

IMAGE, STRING = 'sensor_msgs/msg/Image', 'std_msgs/msg/String'
T0 = 1_000_000_000_000


def _messages(n=40):
    """(topic, time, data): images of 24x32 rgb8 with distinct pixels and distinct strings."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        t = T0 + i * 100_000_000
        img = build(IMAGE, header=header(t, 'cam'), height=24, width=32, encoding='rgb8',
                    step=96, data=rng.integers(0, 256, 24 * 96, dtype=np.uint8))
        out.append(('/camera/image_raw', t, serialize(img, IMAGE)))
        out.append(('/qcoinf/caption', t + 1, serialize(build(STRING, data=f'caption {i:04d}'),
                                                        STRING)))
    return out


TOPICS = [TopicSpec('camera/image_raw', IMAGE, (qos.SENSOR,)),
          TopicSpec('/qcoinf/caption', STRING, (qos.reliable(10),))]


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    """One intact bag per storage, with the messages written."""
    root = tmp_path_factory.mktemp('bags')
    messages = _messages()
    for storage in ('mcap', 'sqlite3'):
        write_bag(root / storage, TOPICS, messages, storage)
    return root, messages


def _copy(bags, storage, tmp_path) -> tuple[Path, Path]:
    root, _ = bags
    dst = tmp_path / storage
    shutil.copytree(root / storage, dst)
    return dst, next(p for p in dst.iterdir() if p.suffix in ('.mcap', '.db3'))


def _read(path):
    reader = BagReader(path)
    got = [(m.topic, m.timestamp, m.data) for m in reader.messages()]
    return reader, got


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_written_bag_is_read_back_by_rosbags_with_every_message_intact(bags, storage):
    root, messages = bags
    with Reader(root / storage) as reader:  # plain rosbags, not the package's reader
        conns = {c.topic: c for c in reader.connections}
        assert set(conns) == {'/camera/image_raw', '/qcoinf/caption'}
        assert conns['/camera/image_raw'].msgtype == IMAGE
        assert conns['/camera/image_raw'].ext.offered_qos_profiles == [qos.SENSOR]
        assert conns['/qcoinf/caption'].ext.offered_qos_profiles == [qos.reliable(10)]
        assert conns['/qcoinf/caption'].digest.startswith('RIHS01_')
        got = [(c.topic, t, bytes(d)) for c, t, d in reader.messages()]
    assert got == messages
    meta = yaml.safe_load((root / storage / 'metadata.yaml').read_text())
    info = meta['rosbag2_bagfile_information']
    assert info['version'] == METADATA_VERSION == 9
    assert info['storage_identifier'] == storage and info['message_count'] == len(messages)
    topic = {t['topic_metadata']['name']: t for t in info['topics_with_message_count']}
    assert topic['/qcoinf/caption']['message_count'] == 40
    offered = topic['/camera/image_raw']['topic_metadata']['offered_qos_profiles']
    assert offered[0]['reliability'] == 'best_effort' and offered[0]['depth'] == 5
    assert info['custom_data']['qcoinf_ros.version']


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_package_reader_reads_intact_bag_without_problems(bags, storage):
    root, messages = bags
    reader, got = _read(root / storage)
    assert got == messages and reader.problems == []
    assert reader.info.message_count == 80 and reader.info.storage == storage
    assert reader.info.start_ns == T0 and reader.info.end_ns == messages[-1][1]
    assert [m.topic for m in reader.messages(['qcoinf/caption'])] == ['/qcoinf/caption'] * 40
    later = list(reader.messages(start_ns=T0 + 3_000_000_000))
    assert len(later) == 20 and later[0].timestamp == T0 + 3_000_000_000


def _assert_salvaged(got, messages, missing_at_least=1):
    """Everything salvaged is an original message, in time order; some are missing."""
    assert set(got) <= set(messages)
    assert [m[1] for m in got] == sorted(m[1] for m in got)
    assert len(got) <= len(messages) - missing_at_least


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_truncated_bag_gives_a_clear_error_and_the_intact_first_part(bags, storage, tmp_path):
    _, messages = bags
    path, file = _copy(bags, storage, tmp_path)
    data = file.read_bytes()
    file.write_bytes(data[:len(data) // 2])
    reader, got = _read(path)
    text = '\n'.join(str(p) for p in reader.problems)
    assert 'cannot be opened normally' in text and 'truncated' in text, text
    _assert_salvaged(got, messages)
    assert len(got) >= 10, 'the first half should be salvaged'
    # the salvaged part is a prefix of the caption stream: nothing after the damage appears
    captions = [m for m in got if m[0] == '/qcoinf/caption']
    assert captions == [m for m in messages if m[0] == '/qcoinf/caption'][:len(captions)]


def test_mcap_damaged_message_record_loses_only_that_message(bags, tmp_path):
    """Without chunk CRCs (a bag rosbags wrote), the salvage goes message by message."""
    _, messages = bags
    path, file = _copy(bags, 'mcap', tmp_path)
    assert write_chunk_crcs(file, compute=False) == 1
    data = bytearray(file.read_bytes())
    target = serialize(build(STRING, data='caption 0017'), STRING)
    at = data.find(target)
    assert at > 31
    data[at - 31:at - 22] = b'\xff' * 9  # the record's opcode and length
    file.write_bytes(bytes(data))
    reader, got = _read(path)
    assert reader.problems, 'the damage must be reported'
    lost = [m for m in messages if m not in got]
    assert [m[2] for m in lost] == [target]


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_corrupted_payload_is_reported_and_not_yielded(bags, storage, tmp_path):
    _, messages = bags
    path, file = _copy(bags, storage, tmp_path)
    if storage == 'mcap':
        write_chunk_crcs(file, compute=False)  # else the CRC catches it first (test below)
    data = bytearray(file.read_bytes())
    target = serialize(build(STRING, data='caption 0005'), STRING)
    at = data.find(target)
    data[at + 4:at + 8] = (200).to_bytes(4, 'little')  # the string length field
    file.write_bytes(bytes(data))
    reader, got = _read(path)
    assert [m[2] for m in messages if m not in got] == [target]
    assert any('/qcoinf/caption' in str(p) and 'not replayed' in str(p)
               for p in reader.problems), reader.problems


def test_mcap_chunks_carry_crcs_and_a_flipped_byte_is_detected(bags, tmp_path):
    """Issue 14: the writer left every chunk CRC at 0, so flipped bytes went undetected."""
    _, messages = bags
    path, file = _copy(bags, 'mcap', tmp_path)
    raw = bytearray(file.read_bytes())
    at = raw.index(b'\x06', 8)  # the first chunk record (schemas and channels are inside)
    crc = int.from_bytes(raw[at + 9 + 24:at + 9 + 28], 'little')
    assert crc != 0
    reader, got = _read(path)
    assert not reader.problems and got == messages
    with Reader(path) as rosbags_reader:  # rosbags checks the CRCs too
        assert [m[2] for m in rosbags_reader.messages()] == [m[2] for m in messages]
    target = serialize(build(STRING, data='caption 0017'), STRING)
    hit = raw.index(target)
    raw[hit + 12] ^= 0x01  # 'caption 0017' -> 'caption 0016': still a valid message
    file.write_bytes(bytes(raw))
    reader, got = _read(path)
    assert any('CRC mismatch' in str(p) for p in reader.problems), reader.problems
    assert target not in [m[2] for m in got]  # the damaged chunk is not replayed


def test_sqlite3_damaged_page_loses_its_rows_and_the_rest_is_read(bags, tmp_path):
    _, messages = bags
    path, file = _copy(bags, 'sqlite3', tmp_path)
    data = bytearray(file.read_bytes())
    page = int.from_bytes(data[16:18], 'big')
    at = data.find(serialize(build(STRING, data='caption 0020'), STRING))
    start = at // page * page
    data[start:start + page] = bytes(page)
    file.write_bytes(bytes(data))
    reader, got = _read(path)
    assert any('unreadable' in str(p) for p in reader.problems), reader.problems
    _assert_salvaged(got, messages)
    assert len(got) >= len(messages) - 10


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_missing_metadata_after_a_crash_is_salvaged(bags, storage, tmp_path):
    _, messages = bags
    path, _ = _copy(bags, storage, tmp_path)
    (path / 'metadata.yaml').unlink()
    reader, got = _read(path)
    assert got == messages
    assert 'metadata.yaml is missing' in str(reader.problems[0])
    assert reader.info.topic('/camera/image_raw').spec.qos == (qos.SENSOR,)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_destroyed_header_gives_a_clear_error_and_nothing(bags, storage, tmp_path):
    path, file = _copy(bags, storage, tmp_path)
    data = bytearray(file.read_bytes())
    data[:64] = bytes(64)
    file.write_bytes(bytes(data))
    reader, got = _read(path)
    assert got == []
    assert any('not an MCAP file' in str(p) or 'not an SQLite 3 database' in str(p)
               for p in reader.problems), reader.problems


def test_not_a_bag_raises(tmp_path):
    with pytest.raises(ValueError, match='no bag'):
        BagReader(tmp_path / 'absent')
    with pytest.raises(ValueError, match='not a rosbag2 bag'):
        BagReader(tmp_path)


def test_writer_refuses_overwrite_unknown_types_and_unknown_topics(tmp_path):
    with pytest.raises(ValueError, match='storage'):
        BagWriter(tmp_path / 'x', 'rosbag1')
    with pytest.raises(ValueError, match='exists'):
        BagWriter(tmp_path)
    with BagWriter(tmp_path / 'bag') as writer:
        with pytest.raises(ValueError, match='not a ROS 2 [a-z]+ standard type'):
            writer.add_topic(TopicSpec('/x', 'my_pkg/msg/Custom'))
        with pytest.raises(ValueError, match='not added'):
            writer.write('/y', 0, b'')
        writer.add_topic(TopicSpec('/x', STRING))
        with pytest.raises(ValueError, match='already'):
            writer.add_topic(TopicSpec('/x', STRING))
        with pytest.raises(ValueError, match='timestamp'):
            writer.write('/x', -1, b'')


def test_topic_names_and_types_are_validated():
    assert qualify('qcoinf/caption') == '/qcoinf/caption'
    assert qualify('qcoinf/caption', 'robot1') == '/robot1/qcoinf/caption'
    assert qualify('/abs') == '/abs'
    for bad in ('', 'a b', '1abc', '/a//b', None):
        with pytest.raises(ValueError, match='topic name'):
            qualify(bad)
    assert normalize_type('std_msgs/String') == STRING
    with pytest.raises(ValueError, match='type name'):
        normalize_type('String')
    with pytest.raises(ValueError, match='Qos'):
        TopicSpec('/x', STRING, ('reliable',))


def test_cdr_helpers_restamp_check_and_import():
    data = serialize(build(IMAGE, header=header(5_000_000_007, 'cam'), encoding='rgb8'), IMAGE)
    assert has_header(IMAGE) and not has_header(STRING)
    assert header_stamp_ns(data, IMAGE) == 5_000_000_007
    moved = restamp(data, IMAGE, 9_123_456_789)
    assert header_stamp_ns(moved, IMAGE) == 9_123_456_789 and len(moved) == len(data)
    assert check_message(moved, IMAGE).header.frame_id == 'cam'
    assert restamp(b'\x00\x01\x00\x00abc', STRING, 1) == b'\x00\x01\x00\x00abc'
    with pytest.raises(ValueError, match='invalid'):
        check_message(data[:-3], IMAGE)
    with pytest.raises(ValueError, match='unknown'):
        check_message(data, 'my_pkg/msg/Nope')
    with pytest.raises(ValueError, match='field'):
        build(STRING, text='x')
    pytest.importorskip('std_msgs.msg', reason='ROS message packages missing')
    assert import_message_class(STRING).__name__ == 'String'
    with pytest.raises(ValueError, match='not importable'):
        import_message_class('no_such_pkg/msg/Thing')


def test_a_type_missing_from_the_typestore_is_registered_from_its_definition():
    assert register_definition('qcoinf_test/msg/Pair', 'int32 a\nstring b\n')
    data = serialize(build('qcoinf_test/msg/Pair', a=3, b='x'), 'qcoinf_test/msg/Pair')
    assert check_message(data, 'qcoinf_test/msg/Pair').a == 3
    assert not register_definition('qcoinf_test/msg/Broken', 'uint8[ x')
    assert not register_definition('qcoinf_test/msg/Empty', '')


def test_playback_qos_follows_rosbag2_rules():
    from rosbags.interfaces import QosDurability, QosHistory, QosLiveliness, QosReliability
    from rosbags.interfaces import QosTime

    sub, warnings = qos.subscription_qos([qos.LATCHED, qos.LATCHED])
    assert sub.reliability == QosReliability.RELIABLE
    assert sub.durability == QosDurability.TRANSIENT_LOCAL and not warnings
    sub, warnings = qos.subscription_qos([qos.LATCHED, qos.SENSOR])
    assert sub.reliability == QosReliability.BEST_EFFORT
    assert sub.durability == QosDurability.VOLATILE and len(warnings) == 2
    # the player (Rosbag2QoS::adapt_offer_to_recorded_offers): the recorded profile with
    # keep_last 10; its deadline, lifespan and liveliness kept
    play, warnings = qos.playback_qos([qos.SENSOR])
    assert play == qos.SENSOR._replace(depth=10) and not warnings
    lifespan = qos.LATCHED._replace(history=QosHistory.UNKNOWN, depth=0,
                                    lifespan=QosTime(10, 0), deadline=QosTime(1, 5),
                                    liveliness=QosLiveliness.AUTOMATIC,
                                    liveliness_lease_duration=QosTime(2, 0))
    play, warnings = qos.playback_qos([lifespan])
    assert play == lifespan._replace(history=QosHistory.KEEP_LAST, depth=10) and not warnings
    # offers that differ only in history or lifespan are "effectively the same"
    play, warnings = qos.playback_qos([lifespan, lifespan._replace(lifespan=QosTime(0, 0),
                                                                   depth=3)])
    assert play == lifespan._replace(history=QosHistory.KEEP_LAST, depth=10) and not warnings
    # any other difference: the whole default profile, not one policy at a time
    for other in (qos.SENSOR, lifespan._replace(deadline=QosTime(0, 0)),
                  lifespan._replace(liveliness=QosLiveliness.MANUAL_BY_TOPIC)):
        play, warnings = qos.playback_qos([lifespan, other])
        assert play == qos.DEFAULT and len(warnings) == 1
    assert qos.playback_qos([]) == (qos.DEFAULT, [])
    assert qos.DEFAULT == qos.reliable(10) and qos.DEFAULT.deadline == QosTime(0, 0)
    assert qos.describe(qos.LATCHED) == 'reliable, transient_local, keep_last 1'


def test_qos_overrides_are_read_as_ros2_bag_reads_them():
    from rosbags.interfaces import QosDurability, QosHistory, QosLiveliness, QosReliability
    from rosbags.interfaces import QosTime

    text = """
    /chatter: {depth: 1000}
    /scan:
      history: keep_all
      reliability: best_effort
      durability: TRANSIENT_LOCAL
      deadline: {sec: 1, nsec: 1500000000}
      lifespan: {}
      liveliness: manual_by_topic
      avoid_ros_namespace_conventions: true
    """
    got = qos.qos_overrides(yaml.safe_load(text))
    # depth alone: keep_last; every policy not given is the ROS 2 default profile's
    assert got['/chatter'] == qos.DEFAULT._replace(depth=1000)
    scan = got['/scan']
    assert (scan.history, scan.reliability, scan.durability, scan.liveliness) == (
        QosHistory.KEEP_ALL, QosReliability.BEST_EFFORT, QosDurability.TRANSIENT_LOCAL,
        QosLiveliness.MANUAL_BY_TOPIC)
    assert scan.depth == 10 and scan.deadline == QosTime(2, 500_000_000)  # normalized
    assert scan.lifespan == QosTime(0, 0) and scan.avoid_ros_namespace_conventions is True
    assert qos.qos_overrides(None) == {}
    # what ros2bag (and rclpy's QoSProfile) refuse, refused with the key or value named
    for bad, words in (({'/a': {'depht': 3}}, "unexpected key 'depht'"),
                       ({'/a': {'reliability': 'sure'}}, 'reliability must be one of'),
                       ({'/a': {'depth': -1}}, 'depth must be an integer >= 0'),
                       ({'/a': {'depth': 1, 'deadline': {'sec': 1}}}, 'both seconds'),
                       ({'/a': {'depth': 1, 'lifespan': {'sec': -2, 'nsec': 0}}},
                        'may not be negative'),
                       ({'/a': {'reliability': 'reliable'}}, 'needs history and/or depth'),
                       ({'/a': {'history': 'keep_last'}}, 'keep_last needs a depth'),
                       ({'/a': {'liveliness': 'manual_by_node', 'depth': 1}},
                        'liveliness must be one of'),
                       (['/a'], 'must map topic names')):
        with pytest.raises(ValueError, match=words):
            qos.qos_overrides(bad)
    with pytest.raises(ValueError, match='^/a: '):  # the topic is named
        qos.qos_overrides({'/a': {'depth': 'ten'}})


def test_every_chunk_of_a_multi_chunk_bag_has_its_crc(tmp_path):
    """Chunks close at 1 MB: each one's CRC is filled in while writing (rosbags checks them)."""
    import zlib

    texts = [f'{i:04d}' + 'x' * 50_000 for i in range(100)]
    messages = [('/qcoinf/caption', T0 + i, serialize(build(STRING, data=text), STRING))
                for i, text in enumerate(texts)]
    write_bag(tmp_path / 'big', TOPICS, messages, 'mcap')
    file = next((tmp_path / 'big').glob('*.mcap'))
    raw = file.read_bytes()
    crcs, at = [], 8
    while at < len(raw):
        op, length = raw[at], int.from_bytes(raw[at + 1:at + 9], 'little')
        if op == 0x06:
            body = raw[at + 9:at + 9 + length]
            n = int.from_bytes(body[28:32], 'little')
            assert body[32:32 + n] == b''  # uncompressed
            crcs.append((int.from_bytes(body[24:28], 'little'), zlib.crc32(body[32 + n + 8:])))
        if op in (0x0F, 0x02):
            break
        at += 9 + length
    assert len(crcs) >= 4 and all(stored == computed != 0 for stored, computed in crcs), crcs
    with Reader(tmp_path / 'big') as reader:
        assert [m[2] for m in reader.messages()] == [m[2] for m in messages]
