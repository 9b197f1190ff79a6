"""
The one shutdown path (``qcoinf_ros.ros.spin.run_node``), pinned rule by rule.

Each case runs a small node in a child process through ``run_node``, as the entry points do, and
signals it as ``ros2 launch`` does (launch.actions.ExecuteLocal: SIGINT; SIGTERM
``sigterm_timeout`` = 5 s later; SIGKILL ``sigkill_timeout`` = 5 s after that):

* SIGINT and SIGTERM end the node with exit code 0; a lifecycle node passes through its
  ``shutdown`` transition from whichever primary state it is in, while the context is valid;
* a second signal during the teardown is ignored (the teardown finishes, exit 0);
* a teardown stuck longer than its bound is cut: one line, exit code 1 when the node's own
  shutdown is stuck, 0 when only the middleware's part (destroying the node) is;
* so is a start-up (creating the node) stuck longer than its bound, with every thread's stack;
  a lifecycle node's autostart (configure: a model load) ends that bound;
* an exception out of a callback is a crash: traceback, exit code 1, and still a teardown;
* a stop requested before the node exists ends the process with exit 0 at the first safe point.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from qcoinf_ros.ros.processes import SIGKILL_TIMEOUT, SIGTERM_TIMEOUT

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

NODE = textwrap.dedent("""
    import re, sys, time
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
    from qcoinf_ros.ros.spin import autostart, run_node

    MODE = sys.argv[1]

    class Node(LifecycleNode):
        def __init__(self):
            super().__init__('shutdown_probe')
            if MODE == 'start_stuck':  # e.g. a DDS deadlock creating a publisher
                time.sleep(60)
            if MODE == 'start_gil':
                re.match(r'(a+)+$', 'a' * 40 + 'b')
            if MODE == 'slow_configure':  # a model load: longer than the start-up bound
                autostart(self)
            if MODE in ('inactive', 'active', 'slow', 'stuck', 'crash', 'gil', 'destroy_stuck',
                        'destroy_gil'):
                self.trigger_configure()
            if MODE in ('active', 'slow', 'stuck', 'crash', 'gil', 'destroy_stuck',
                        'destroy_gil'):
                self.trigger_activate()
            if MODE == 'crash':
                self.create_timer(0.5, self.boom)
            print('up', flush=True)

        def boom(self):
            raise RuntimeError('a real crash')

        def destroy_node(self):  # the middleware's part of the teardown
            if MODE == 'destroy_stuck':  # e.g. a DDS deadlock deleting the participant
                time.sleep(60)
            if MODE == 'destroy_gil':
                re.match(r'(a+)+$', 'a' * 40 + 'b')
            super().destroy_node()

        def on_configure(self, state):
            if MODE == 'slow_configure':
                time.sleep(3.0)
                print('configured', flush=True)
            return TransitionCallbackReturn.SUCCESS

        def on_shutdown(self, state):
            print(f'on_shutdown from {state.label}', flush=True)
            if MODE == 'slow':
                time.sleep(1.5)
            if MODE == 'stuck':
                time.sleep(60)
            if MODE == 'gil':  # C code holding the GIL for minutes: no Python thread runs
                re.match(r'(a+)+$', 'a' * 40 + 'b')
            print('on_shutdown done', flush=True)
            return TransitionCallbackReturn.SUCCESS

    sys.exit(run_node(Node, name='shutdown_probe', teardown_timeout=2.0, start_timeout=2.0))
""")


def _start(ros_env, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', NODE, mode], env=ros_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait_for_up(proc: subprocess.Popen) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == 'up':
            return lines
    raise AssertionError(''.join(lines))


def _finish(proc: subprocess.Popen, timeout: float = 20.0) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f'still running after {timeout} s:\n{out}') from None
    return proc.returncode, out


def test_launch_escalation_defaults_are_launchs():
    # launch.actions.ExecuteLocal: LaunchConfiguration('sigterm_timeout', default=5) and
    # ('sigkill_timeout', default=5); the stuck-teardown bound, and its backup for C code
    # holding the GIL (stacks, then the C timer's exit 0.25 s later), must cut before SIGKILL
    # does, with room for a loaded machine (a backup at 10 s once lost that race in CI)
    from qcoinf_ros.ros.spin import BACKUP_DELAY, TEARDOWN_TIMEOUT, WORKER_JOIN_TIMEOUT
    assert (SIGTERM_TIMEOUT, SIGKILL_TIMEOUT) == (5.0, 5.0)
    assert WORKER_JOIN_TIMEOUT < TEARDOWN_TIMEOUT
    assert TEARDOWN_TIMEOUT + BACKUP_DELAY + 0.25 <= SIGTERM_TIMEOUT + SIGKILL_TIMEOUT - 1.0


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize('mode', ['unconfigured', 'inactive', 'active'])
def test_each_signal_runs_the_shutdown_transition_from_each_state(ros_env, sig, mode):
    proc = _start(ros_env, mode)
    head = _wait_for_up(proc)
    proc.send_signal(sig)
    code, out = _finish(proc)
    out = ''.join(head) + out
    assert code == 0, out
    assert f'on_shutdown from {mode}' in out and 'on_shutdown done' in out, out
    assert f'{signal.Signals(sig).name} received: shutting down' in out, out
    assert f'lifecycle: {mode} -> finalized' in out, out
    assert 'Traceback' not in out and 'context is invalid' not in out, out


def test_a_second_signal_during_the_teardown_is_ignored(ros_env):
    proc = _start(ros_env, 'slow')  # on_shutdown takes 1.5 s
    _wait_for_up(proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)  # what ros2 launch sends next
    code, out = _finish(proc)
    assert code == 0, out
    assert 'on_shutdown done' in out, out
    assert 'SIGTERM during the shutdown: ignored' in out, out
    assert 'Traceback' not in out, out


def test_a_stuck_teardown_is_cut_after_its_bound_with_one_line(ros_env):
    proc = _start(ros_env, 'stuck')  # on_shutdown sleeps 60 s; the bound is 2 s here
    _wait_for_up(proc)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code, out = _finish(proc)
    assert code == 1, out
    assert time.monotonic() - began < 10.0
    assert out.count('shutdown did not finish within 2 s') >= 1, out
    assert 'on_shutdown done' not in out, out


def test_a_teardown_stuck_in_c_code_holding_the_gil_is_cut_too(ros_env):
    # the Python watchdog cannot run then; faulthandler's thread (no GIL) prints the stacks
    # 1 s after the bound, and the C exit timer exits 1 just after
    proc = _start(ros_env, 'gil')
    _wait_for_up(proc)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code, out = _finish(proc)
    assert code == 1, out
    assert time.monotonic() - began < 10.0
    assert 'Timeout (0:00:03)!' in out and 'on_shutdown' in out, out  # the stuck stack
    assert 'on_shutdown done' not in out, out


@pytest.mark.parametrize('mode', ['destroy_stuck', 'destroy_gil'])
def test_a_middleware_teardown_stuck_after_the_nodes_own_shutdown_exits_0(ros_env, mode):
    # the node's own shutdown done, destroying its DDS entities hangs (Fast DDS 3.2: a planner
    # of a nine-node launch on Kilted, until launch's SIGKILL): the stop is done, exit 0 with
    # one warning line (in Python) or the stacks (in C holding the GIL), inside the bound
    proc = _start(ros_env, mode)
    _wait_for_up(proc)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code, out = _finish(proc)
    assert code == 0, out
    assert time.monotonic() - began < 2.0 + 1.25 + 3.0, out  # bound, backup, a loaded machine
    assert 'on_shutdown done' in out and 'lifecycle: active -> finalized' in out, out
    if mode == 'destroy_stuck':
        assert out.count('shutdown did not finish within') >= 1, out
        assert "the node's own shutdown is done): exiting with code 0" in out, out
        assert 'in destroy_node' in out, out  # every thread's stack
    else:
        assert 'Timeout (' in out and 'destroy_node' in out, out


def test_a_stuck_start_up_is_cut_after_its_bound_with_the_stacks(ros_env):
    began = time.monotonic()
    code, out = _finish(_start(ros_env, 'start_stuck'))
    assert code == 1, out
    assert time.monotonic() - began < 30.0  # the interpreter's start-up included
    assert out.count('start-up did not finish within 2 s') >= 1, out
    assert 'in __init__' in out, out  # faulthandler's stack of the main thread
    assert 'up\n' not in out, out


def test_a_start_up_stuck_in_c_code_holding_the_gil_is_cut_too(ros_env):
    began = time.monotonic()
    code, out = _finish(_start(ros_env, 'start_gil'))
    assert code == 1, out
    assert time.monotonic() - began < 30.0
    assert 'Timeout (0:00:03)!' in out and '__init__' in out, out


def test_autostart_ends_the_start_up_bound(ros_env):
    # configuring (a model load) takes 3 s here, past the 2 s start-up bound: not cut
    proc = _start(ros_env, 'slow_configure')
    head = _wait_for_up(proc)
    proc.send_signal(signal.SIGINT)
    code, out = _finish(proc)
    out = ''.join(head) + out
    assert code == 0, out
    assert 'configured' in out and 'did not finish' not in out, out


def test_an_exception_in_a_callback_is_a_crash_with_a_teardown(ros_env):
    proc = _start(ros_env, 'crash')
    code, out = _finish(proc)
    assert code == 1, out
    assert 'Traceback' in out and 'a real crash' in out, out
    assert 'on_shutdown from active' in out, out  # still left the way it should be


def test_a_stop_before_the_node_exists_exits_0(ros_env):
    # the entry point installs the stop request before importing anything heavy; a signal
    # then arrives while the module imports: the node is never created, exit 0
    script = textwrap.dedent("""
        import os, signal, sys
        from qcoinf_ros.ros.stop import STOP
        STOP.install()
        os.kill(os.getpid(), signal.SIGTERM)
        from qcoinf_ros.ros.spin import run_node
        def never():
            raise AssertionError('created after a stop request')
        sys.exit(run_node(never, name='early'))
    """)
    done = subprocess.run([sys.executable, '-c', script], env=ros_env, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert 'Traceback' not in done.stderr, done.stderr
