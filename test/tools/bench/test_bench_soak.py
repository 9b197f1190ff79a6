"""
``qcoinf bench soak``: memory sampling, summaries, and a short real run of the command.

The full soak (10,000 frames) is a benchmark command, not a test; here a short run at a low rate
checks that what it prints is consistent: every frame sent is encoded and captioned, memory was
sampled for every node process, and the exit code follows the verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from qcoinf_ros.tools.bench.soak import drop_bursts, process_memory, RssSeries
from qcoinf_ros.tools.cli.bench_soak import main


def test_process_memory_reads_this_process_and_its_children(tmp_path):
    own = process_memory(os.getpid())
    assert own is not None and own[0] > own[1] > 0
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        with_child = None
        for _ in range(50):  # until the child has started (its own RSS counted)
            with_child = process_memory(os.getpid())
            if with_child[0] > own[0] + 1024 * 1024:
                break
            time.sleep(0.1)
        assert with_child[0] > own[0] + 1024 * 1024
    finally:
        child.kill()
        child.wait(timeout=10)
    # a process that does not exist (a fake /proc without it), and a bad pid
    assert process_memory(12345, proc_root=tmp_path) is None
    with pytest.raises(ValueError, match='pid'):
        process_memory(0)


def test_process_memory_from_a_fake_proc_tree(tmp_path):
    for pid, rss, anon, children in ((10, 1000, 600, '11 12'), (11, 200, 100, ''),
                                     (12, 50, 20, '')):
        task = tmp_path / str(pid) / 'task' / str(pid)
        task.mkdir(parents=True)
        (tmp_path / str(pid) / 'status').write_text(
            f'Name:\tx\nVmRSS:\t{rss} kB\nRssAnon:\t{anon} kB\n')
        (task / 'children').write_text(children)
    assert process_memory(10, tmp_path) == (1250 * 1024, 720 * 1024)
    assert process_memory(11, tmp_path) == (200 * 1024, 100 * 1024)
    (tmp_path / '12' / 'status').write_text('Name:\tx\nState:\tZ (zombie)\n')  # no memory
    assert process_memory(12, tmp_path) is None
    assert process_memory(10, tmp_path) == (1200 * 1024, 700 * 1024)


def test_rss_series_summary_growth_baseline_and_trend():
    mb = 2**20
    series = RssSeries('agent')
    for t in range(10):  # anon grows 1 MB/s after a warm-up jump
        series.add(float(t), ((500 + t) * mb, (300 + t) * mb if t >= 2 else 100 * mb))
        if t == 2:
            series.mark_baseline()
    series.add(10.0, None)  # the process is gone: ignored
    s = series.summary(rate_hz=10.0)
    assert s['samples'] == 10 and s['first_mb'] == 500 and s['baseline_mb'] == 502
    assert s['growth'] == pytest.approx(309 / 302)
    assert s['anon_peak_mb'] == 309 and s['rss_growth'] == pytest.approx(509 / 502)
    # 1 MB/s at 10 frames/s: 100 MB per 1000 frames
    assert s['anon_mb_per_1000_frames'] == pytest.approx(100.0)
    with pytest.raises(ValueError, match='no memory samples'):
        RssSeries('x').summary(1.0)


@pytest.mark.parametrize('option', [['--frames', '0'], ['--rate', '-1'],
                                    ['--rate-fraction', '1.5'], ['--max-rss-growth', '0.9']])
def test_bad_options_are_refused_with_their_name(option, capsys):
    assert main(option) == 2
    assert option[0] in capsys.readouterr().out


@pytest.mark.ros
def test_short_soak_at_a_low_rate_loses_nothing_and_samples_memory(ros_env, tmp_path):
    pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')
    out = tmp_path / 'soak.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'qcoinf_ros.tools.cli.main', 'bench', 'soak', '--frames', '48',
         '--rate', '4', '--max-new-tokens', '8', '--json', str(out)],
        env=ros_env, capture_output=True, text=True, timeout=240)
    assert out.is_file(), proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    # at 4 Hz (the default captioner sustains far more) every frame goes through
    assert result['frames_sent'] == 48
    assert result['frames_encoded'] == result['frames_captioned'] == 48, proc.stdout
    assert result['latency_messages'] == 48 and result['dropped'] == 0
    assert result['agent_drops'] == {}, proc.stdout
    lat = result['latency_s']
    assert 0 < lat['p50'] <= lat['p95'] <= lat['p99'] <= lat['max']
    assert result['encode_s']['max'] < lat['max'] and result['decode_s']['p50'] < lat['p50']
    assert [r['name'] for r in result['rss']] == ['decoder', 'agent', 'camera']
    for r in result['rss']:
        assert r['samples'] >= 4, r
        assert 0 < r['anon_baseline_mb'] < r['baseline_mb'] <= r['peak_mb']
        assert r['growth'] == pytest.approx(r['anon_end_mb'] / r['anon_baseline_mb'])
    # the verdict and the exit code follow the numbers
    assert result['drop_bursts'] == []
    assert result['ok'] == (result['memory_ok'] and result['dropped'] == 0)
    assert proc.returncode == (0 if result['ok'] else 1), proc.stdout
    assert ('PASS' if result['ok'] else 'FAIL') in proc.stdout
    assert 'dropped' in proc.stdout and 'anon growth' in proc.stdout


def test_drop_bursts_counts_runs_of_missing_frames():
    period = 0.1
    kept = [i * period for i in range(20) if i not in (3, 4, 5, 10)]
    assert drop_bursts(reversed(kept), rate_hz=10.0) == [3, 1]
    assert drop_bursts([0.0, 0.1, 0.2], 10.0) == [] and drop_bursts([], 10.0) == []
    with pytest.raises(ValueError, match='rate_hz'):
        drop_bursts([0.0], 0.0)
