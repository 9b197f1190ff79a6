"""The player's schedule on a fake clock: timing, rate, fast, offset, loop, topic filter."""

import pytest

from qcoinf_ros.core import qos
from qcoinf_ros.core.bags import BagClock, BagReader, play, PlayOptions, TopicSpec, write_bag
from qcoinf_ros.core.bags.cdr import build, header, header_stamp_ns, serialize
from qcoinf_ros.core.bags.storage import write_chunk_crcs

T0 = 2_000_000_000_000
STRING, BATTERY = 'std_msgs/msg/String', 'sensor_msgs/msg/BatteryState'


class FakeClock:
    """A monotonic clock that only moves when the player sleeps."""

    def __init__(self):
        self.now = 100.0
        self.slept = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert 0 < seconds <= 0.05 + 1e-12  # sleeps in small slices (stop requests are seen)
        self.now += seconds
        self.slept += seconds


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    """Strings at 0, 1, 2, 3 s and batteries (with header) at 0.5, 1.5 s."""
    path = tmp_path_factory.mktemp('play') / 'bag'
    msgs = [('/chatter', T0 + k * 1_000_000_000,
             serialize(build(STRING, data=f'm{k}'), STRING)) for k in range(4)]
    msgs += [('/battery_state', T0 + 500_000_000 + k * 1_000_000_000,
              serialize(build(BATTERY, header=header(T0 + k, 'base'), percentage=0.5),
                        BATTERY)) for k in range(2)]
    write_bag(path, [TopicSpec('/chatter', STRING, (qos.reliable(),)),
                     TopicSpec('/battery_state', BATTERY, (qos.SENSOR,))],
              sorted(msgs, key=lambda m: m[1]))
    return path


def _play(bag, **options):
    clock = FakeClock()
    sent = []
    stats = play(BagReader(bag), lambda m: sent.append((round(clock() - 100.0, 6), m)),
                 PlayOptions(**options), clock=clock, sleep=clock.sleep,
                 now_ns=lambda: 7_000_000_000 + int(clock.now * 1e9))
    return sent, stats, clock


def test_original_timing(bag):
    sent, stats, _ = _play(bag)
    assert [(t, m.topic) for t, m in sent] == [
        (0.0, '/chatter'), (0.5, '/battery_state'), (1.0, '/chatter'),
        (1.5, '/battery_state'), (2.0, '/chatter'), (3.0, '/chatter')]
    assert stats.total == 6 and stats.loops == 1 and stats.published['/chatter'] == 4
    assert stats.wall_s == pytest.approx(3.0)


def test_rate_factor_scales_time(bag):
    sent, _, _ = _play(bag, rate=2.0)
    assert [t for t, _ in sent] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.5]
    sent, _, _ = _play(bag, rate=0.5)
    assert sent[-1][0] == pytest.approx(6.0)


def test_as_fast_as_possible_never_sleeps(bag):
    sent, stats, clock = _play(bag, fast=True)
    assert len(sent) == 6 and clock.slept == 0.0 and stats.wall_s == 0.0


def test_start_offset_and_topic_filter(bag):
    sent, _, _ = _play(bag, start_offset=1.2)
    assert [(t, m.topic) for t, m in sent] == [
        (pytest.approx(0.3), '/battery_state'), (pytest.approx(0.8), '/chatter'),
        (pytest.approx(1.8), '/chatter')]
    sent, _, _ = _play(bag, topics=('battery_state',))
    assert [t for t, _ in sent] == [0.5, 1.5]


def test_loop_replays_from_the_start_until_stopped(bag):
    clock = FakeClock()
    sent = []
    stats = play(BagReader(bag), sent.append, PlayOptions(loop=True, fast=True), clock=clock,
                 sleep=clock.sleep, should_stop=lambda: len(sent) >= 15)
    assert len(sent) == 15 and stats.stopped and stats.loops == 3
    assert [m.data for m in sent[:6]] == [m.data for m in sent[6:12]]


def test_restamp_sets_header_stamps_to_publication_time(bag):
    sent, _, _ = _play(bag, restamp=True)
    batteries = [(t, m) for t, m in sent if m.topic == '/battery_state']
    for t, m in batteries:
        assert header_stamp_ns(m.data, BATTERY) == 7_000_000_000 + int((100.0 + t) * 1e9)
    strings = [m for _, m in sent if m.topic == '/chatter']
    assert strings[0].data == serialize(build(STRING, data='m0'), STRING)  # no header: as is


def test_damaged_part_is_never_published(bag, tmp_path):
    import shutil

    damaged = tmp_path / 'damaged'
    shutil.copytree(bag, damaged)
    file = next(damaged.glob('*.mcap'))
    data = bytearray(file.read_bytes())
    at = data.find(serialize(build(STRING, data='m2'), STRING))
    data[at + 4:at + 8] = (99).to_bytes(4, 'little')
    file.write_bytes(bytes(data))
    # with the chunk's CRC (as rosbag2 and this package write it) the whole chunk is refused
    reader = BagReader(damaged)
    sent, checks = [], [0]

    def stop():
        checks[0] += 1
        return len(sent) >= 10 or checks[0] > 1000
    play(reader, sent.append, PlayOptions(fast=True, loop=True), should_stop=stop)
    assert sent == [] and any('CRC mismatch' in str(p) for p in reader.problems)
    # without it (a bag rosbags wrote) the damaged message alone is left out
    write_chunk_crcs(file, compute=False)
    reader = BagReader(damaged)
    sent = []
    play(reader, sent.append, PlayOptions(fast=True, loop=True),
         should_stop=lambda: len(sent) >= 10)
    assert b'm2' not in b''.join(m.data for m in sent)
    assert len(sent) == 10  # the rest is replayed, also on the second loop
    assert len(reader.problems) == 1 and 'not replayed' in str(reader.problems[0])


def test_options_are_validated():
    for bad in (0.0, -1.0, float('nan'), float('inf'), True):
        with pytest.raises(ValueError, match='rate'):
            PlayOptions(rate=bad)
    with pytest.raises(ValueError, match='start_offset'):
        PlayOptions(start_offset=-0.1)
    with pytest.raises(ValueError, match='topic name'):
        PlayOptions(topics=('bad topic',))


@pytest.mark.parametrize('rate', [1.0, 2.0])
def test_the_bag_clock_is_the_bag_time_being_played(bag, rate):
    # what ros2 bag play --clock publishes: the bag's start until playing, then bag time
    # advancing at the rate; each message goes out when the clock reaches its time
    clock = FakeClock()
    bag_clock = BagClock(T0, rate, clock=clock)
    seen = []
    assert bag_clock.now_ns() == T0  # held before the play starts
    clock.now += 5.0
    assert bag_clock.now_ns() == T0
    play(BagReader(bag), lambda m: seen.append((bag_clock.now_ns(), m.timestamp)),
         PlayOptions(rate=rate), clock=clock, sleep=clock.sleep, bag_clock=bag_clock)
    assert [t for t, _ in seen] == pytest.approx([ts for _, ts in seen], abs=1e3)
    clock.now += 1.0
    assert bag_clock.now_ns() == pytest.approx(T0 + 3_000_000_000 + rate * 1e9, abs=1e3)


def test_the_bag_clock_jumps_back_when_a_loop_starts_and_follows_fast_playback(bag):
    clock = FakeClock()
    bag_clock = BagClock(T0, clock=clock)
    seen = []

    def publish(message):
        seen.append(bag_clock.now_ns())
    play(BagReader(bag), publish, PlayOptions(loop=True), clock=clock, sleep=clock.sleep,
         should_stop=lambda: len(seen) >= 8, bag_clock=bag_clock)
    assert seen[6] == pytest.approx(T0, abs=1e3) and seen[5] > seen[6]  # loop 2 starts over
    seen.clear()
    play(BagReader(bag), publish, PlayOptions(fast=True), clock=clock, sleep=clock.sleep,
         bag_clock=bag_clock)
    assert seen == sorted(seen) and seen[-1] == T0 + 3_000_000_000  # the message's own time
