"""The link state machine (issue 27, item 1): SPLIT / SUSPECT / LOST with an injected clock."""

import pytest

from qcoinf_ros.core.failover import LinkMonitor, LOST, SPLIT, SUSPECT

pytestmark = pytest.mark.check


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self, dt: float = 0.0) -> float:
        self.t += dt
        return self.t


def _split(monitor: LinkMonitor, clock: Clock, frames: int = 3) -> int:
    """Bring a fresh monitor to SPLIT with ``frames`` prompt answers; return the next frame."""
    monitor.decoders(1, clock())
    for i in range(frames):
        monitor.sent(i, clock(0.2))
        monitor.answered(i, clock(0.1))
    assert monitor.state == SPLIT, monitor.snapshot()
    return frames


def test_it_starts_lost_and_needs_a_decoder_and_answers_to_split():
    clock = Clock()
    monitor = LinkMonitor(recover_after_answers=3, now=clock())
    assert (monitor.state, monitor.reason) == (LOST, 'no answer from a decoder yet')
    # answers without any decoder matched: no recovery (a decoder count of 0 is certain)
    monitor.decoders(0, clock())
    for i in range(5):
        monitor.sent(i, clock(0.2))
        assert monitor.answered(i, clock(0.1)) == []
    assert monitor.state == LOST
    monitor.decoders(1, clock())
    monitor.sent(10, clock(0.2))
    for i in (11, 12):  # another frame always in flight: answers one by one
        monitor.sent(i, clock(0.01))
        assert monitor.answered(i - 1, clock(0.1)) == [] and monitor.state == LOST
    monitor.sent(13, clock(0.2))
    [change] = monitor.answered(12, clock(0.1))
    assert (change.old, change.new) == (LOST, SPLIT) and '3 answers in a row' in change.reason


def test_jitter_below_the_timeout_is_no_alarm():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=1, answer_timeout=0.5, now=clock())
    frame = _split(monitor, clock)
    for i, rtt in enumerate([0.1, 0.49, 0.05, 0.499, 0.3] * 20):
        monitor.sent(frame + i, clock(0.2))
        monitor.tick(clock(rtt - 0.001))
        assert monitor.tick(clock(0.0005)) == []
        assert monitor.answered(frame + i, clock(0.0004)) == []
        assert monitor.state == SPLIT
    snap = monitor.snapshot()
    assert snap.missed_total == 0 and snap.in_flight == 0 and snap.answered == 103
    assert len(monitor.history) == 1  # only the first LOST -> SPLIT


def test_loss_after_exactly_n_misses_through_suspect():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=4, answer_timeout=0.5, now=clock())
    frame = _split(monitor, clock)
    for i in range(4):  # four frames go out, none answered
        monitor.sent(frame + i, clock(0.1))
    assert monitor.tick(clock(0.15)) == []  # the first is 0.45 s old
    changes = monitor.tick(clock(0.1))  # only the first is overdue now (0.55 s)
    assert [(c.old, c.new) for c in changes] == [(SPLIT, SUSPECT)]
    assert monitor.snapshot().missed == 1
    assert monitor.tick(clock(0.1)) == [] and monitor.snapshot().missed == 2
    assert monitor.tick(clock(0.1)) == [] and monitor.state == SUSPECT  # 3 misses
    [change] = monitor.tick(clock(0.1))  # the 4th
    assert (change.old, change.new, change.at) == (SUSPECT, LOST, clock())
    assert change.reason.startswith('4 answers missed in a row')
    assert monitor.since == clock() and monitor.snapshot().in_flight == 0


def test_a_good_answer_resets_the_misses_so_scattered_misses_never_lose():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=2, answer_timeout=0.5, now=clock())
    frame = _split(monitor, clock)
    for k in range(10):  # miss, answer, miss, answer...: never 2 in a row
        monitor.sent(('lost', k), clock(0.1))
        monitor.sent(frame + k, clock(0.1))
        monitor.answered(frame + k, clock(0.1))
        monitor.tick(clock(0.45))
        assert monitor.state == SUSPECT
        monitor.sent(('ok', k), clock(0.1))
        monitor.answered(('ok', k), clock(0.1))
        assert monitor.state == SPLIT
    assert monitor.snapshot().missed_total == 10


def test_an_answer_after_the_timeout_is_a_miss_and_a_late_answer_changes_nothing():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=2, answer_timeout=0.5, now=clock())
    frame = _split(monitor, clock)
    monitor.sent(frame, clock(0.1))
    [change] = monitor.answered(frame, clock(0.7))  # arrives before a tick saw it overdue
    assert change.new == SUSPECT and 'answer after 0.700 s' in change.reason
    monitor.sent(frame + 1, clock(0.1))
    monitor.tick(clock(0.6))
    assert monitor.state == LOST
    assert monitor.answered(frame + 1, clock(0.1)) == []  # already missed: late
    assert monitor.snapshot().late == 1 and monitor.state == LOST


def test_the_deadline_replaces_answer_timeout():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=1, answer_timeout=5.0, now=clock())
    frame = _split(monitor, clock)
    monitor.set_deadline(0.2)
    assert monitor.timeout == 0.2
    monitor.sent(frame, clock(0.1))
    assert monitor.tick(clock(0.25))[0].new == LOST
    monitor.set_deadline(None)
    assert monitor.timeout == 5.0


def test_recovery_needs_m_answers_in_a_row_a_miss_restarts_the_count():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=1, recover_after_answers=3, answer_timeout=0.5,
                          now=clock())
    frame = _split(monitor, clock)
    monitor.sent(frame, clock(0.1))
    monitor.tick(clock(1.0))
    assert monitor.state == LOST
    for i in range(1, 3):  # two good answers, with a frame still in flight
        monitor.sent(('pending', i), clock(0.01))
        monitor.sent(frame + i, clock(0.01))
        monitor.answered(frame + i, clock(0.1))
        monitor.tick(clock(0.45))  # the pending one is missed: the count starts again
        assert monitor.state == LOST and monitor.snapshot().answers == 0
    for i in range(10, 12):
        monitor.sent(frame + i, clock(0.1))
        monitor.answered(frame + i, clock(0.1))
        assert monitor.state == LOST
    monitor.sent(frame + 12, clock(0.1))
    [change] = monitor.answered(frame + 12, clock(0.1))
    assert (change.old, change.new) == (LOST, SPLIT)
    assert [c.new for c in monitor.history] == [SPLIT, LOST, SPLIT]


def test_no_decoder_and_lost_liveliness_are_declared_at_once():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=100, now=clock())
    _split(monitor, clock)
    [change] = monitor.decoders(0, clock(0.01))
    assert (change.new, change.at) == (LOST, clock()) and 'no decoder matched' in change.reason
    # the decoder reappears and answers one frame with nothing else in flight: SPLIT at once
    monitor.decoders(1, clock(1.0))
    monitor.sent('a', clock(0.1))
    [change] = monitor.answered('a', clock(0.1))
    assert change.new == SPLIT and 'reappeared' in change.reason
    [change] = monitor.liveliness(False, clock(0.1))
    assert change.new == LOST and 'liveliness' in change.reason
    assert monitor.liveliness(False, clock(0.1)) == []  # no repeated transition
    monitor.sent('b', clock(0.1))
    assert monitor.answered('b', clock(0.1)) == []  # still not alive: no recovery
    monitor.liveliness(True, clock(0.1))
    monitor.sent('c', clock(0.1))
    assert monitor.answered('c', clock(0.1))[0].new == SPLIT
    assert monitor.snapshot().transitions == 5


def test_a_new_decoder_beside_a_dead_one_counts_as_reappeared():
    """SIGKILL leaves the dead decoder matched until its lease ends: a new one makes it two."""
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=1, recover_after_answers=3, answer_timeout=0.5,
                          now=clock())
    frame = _split(monitor, clock)
    monitor.sent(frame, clock(0.1))
    monitor.tick(clock(1.0))
    assert monitor.state == LOST and monitor.snapshot().decoders == 1
    monitor.sent('a', clock(0.1))
    assert monitor.answered('a', clock(0.1)) == []  # the same decoder: 3 answers needed
    monitor.decoders(2, clock(0.1))  # the new process matched
    monitor.sent('b', clock(0.1))
    [change] = monitor.answered('b', clock(0.1))
    assert change.new == SPLIT and 'reappeared' in change.reason


def test_the_in_flight_table_is_bounded_and_an_evicted_frame_counts_missed():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=3, answer_timeout=1000.0, max_in_flight=8,
                          now=clock())
    frame = _split(monitor, clock)
    for i in range(8):
        assert monitor.sent(frame + i, clock(0.01)) == []
    assert monitor.snapshot().in_flight == 8
    for i in range(8, 10_000):
        monitor.sent(frame + i, clock(0.01))
        assert monitor.snapshot().in_flight == 8
    assert monitor.state == LOST and 'max_in_flight = 8' in monitor.reason
    assert len(monitor.history) <= 32


def test_a_clock_stepping_back_never_gives_a_negative_round_trip():
    clock = Clock()
    monitor = LinkMonitor(now=clock())
    frame = _split(monitor, clock)
    monitor.sent(frame, clock(1.0))
    monitor.answered(frame, clock(-5.0))
    assert monitor.snapshot().rtt_s == 0.0 and monitor.state == SPLIT


def test_a_repeated_key_keeps_its_first_send_time():
    clock = Clock()
    monitor = LinkMonitor(loss_after_missed=1, answer_timeout=0.5, now=clock())
    frame = _split(monitor, clock)
    monitor.sent(frame, clock(0.1))
    monitor.sent(frame, clock(0.4))
    assert monitor.snapshot().in_flight == 1
    assert monitor.tick(clock(0.2))[0].new == LOST  # 0.6 s after the first send


@pytest.mark.parametrize('kwargs, needle', [
    ({'loss_after_missed': 0}, 'loss_after_missed must be in \\[1, 100\\], got 0'),
    ({'loss_after_missed': 101}, 'loss_after_missed must be in \\[1, 100\\], got 101'),
    ({'recover_after_answers': 2.5}, 'recover_after_answers must be an integer, got 2.5'),
    ({'answer_timeout': 0.0}, 'answer_timeout must be > 0, got 0.0'),
    ({'answer_timeout': float('nan')}, 'answer_timeout must not be NaN'),
    ({'answer_timeout': 1e6}, 'answer_timeout must be <= 86400, got 1000000.0'),
    ({'max_in_flight': 0}, 'max_in_flight must be in \\[1, 100000\\], got 0'),
    ({'history': 0}, 'history must be in \\[1, 100000\\], got 0'),
])
def test_a_bad_parameter_raises_value_error_naming_it(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        LinkMonitor(**kwargs)


def test_bad_inputs_raise_value_error_naming_them():
    monitor = LinkMonitor()
    with pytest.raises(ValueError, match='deadline must be > 0, got -1'):
        monitor.set_deadline(-1)
    with pytest.raises(ValueError, match='decoders must be in'):
        monitor.decoders(-1, 1.0)
    with pytest.raises(ValueError, match='now must be finite'):
        monitor.tick(float('inf'))
