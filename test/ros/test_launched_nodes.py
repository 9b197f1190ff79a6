"""LaunchedNodes (ros/processes.py): the nodes of a launch file as processes, named by ns/name."""

from __future__ import annotations

import signal
import sys
import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

LAUNCH = """<launch>
  <node pkg="qcoinf_ros" exec="camera_node" name="camera_node" namespace="robot1">
    <param name="source" value="scenes"/><param name="max_frames" value="1"/>
    <param name="rate_hz" value="20.0"/>
  </node>
  <node pkg="qcoinf_ros" exec="camera_node" name="camera_node" namespace="/robot2">
    <param name="source" value="scenes"/><param name="max_frames" value="1"/>
    <param name="rate_hz" value="20.0"/>
  </node>
  <node pkg="qcoinf_ros" exec="camera_node" name="camera_node">
    <param name="source" value="scenes"/><param name="max_frames" value="1"/>
    <param name="rate_hz" value="20.0"/>
  </node>
</launch>
"""


def test_nodes_of_one_name_in_two_namespaces_are_two_entries(tmp_path, ros_env):
    from qcoinf_ros.core.launching import parse_launch_file
    from qcoinf_ros.ros.processes import LaunchedNodes

    path = tmp_path / 'cameras.launch.xml'
    path.write_text(LAUNCH)
    with LaunchedNodes(parse_launch_file(path), env=ros_env) as graph:
        names = ['robot1/camera_node', 'robot2/camera_node', 'camera_node']
        assert [graph.key(spec) for spec, _ in graph.running] == names
        assert {proc.name for _, proc in graph.running} == {'camera_node'}  # the log prefix
        assert graph['robot2/camera_node'] is graph.running[1][1]
        with pytest.raises(KeyError):
            graph['robot3/camera_node']
        deadline = time.monotonic() + 60.0
        while graph.poll() and time.monotonic() < deadline:  # each stops after its frame
            time.sleep(0.1)
        assert graph.codes == dict.fromkeys(names, 0), [p.output for _, p in graph.running]


IGNORES = {  # a process that ignores the signals named, printing 'ready' once they are set
    'nothing': [],
    'sigint': ['SIGINT'],
    'sigint_and_sigterm': ['SIGINT', 'SIGTERM'],
}


def _ignoring(names):
    # what is not ignored takes the kernel's default action at once (SIG_DFL): Python's own
    # SIGINT handler first unwinds the interpreter, which on a busy machine outlasted the 1 s
    # before SIGTERM once (the 'nothing' process then ended by SIGTERM, -15)
    action = {n: 'SIG_IGN' if n in names else 'SIG_DFL' for n in ('SIGINT', 'SIGTERM')}
    sets = ''.join(f'signal.signal(signal.{n}, signal.{a}); ' for n, a in action.items())
    return [sys.executable, '-c', f'import signal, time; {sets}print("ready", flush=True); '
            'time.sleep(60)']


def test_stop_all_escalates_like_ros2_launch_all_processes_at_once():
    # launch.actions.ExecuteLocal: SIGINT; SIGTERM sigterm_timeout later; SIGKILL sigkill_timeout
    # after that, timers per process started together (not one process after the other)
    from qcoinf_ros.ros.processes import NodeProcess, stop_all

    procs = {k: NodeProcess('x', command=_ignoring(v)) for k, v in IGNORES.items()}
    deadline = time.monotonic() + 30
    while not all('ready' in p.output for p in procs.values()):
        assert time.monotonic() < deadline, {k: p.output for k, p in procs.items()}
        time.sleep(0.01)
    began = time.monotonic()
    codes = stop_all(list(procs.values()), sigterm_timeout=1.0, sigkill_timeout=1.0)
    took = time.monotonic() - began
    assert codes == [-signal.SIGINT, -signal.SIGTERM, -signal.SIGKILL]
    assert 2.0 <= took < 4.0, took  # the sum of the timeouts, once, for all three
