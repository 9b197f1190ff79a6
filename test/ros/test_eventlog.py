"""EventLog: valid events logged at a bounded rate, with a summary of the lines held back."""

import pytest

from qcoinf_ros.ros.eventlog import EventLog


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Logger:
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(('info', text))

    def warning(self, text):
        self.lines.append(('warning', text))

    def error(self, text):
        self.lines.append(('error', text))


def test_a_200_hz_flood_for_10_s_gives_a_bounded_number_of_lines_and_its_count():
    clock, logger = Clock(), Logger()
    events = EventLog(logger, per_second=2.0, burst=5, summary_period=10.0, clock=clock)
    for i in range(2000):  # 200 Hz for 10 s
        clock.t = i / 200
        events.log('bit-width switch', f'bit-width -> {1 + i % 8}')
    clock.t = 10.1  # the flood is over: its summary is due at the next tick
    events.tick()
    held = [t for level, t in logger.lines if 'not logged' in t]
    assert len(logger.lines) <= 5 + 2 * 10 + 1 + 1  # burst, rate, summaries
    assert held and 'bit-width switch' in held[0] and 'the latest: bit-width ->' in held[-1]
    # every event is either a line or counted in a summary: nothing unaccounted
    counted = sum(int(t.split()[0]) for t in held)
    assert len(logger.lines) - len(held) + counted == 2000
    assert events.logged + events.held - len(held) == 2000


def test_events_at_a_robots_pace_are_all_logged_and_keys_are_apart():
    clock, logger = Clock(), Logger()
    events = EventLog(logger, per_second=1.0, burst=2, clock=clock)
    for i in range(20):
        clock.t = 2.0 * i
        assert events.log('plan', f'plan {i}')
        assert events.log('infeasible plan', f'bad {i}', 'error')
    assert len(logger.lines) == 40 and ('error', 'bad 3') in logger.lines


def test_a_flood_of_one_key_does_not_hold_another_back():
    clock, logger = Clock(), Logger()
    events = EventLog(logger, per_second=1.0, burst=1, clock=clock)
    for i in range(100):
        events.log('plan', f'plan {i}')
    assert events.log('infeasible plan', 'turned infeasible', 'error')
    assert ('error', 'turned infeasible') in logger.lines


def test_a_summary_comes_after_the_flood_stops():
    clock, logger = Clock(), Logger()
    events = EventLog(logger, per_second=1.0, burst=1, summary_period=10.0, clock=clock)
    for _ in range(50):
        events.log('plan', 'same')
    events.tick()
    assert not any('not logged' in t for _, t in logger.lines)  # not due yet
    clock.t = 10.5
    events.tick()
    assert any(t.startswith('49 more plan line(s)') for _, t in logger.lines), logger.lines


@pytest.mark.parametrize('kwargs', [{'per_second': 0}, {'per_second': -1.0}, {'burst': 0},
                                    {'summary_period': 0}])
def test_bad_settings_are_refused_naming_them(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        EventLog(Logger(), **kwargs)


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="'debug'"):
        EventLog(Logger()).log('plan', 'x', 'debug')
