"""`qcoinf bench kernels` and `qcoinf bench encode` at small sizes (the full runs are manual)."""

import json

import pytest


def test_bench_kernels_prints_ratios_fit_and_errors(tmp_path, capsys):
    from qcoinf_ros.cli.bench_kernels import main
    out = tmp_path / 'kernels.json'
    assert main(['--shapes', '8x64x32', '--bits', '1,2,4', '--repeats', '2', '--no-block',
                 '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert '8x64->32' in text and 'R^2' in text and 'ratio to fp32' in text
    data = json.loads(out.read_text())
    row = data['layers'][0]
    assert row['shape'] == [8, 64, 32]
    assert set(map(int, row['lut_ms'])) == {1, 2, 4} and row['fp32_ms'] > 0
    assert all(e < 0.05 for e in row['rel_error'].values())


def test_bench_block_measures_the_vit_block_and_the_switch():
    from qcoinf_ros.bench.kernels import bench_block
    from qcoinf_ros.lut.library import load_library
    lib = load_library()
    r = bench_block(lib, lib.variant_name, bits=(1, 8), repeats=1, tokens=17)
    assert set(r.lut_ms) == {1, 8} and r.fp32_ms > 0 and r.int8_ms > 0
    assert r.switch_us['lut'] < r.switch_us['reference']  # an assignment vs a weight rewrite
    assert r.rel_error[8] < r.rel_error[1] < 0.05


def test_bench_kernels_int8_times_the_int8_kernels_against_lookup_and_torch(tmp_path, capsys):
    from qcoinf_ros.cli.bench_kernels import main
    out = tmp_path / 'int8.json'
    assert main(['--int8', '--shapes', '8x70x33', '--bits', '1,8', '--repeats', '2',
                 '--json', str(out)]) == 0
    text = capsys.readouterr().out
    assert '8x70->33' in text and 'torch int8 ms' in text and 'exact int8 kernels' in text
    row = json.loads(out.read_text())['int8'][0]
    assert row['shape'] == [8, 70, 33] and row['fp32_ms'] > 0 and row['torch_int8_ms'] > 0
    assert set(map(int, row['int8_ms'])) == {1, 8} == set(map(int, row['lut_ms']))
    assert all(e < 0.05 for e in row['rel_error'].values())


@pytest.mark.parametrize('argv, message', [
    (['--variants', 'sse9'], 'Invalid kernel variant'),
    (['--bits', '0'], 'bits in 1..8'),
])
def test_bench_kernels_refuses_bad_arguments(argv, message, capsys):
    from qcoinf_ros.cli.bench_kernels import main
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.ros
def test_bench_encode_times_the_node_per_kernel_and_bit_width(ros_env, capsys):
    pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')
    from qcoinf_ros.cli.bench_encode import main
    assert main(['--kernels', 'auto,reference', '--bits', '1,8', '--frames', '2',
                 '--size', '96']) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()
             if line.strip().startswith(('lut+qint8/', 'reference/'))]
    assert len(lines) == 4  # two kernels x two bit-widths
    for kernel_isa, b, runs_on, measured, predicted, error, vs_fp32, _ in lines:
        assert int(b) in (1, 8) and float(measured) > 0 and float(predicted) > 0
        assert error.endswith('%') and error[0] in '+-'
        if kernel_isa.startswith('reference/'):
            assert vs_fp32 == '1.00x' and runs_on == 'reference'
        else:
            assert runs_on in ('lut', 'qint8')
