"""The drop log every node uses at its callback boundary (issues 14 and 29)."""

import pytest

from qcoinf_ros.core.validation import InputError
from qcoinf_ros.ros.drops import DropLog, MAX_REASON_CHARS, OVERFLOW

pytestmark = pytest.mark.check


class Logger:
    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(text)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_first_drop_of_a_class_is_logged_the_rest_counted():
    log = Logger()
    drops = DropLog(log, clock=Clock())
    for t0 in (-1.0, -2.0, -3.0):
        drops.drop('deadline.range', f'T0 must be > 0, got {t0}')
    assert log.lines == [
        'dropped deadline.range: T0 must be > 0, got -1.0 (the first drop of this class; '
        'further ones are counted and summarised at most every 10 s)']
    assert drops.total == 3 and drops.counts == {'deadline.range': 3}
    assert drops.last['deadline.range'].endswith('-3.0')
    assert drops.diagnostic_values() == {'dropped_inputs': 3, 'dropped[deadline.range]': 3}


def test_a_flood_of_distinct_junk_values_does_not_hide_any_later_class():
    """Issue 29: 74 junk reasons filled the table; bit widths and empty frames went unlogged."""
    log, clock = Logger(), Clock()
    drops = DropLog(log, summary_period=10.0, clock=clock)
    for i in range(1000):  # 1,000 distinct values of three kinds, 1.5 s
        clock.now = 1.5 * i / 1000
        drops.drop('image.stamp', f'invalid stamp sec={-i - 1} nanosec={i}')
        drops.drop('embedding.replay', f'stamp not newer than the last one (by {i / 1e3} s)')
        drops.drop('image.size', f'image {i + 1}x{i + 9000} has an aspect ratio ...')
    later = [('bit_width.range', '200 is outside 1..b_max=8'),
             ('bit_width.range', '100 is outside 1..b_max=8'),
             ('image.zero_size', 'image has zero size (0x0)'),
             ('image.empty', 'CompressedImage has no data'),
             ('embedding.format', "unknown format 'jpeg'")]
    for cls, message in later:
        drops.drop(cls, message)
    for cls in ('image.stamp', 'embedding.replay', 'image.size', 'bit_width.range',
                'image.zero_size', 'image.empty', 'embedding.format'):
        assert sum(line.startswith(f'dropped {cls}: ') for line in log.lines) == 1, cls
    assert any('200 is outside' in line for line in log.lines)
    assert len(log.lines) == 7  # one per class; no summary within the first 10 s
    assert drops.total == 3005 and len(drops.counts) == 7
    # drops go on: one summary line per period, never one line per drop
    for i in range(2000):
        clock.now = 2.0 + 20.0 * i / 2000
        drops.drop('image.stamp', f'invalid stamp sec={-i}')
    summaries = [line for line in log.lines if line.startswith('drop summary')]
    assert len(summaries) == 2, summaries
    assert 'image.stamp x' in summaries[0] and 'bit_width.range x1' in summaries[0]
    assert 'invalid stamp' not in ' '.join(summaries)  # counts only: no line per value
    clock.now = 40.0
    drops.tick()  # the drops stopped: what is left is summarised from the timer
    assert len([line for line in log.lines if line.startswith('drop summary')]) == 3
    drops.tick()
    assert len([line for line in log.lines if line.startswith('drop summary')]) == 3
    logged = sum(int(part.rsplit(' x', 1)[1]) for line in log.lines
                 if line.startswith('drop summary') for part in line.split(': ', 1)[1].split(', '))
    assert logged + 7 == drops.total  # every drop is logged or summarised, once


def test_huge_messages_are_stored_and_logged_cut():
    """Issue 14: 300 junk 1 MB reasons kept +300 MB per node and wrote 467 MB of log."""
    log = Logger()
    drops = DropLog(log)
    for i in range(300):
        drops.drop('embedding.model', f'model id {str(i) * 1_000_000!r} differs')
    assert drops.total == 300
    assert max(map(len, drops.last.values())) < MAX_REASON_CHARS + 100
    assert sum(map(len, log.lines)) < 2 * (MAX_REASON_CHARS + 200)
    assert 'more characters]' in log.lines[0]


def test_classes_carry_no_values_and_are_capped():
    log = Logger()
    drops = DropLog(log, max_classes=3, clock=Clock())
    for bad in ('bit_width.200', 'Image.Size', 'image size', '', 'a' * 65, None, 'image.'):
        with pytest.raises(ValueError, match='drop class must be'):
            drops.drop(bad, 'x')
    for cls in ('a.x', 'a.y', 'a.z', 'a.w', 'a.v'):  # a bug making classes: bounded
        drops.drop(cls, 'm')
    assert set(drops.counts) == {'a.x', 'a.y', 'a.z', OVERFLOW}
    assert drops.counts[OVERFLOW] == 2 and drops.total == 5
    assert log.lines[-1].startswith(f'dropped {OVERFLOW}: [a.w] m')
    assert len(log.lines) == 4


def test_an_input_error_names_its_class():
    log = Logger()
    drops = DropLog(log)
    drops.drop_error('image.malformed', InputError('image.encoding', "unsupported 'yuv444'"))
    drops.drop_error('image.malformed', ValueError('something else'), prefix='encoding: ')
    assert set(drops.counts) == {'image.encoding', 'image.malformed'}
    assert log.lines[1].startswith('dropped image.malformed: encoding: something else')
    with pytest.raises(ValueError, match='drop class'):
        InputError('image.4k', 'x')


def test_bad_settings_are_refused():
    for period in (0, -1.0, float('inf'), float('nan'), 'x'):
        with pytest.raises(ValueError, match='summary_period'):
            DropLog(Logger(), summary_period=period)
    with pytest.raises(ValueError, match='max_classes'):
        DropLog(Logger(), max_classes=0)
