"""``qcoinf monitor``: the dashboard of a live graph (here a looping bag of its outputs)."""

from pathlib import Path
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

ROOT = Path(__file__).resolve().parents[2]


def _start(env, *argv):
    return subprocess.Popen([sys.executable, '-m', *argv], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_dashboard_shows_rates_latency_plan_and_captions(ros_env, tmp_path, capsys):
    from bag_outputs import output_bag

    from qcoinf_ros.tools.cli import monitor

    output_bag(tmp_path / 'outputs', typed_captions=True)  # their latencies in the caption
    player = _start(ros_env, 'qcoinf_ros.tools.cli.bag', 'play', str(tmp_path / 'outputs'),
                    '--loop', '--rate', '4', '--duration', '12')
    interrupted = _start(ros_env, 'qcoinf_ros.tools.cli.monitor')
    try:
        assert monitor.main(['--duration', '5', '--window', '3']) == 0
        interrupted.send_signal(signal.SIGINT)  # Ctrl-C: a clean exit with a final snapshot
        out, _ = interrupted.communicate(timeout=20)
    finally:
        player.kill()
        interrupted.kill()
    text = capsys.readouterr().out
    assert 'qcoinf monitor: 5.' in text
    rows = {line.split('│')[1].strip(): line for line in text.splitlines()
            if line.count('│') >= 4}
    for topic in ('qcoinf/caption', 'qcoinf/latency', 'qcoinf/embedding'):
        rate = float(rows[topic].split('│')[2])
        assert 2.0 < rate < 8.0, rows[topic]  # 1 Hz in the bag, played 4 times faster
    assert float(rows['camera/image_raw'].split('│')[2]) == 0.0
    for needle in ('end to end', 'bit-width b =', 'profile continuous', 'E0 =',
                   'qcoinf: planner', 'Recent captions'):
        assert needle in text, needle
    assert any(f'c{k}' in text for k in range(10))
    assert interrupted.returncode == 0, out
    assert 'qcoinf monitor:' in out and 'Traceback' not in out
