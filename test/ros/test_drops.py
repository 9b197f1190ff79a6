"""The bounded drop log every node uses at its callback boundary (issue 14)."""

from qcoinf_ros.ros.drops import DropLog, MAX_REASON_CHARS


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


def test_each_reason_is_logged_once_and_counted():
    log = Logger()
    drops = DropLog(log)
    for _ in range(3):
        drops.drop('deadline', 'T0 must be > 0, got -1.0')
    assert len(log.lines) == 1 and 'T0 must be > 0' in log.lines[0]
    assert drops.total == 3


def test_huge_reasons_are_stored_and_logged_cut():
    """Issue 14: 300 junk 1 MB reasons kept +300 MB per node and wrote 467 MB of log."""
    log = Logger()
    drops = DropLog(log)
    for i in range(300):
        drops.drop('embedding', f'model id {str(i) * 1_000_000!r} differs')
    assert drops.total == 300
    assert sum(map(len, drops.counts)) < 70 * (MAX_REASON_CHARS + 100)
    assert sum(map(len, log.lines)) < 80 * (MAX_REASON_CHARS + 200)
    assert all('more characters]' in line for line in log.lines)


def test_new_reasons_are_still_logged_after_the_table_is_full_at_a_bounded_rate():
    """Issue 14: after 256 distinct junk reasons, a new, real reason was never logged."""
    log, clock = Logger(), Clock()
    drops = DropLog(log, max_reasons=8, burst=3, period=60.0, clock=clock)
    for i in range(100):
        drops.drop('image', f'junk {i}')
    assert len(drops.counts) == 9  # 8 reasons and the 'other reasons' counter
    assert drops.total == 100
    assert len(log.lines) == 8 + 3  # the burst, then silence within the period
    clock.now = 61.0
    drops.drop('image', 'unsupported image encoding the real camera sends')
    assert 'the real camera sends' in log.lines[-1] and '89 not logged' in log.lines[-1]
    assert len(drops.counts) == 9
