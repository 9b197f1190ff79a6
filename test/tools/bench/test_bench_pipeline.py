"""`qcoinf bench pipeline` runs end to end and prints its figures (no timing asserted)."""

import re

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def test_bench_pipeline_prints_the_ratio_and_codec_sizes(ros_env, tmp_path, capsys):
    from qcoinf_ros.tools.cli.bench_pipeline import main
    from qcoinf_ros.tools.cli.main import main as qcoinf

    def make_random_git(argv):
        return qcoinf(['make', 'random-git', *argv])

    # `qcoinf make random-git` at a tiny size
    assert make_random_git([str(tmp_path / 'git'), '--width', '32', '--layers', '2',
                            '--image-size', '32', '--patch-size', '8']) == 0
    assert 'random GIT checkpoint' in capsys.readouterr().out
    with pytest.raises(SystemExit):  # never overwrites
        make_random_git([str(tmp_path / 'git')])
    assert main(['--model', f'git:{tmp_path / "git"}', '--frames', '3', '--warmup', '1',
                 '--max-new-tokens', '3', '--dtype', 'bfloat16']) == 0
    out = capsys.readouterr().out
    assert 'on cpu (bfloat16 server part)' in out, out
    assert re.search(r'ratio ROS / in-process: \d+\.\d{3}', out), out
    split = re.search(r'computing: median ([\d.]+) ms; the rest .*: median (-?[\d.]+) ms', out)
    assert split and float(split.group(1)) > 0 and float(split.group(2)) >= 0, out
    sizes = {m.group(1): int(m.group(2))
             for m in re.finditer(r'(none|fp16|int8): +(\d+) bytes per frame', out)}
    assert set(sizes) == {'none', 'fp16', 'int8'}
    assert sizes['int8'] < sizes['fp16'] < sizes['none']
