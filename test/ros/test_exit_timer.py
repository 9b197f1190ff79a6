"""``qcoinf_ros.ros.exit_timer``: an exit from a C thread while Python holds the GIL in C."""

import subprocess
import sys
import textwrap

import pytest

from qcoinf_ros.ros.exit_timer import ExitTimer

PROBE = textwrap.dedent("""
    import re, sys, time
    from qcoinf_ros.ros.exit_timer import ExitTimer
    timer = ExitTimer()
    assert timer.arm(float(sys.argv[1]), int(sys.argv[2]))
    if sys.argv[3] == 'cancel':
        timer.cancel()
        time.sleep(1.0)
        print('still running', flush=True)
        sys.exit(9)
    print('armed', flush=True)
    re.match(r'(a+)+$', 'a' * 40 + 'b')  # C code holding the GIL for minutes
    print('not reached', flush=True)
""")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', PROBE, *args], capture_output=True, text=True,
                          timeout=30)


pytestmark = pytest.mark.skipif(not ExitTimer.available, reason='no timer_create here')


@pytest.mark.parametrize('code', [0, 1, 7])
def test_the_exit_comes_with_its_code_while_c_code_holds_the_gil(code):
    done = _run('0.3', str(code), 'hold')
    assert done.returncode == code, done
    assert done.stdout == 'armed\n', done


def test_a_cancelled_timer_exits_nothing():
    done = _run('0.2', '3', 'cancel')
    assert done.returncode == 9 and done.stdout == 'still running\n', done


@pytest.mark.parametrize('seconds, code', [(0.0, 0), (-1.0, 0), (1.0, 256), (1.0, -1)])
def test_bad_values_are_refused_naming_them(seconds, code):
    with pytest.raises(ValueError, match='exit timer'):
        ExitTimer().arm(seconds, code)
