"""`qcoinf bench pipeline` runs end to end and prints its figures (no timing asserted)."""

import re

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def test_bench_pipeline_prints_the_ratio_and_codec_sizes(ros_env, tmp_path, capsys):
    from qcoinf_ros.cli.bench_pipeline import main
    from qcoinf_ros.models.tiny import save_tiny_git_checkpoint

    save_tiny_git_checkpoint(tmp_path / 'git')
    assert main(['--model', f'git:{tmp_path / "git"}', '--frames', '3', '--warmup', '1',
                 '--max-new-tokens', '3']) == 0
    out = capsys.readouterr().out
    assert re.search(r'ratio ROS / in-process: \d+\.\d{3}', out), out
    sizes = {m.group(1): int(m.group(2))
             for m in re.finditer(r'(none|fp16|int8): +(\d+) bytes per frame', out)}
    assert set(sizes) == {'none', 'fp16', 'int8'}
    assert sizes['int8'] < sizes['fp16'] < sizes['none']
