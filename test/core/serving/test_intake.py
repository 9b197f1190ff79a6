"""Fair intake, stamp windows, image size limits, physical quantities (issue 14; no ROS)."""

import math
import threading

import pytest

from qcoinf_ros.core.imaging import check_image_size
from qcoinf_ros.core.serving import BatchQueue
from qcoinf_ros.core.serving.fair import FairQueue
from qcoinf_ros.core.serving.stamps import StampGuard
from qcoinf_ros.core.validation import physical_quantity_reason, require_physical

pytestmark = pytest.mark.check

S = 1_000_000_000


def test_a_flood_of_one_source_does_not_starve_another():
    """At 500 Hz of valid frames, 0 of the ~20 camera frames of that window got a caption."""
    queue = FairQueue(depth=2)
    taken = []
    for i in range(1000):
        queue.put('flood', ('flood', i))
        if i % 25 == 0:
            queue.put('camera', ('camera', i))
        if i % 5 == 0:  # the consumer keeps up with one in five
            taken.append(queue.take(timeout=0)[1])
    while (item := queue.take(timeout=0)) is not None:
        taken.append(item[1])
    camera = [i for source, i in taken if source == 'camera']
    assert camera == list(range(0, 1000, 25))  # every camera frame, in order
    assert len(queue) == 0 and queue.dropped > 700


def test_the_fair_queue_is_bounded_in_sources_and_depth_and_wakes_on_close():
    queue = FairQueue(depth=3, max_sources=4)
    for source in range(100):
        for i in range(10):
            queue.put(source, i)
    assert queue.sources == 4 and len(queue) == 12
    got = []
    empty = FairQueue(1, 1)
    worker = threading.Thread(target=lambda: got.append(empty.take()))
    worker.start()
    empty.close()
    worker.join(5)
    assert got == [None] and empty.closed
    with pytest.raises(ValueError, match='depth'):
        FairQueue(depth=0)


def test_the_batch_queue_keeps_each_frame_id_apart():
    queue = BatchQueue(1, depth=2, clock=iter(range(10_000)).__next__)
    queue.put(0, 'camera 0', 'camera')
    for i in range(50):
        queue.put(0, f'flood {i}', 'flood')
    batch = queue.take(max_batch=1, timeout=0)
    assert [p.item for p in batch] == ['camera 0']  # the oldest, not pushed out by the flood
    assert len(queue) == 2


@pytest.mark.parametrize('sec, nanosec, kind, needle', [
    (-1, 0, 'stamp_invalid', 'invalid stamp'), (5, S, 'stamp_invalid', 'invalid stamp'),
    (1, 0, 'stamp_past', 'in the past'), (2 ** 31 - 1, 0, 'stamp_future', 'in the future')])
def test_stamps_outside_the_windows_are_refused(sec, nanosec, kind, needle):
    guard = StampGuard(max_age=30.0, max_future=2.0)
    refusal = guard.check('a', sec, nanosec, now_ns=1_700_000_000 * S)
    assert refusal.kind == kind and needle in refusal.reason and str(refusal) == refusal.reason


def test_replays_are_refused_until_the_clock_goes_back():
    guard = StampGuard(max_age=30.0, max_future=2.0)
    now = 1_700_000_000 * S
    assert guard.check('a', 1_700_000_000, 0, now) is None
    assert 'a replayed message' in guard.check('a', 1_700_000_000, 0, now).reason
    assert guard.check('a', 1_699_999_999, 0, now) is None  # reordered, not a replay: taken
    assert guard.check('a', 1_699_999_999, 0, now).kind == 'replay'  # then a replay
    assert guard.check('b', 1_700_000_000, 0, now) is None  # another agent: its own order
    assert guard.check('a', 1_700_000_000, 1, now) is None
    # a bag started again under --clock: the clock itself went back 20 s
    assert guard.check('a', 1_699_999_980, 0, now - 20 * S) is None
    assert guard.check('a', 0, 0, now) is None  # not stamped: nothing to compare


def test_with_max_age_zero_any_age_and_repeats_pass():
    guard = StampGuard(max_age=0.0, max_future=0.0)
    for _ in range(2):
        assert guard.check('a', 1, 0, 1_700_000_000 * S) is None
    assert 'invalid' in guard.check('a', -1, 0, 0).reason


@pytest.mark.parametrize('width, height, needle', [
    (1, 32768, 'aspect ratio of 3.277e\\+04:1'), (8192, 1, 'aspect ratio of 8192:1'),
    (5000, 5000, 'more than 8294400'), (0, 5, 'zero size')])
def test_image_size_limits(width, height, needle):
    with pytest.raises(ValueError, match=needle):
        check_image_size(width, height)
    check_image_size(3840, 2160)
    check_image_size(96, 12)


@pytest.mark.parametrize('value, needle', [
    (1e-310, 'subnormal'), (5e-324, 'subnormal'), (10 ** 400, 'beyond the float range'),
    (math.nan, 'NaN'), (math.inf, 'finite'), (-1.0, '> 0'), (True, 'real number'),
    ('1', 'real number')])
def test_physical_quantities_refuse_what_passes_a_naive_check(value, needle):
    assert needle in physical_quantity_reason(value)
    with pytest.raises(ValueError, match=f'deadline .*{needle}'):
        require_physical('deadline', value)
    assert physical_quantity_reason(0.0, positive=False) is None
    assert physical_quantity_reason(2.5, high=2.0) == 'must be <= 2, got 2.5'


def test_a_sim_time_clock_that_has_not_started_judges_no_window():
    # a node on use_sim_time before its first /clock message reads time 0: a replayed bag's
    # first frame (stamped long ago by the system clock) passes instead of being "in the future"
    guard = StampGuard(max_age=30.0, max_future=2.0)
    assert guard.check('a', 1_700_000_000, 0, now_ns=0) is None
    assert 'invalid stamp' in guard.check('a', -1, 0, now_ns=0).reason  # a valid stamp only
    assert guard.check('a', 1_700_000_000, 0, now_ns=1).kind == 'stamp_future'  # once it runs


def test_a_forward_stamped_message_does_not_block_the_sources_next_ones():
    # one valid message stamped 1.9 s ahead (inside max_future) under the camera's key used to
    # refuse every camera stamp for 1.9 s ("not newer"); now only exact repeats are refused
    guard = StampGuard(max_age=30.0, max_future=2.0)
    now = 1_700_000_000 * S
    assert guard.check('camera', 1_700_000_001, 900_000_000, now) is None  # the forged one
    for k in range(1, 19):  # the camera's frames in the next 1.8 s
        assert guard.check('camera', *divmod(now + k * 10**8, S), now + k * 10**8) is None
    assert guard.check('camera', 1_700_000_001, 900_000_000, now + 2 * S).kind == 'replay'


def test_a_replay_is_caught_however_many_messages_came_between_and_memory_is_bounded():
    guard = StampGuard(max_age=30.0, max_future=2.0, max_stamps=100)
    now = 1_700_000_000 * S
    for k in range(1000):  # 1,000 frames in 10 s
        assert guard.check('camera', *divmod(now + k * 10**7, S), now + k * 10**7) is None
    assert guard.check('camera', 1_700_000_009, 900_000_000, now + 10 * S).kind == 'replay'
    assert len(guard._taken['camera'].stamps) <= 100  # bounded: older repeats rely on max_age
    # stamps older than max_age leave the set (and are refused as past anyway)
    assert guard.check('camera', 1_700_000_000, 0, now + 31 * S).kind == 'stamp_past'
