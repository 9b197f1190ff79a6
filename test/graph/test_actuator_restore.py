"""
The frequency actuator leaves the robot as it found it: SIGINT, SIGTERM, SIGKILL-then-restart.

The node runs as a process on a mimicked cpufreq tree and on a mimicked jtop (the nvpmodel mode
in a file, ``test/core/actuation/mimic/jtop``); a profile changes the clocks, the stop writes them
back. After SIGKILL nothing can run: the record it left makes the next start restore first.
"""

import json
import os
from pathlib import Path
import signal

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

MIMIC = Path(__file__).resolve().parents[1] / 'core' / 'actuation' / 'mimic'


def _profile(f, mode=0):
    from qcoinf_ros.core.codec.plan import ProfileMessage
    from qcoinf_ros.ros.messages import profile_msg
    return profile_msg(ProfileMessage('low', f, 5e9, 4, True, mode, 0.5, 1.0))


class Board:
    """What the actuator changes: a mimicked cpufreq tree, or a mimicked jtop's nvpmodel."""

    def __init__(self, kind, tmp_path, cpu_tree, cpu_state, env):
        self.kind, self.env = kind, dict(env)
        self.record = tmp_path / 'record.json'
        if kind == 'cpufreq':
            self.root = cpu_tree(tmp_path / 'cpu', cpus=2)
            self.read = lambda: cpu_state(self.root)
            self.params = ['-p', 'backend:=cpufreq', '-p', f'sysfs_root:={self.root}']
        else:
            self.state = tmp_path / 'jtop.json'
            self.state.write_text('{"nvpmodel": 3}')
            self.env['QCOINF_MIMIC_JTOP_STATE'] = str(self.state)
            self.env['PYTHONPATH'] = os.pathsep.join(
                [str(MIMIC), *filter(None, [self.env.get('PYTHONPATH')])])
            self.read = lambda: json.loads(self.state.read_text())
            self.params = ['-p', 'backend:=jtop']
        self.params += ['-p', f'restore_record:={self.record}']


@pytest.fixture(params=['cpufreq', 'jtop'])
def board(request, tmp_path, cpu_tree, cpu_state, ros_env):
    return Board(request.param, tmp_path, cpu_tree, cpu_state, ros_env)


def _changed(board, proc, publisher, spin_until, found):
    publisher.publish(_profile(1.0e9))
    assert spin_until(lambda: board.read() != found, timeout=60), proc.output


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_stop_writes_the_clocks_back(board, rclpy_node, spin_until, start_node, sig):
    from qcoinf_ros.ros.messages import FrequencyProfile
    from qcoinf_ros.ros.qos import LATCHED

    found = board.read()
    publisher = rclpy_node.create_publisher(FrequencyProfile, 'qcoinf/frequency_profile', LATCHED)
    proc = start_node('frequency_actuator_node', board.params, env=board.env)
    _changed(board, proc, publisher, spin_until, found)
    assert board.record.exists()
    proc.send(sig)
    assert proc.wait(30) == 0, proc.output
    print(f'{board.kind} {signal.Signals(sig).name}: found {found}, after the stop '
          f'{board.read()}')
    assert board.read() == found, proc.output
    assert f'{board.kind}: restored' in proc.output, proc.output
    assert not board.record.exists()
    assert 'Traceback' not in proc.output, proc.output


def test_after_sigkill_the_next_start_restores_first(board, rclpy_node, spin_until, start_node):
    from qcoinf_ros.ros.messages import FrequencyProfile
    from qcoinf_ros.ros.qos import LATCHED

    found = board.read()
    publisher = rclpy_node.create_publisher(FrequencyProfile, 'qcoinf/frequency_profile', LATCHED)
    proc = start_node('frequency_actuator_node', board.params, env=board.env)
    _changed(board, proc, publisher, spin_until, found)
    proc.send(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    assert board.read() != found and board.record.exists()  # nothing could run
    rclpy_node.destroy_publisher(publisher)  # the restarted node must not get a profile
    again = start_node('frequency_actuator_node', board.params, env=board.env)
    assert spin_until(lambda: 'did not restore: restored' in again.output,
                      timeout=60), again.output
    assert board.read() == found, again.output
    again.send(signal.SIGINT)
    assert again.wait(30) == 0, again.output
    print(f'{board.kind} SIGKILL then restart: found {found}, after {board.read()}')
    assert board.read() == found and not board.record.exists()
