"""
Shared pieces of the fuzz tests (``test/test_fuzz_*.py``): example counts, a per-input watchdog.

The default suite runs a fixed, derandomized set of examples per target (a few seconds each, the
same inputs on every run). ``QCOINF_FUZZ_EXAMPLES=N`` runs ``N`` random examples per target
instead, a fresh draw each run, for long fuzzing sessions::

    QCOINF_FUZZ_EXAMPLES=20000 scripts/in_env.sh python -m pytest -p no:cacheprovider
        test/fuzz/test_fuzz_codec.py test/fuzz/test_fuzz_imaging.py test/fuzz/test_fuzz_bags.py
        test/fuzz/test_fuzz_launch.py     (one command line)

Every call on a fuzzed input runs under :func:`bounded`: a hang in Python code is interrupted
after ``QCOINF_FUZZ_TIMEOUT`` seconds (default 20, generous for a loaded 2-core machine) and
fails the test with the input's description; a hang inside C code that never returns to the
interpreter is ended by :mod:`faulthandler`, which dumps every thread's stack and exits, so the
run fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time

from hypothesis import HealthCheck, settings

#: Examples per target requested for a long run (0: the default suite's own counts).
EXAMPLES = int(os.environ.get('QCOINF_FUZZ_EXAMPLES', '0') or 0)
#: Longest time one fuzzed call may take [s] before it counts as a hang.
TIMEOUT_S = float(os.environ.get('QCOINF_FUZZ_TIMEOUT', '20') or 20)


def fuzz_settings(default_examples: int) -> settings:
    """Return hypothesis settings: ``default_examples`` derandomized, or the long-run count."""
    return settings(
        max_examples=EXAMPLES or default_examples, deadline=None, derandomize=not EXAMPLES,
        database=None, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much])


class Hang(AssertionError):
    """A fuzzed call ran longer than the watchdog allows."""


@contextlib.contextmanager
def bounded(what: str, seconds: float | None = None):
    """
    Run the block under a watchdog; raise :class:`Hang` naming ``what`` if it takes too long.

    SIGALRM interrupts Python code; ``faulthandler.dump_traceback_later`` (twice the limit) ends
    the process when the block is stuck in C code and cannot be interrupted.
    """
    limit = TIMEOUT_S if seconds is None else seconds
    on_main = threading.current_thread() is threading.main_thread() and \
        hasattr(signal, 'setitimer')

    def on_alarm(signum, frame):
        raise Hang(f'no result after {limit:g} s (a hang?) for {what}')

    previous = signal.signal(signal.SIGALRM, on_alarm) if on_main else None
    if on_main:
        signal.setitimer(signal.ITIMER_REAL, limit)
    faulthandler.dump_traceback_later(2 * limit + 5, exit=True, file=sys.stderr)
    start = time.monotonic()
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        if on_main:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    elapsed = time.monotonic() - start
    if elapsed > limit:
        raise Hang(f'{elapsed:.1f} s (limit {limit:g} s) for {what}')
