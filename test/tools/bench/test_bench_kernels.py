"""`qcoinf bench kernels` and `qcoinf bench encode` at small sizes (the full runs are manual)."""

import json
import math

import pytest


def test_bench_kernels_prints_ratios_fit_and_errors(tmp_path, capsys):
    from qcoinf_ros.tools.cli.bench_kernels import main
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
    from qcoinf_ros.core.lut.library import load_library
    from qcoinf_ros.tools.bench.kernels import bench_block
    lib = load_library()
    r = bench_block(lib, lib.variant_name, bits=(1, 8), repeats=1, tokens=17)
    assert set(r.lut_ms) == {1, 8} and r.fp32_ms > 0 and r.int8_ms > 0
    assert r.switch_us['lut'] < r.switch_us['reference']  # an assignment vs a weight rewrite
    assert r.rel_error[8] < r.rel_error[1] < 0.05


def test_bench_kernels_int8_times_the_int8_kernels_against_lookup_and_torch(tmp_path, capsys):
    from qcoinf_ros.tools.cli.bench_kernels import main
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
    from qcoinf_ros.tools.cli.bench_kernels import main
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.ros
def test_bench_encode_times_the_node_per_kernel_and_bit_width(ros_env, capsys):
    pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')
    from qcoinf_ros.tools.cli.bench_encode import main
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


def test_as_isa_child_forces_every_contender_and_drops_the_option():
    from qcoinf_ros.tools.cli.bench_kernels import AS_ISA_MARKER, as_isa_child
    cmd, env = as_isa_child('avx2', ['--int8', '--as-isa', 'avx2', '--bits', '1'])
    assert cmd[1:] == ['-m', 'qcoinf_ros.tools.cli.bench_kernels', '--int8', '--bits', '1']
    assert env['QLUT_VARIANT'] == 'avx2' and env['FBGEMM_ENABLE_INSTRUCTIONS'] == 'AVX2'
    assert env['ATEN_CPU_CAPABILITY'] == 'avx2' and env['ONEDNN_MAX_CPU_ISA'] == 'AVX2'
    assert env['MKL_ENABLE_INSTRUCTIONS'] == 'AVX2' and env[AS_ISA_MARKER] == 'avx2'


def test_bench_kernels_as_isa_runs_a_child_that_sees_the_variables(capfd):
    from qcoinf_ros.core.lut.library import load_library
    from qcoinf_ros.tools.cli.bench_kernels import main
    lib = load_library()
    if 'avx2' not in lib.supported:
        pytest.skip('no AVX2 on this CPU')
    assert main(['--as-isa', 'avx2', '--shapes', '8x64x32', '--bits', '1,2', '--repeats', '1',
                 '--no-block', '--variants', 'avx2']) == 0
    out = capfd.readouterr().out
    assert 'forced ISA avx2 (re-executed by --as-isa)' in out
    assert 'QLUT_VARIANT=avx2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2' in out
    assert 'torch CPU capability AVX2' in out and 'avx2 kernels' in out


def test_bench_envelope_times_both_kernels_per_b_threads_and_a_baseline(tmp_path):
    from qcoinf_ros.core.lut.library import KernelLibrary, load_library
    from qcoinf_ros.tools.bench.kernels import bench_envelope
    lib = load_library()
    base = KernelLibrary(lib.path)
    env = bench_envelope({'new': lib, 'baseline': base}, lib.variant_name, bits=(1, 8),
                         repeats=1, threads=(1, 2), tokens=17)
    assert env.threads == [1, 2] and env.libraries == ['new', 'baseline']
    for t in (1, 2):
        assert env.ms[t]['fp32'] > 0 and env.ms[t]['torch_int8'] > 0
        assert {f'{n}/{k}/{b}' for n in ('new', 'baseline') for k in ('lut', 'int8')
                for b in (1, 8)} <= set(env.ms[t])
        assert env.chosen(t, 8)[0] in ('lut', 'int8')
        t0, tp, r2 = env.fits[t]['baseline']
        assert math.isfinite(t0) and math.isfinite(tp)  # one noisy round: no sign to check


def test_kernel_block_int8_matches_its_reference_on_one_layer():
    import numpy as np
    import torch
    from qcoinf_ros.core.lut.int8_reference import int8_linear_reference
    from qcoinf_ros.core.lut.library import load_library
    from qcoinf_ros.core.lut.linear import BitWidth, LutLinear
    from qcoinf_ros.core.lut.planes import unsigned_codes
    from qcoinf_ros.core.quant import QuantConfig, quantize_tensor
    lib = load_library()
    linear = torch.nn.Linear(40, 24)
    qt = quantize_tensor(linear.weight.detach(), QuantConfig('uniform', 8, 8))
    layer = LutLinear.from_linear(linear, qt, BitWidth(8, 3, routes=('qint8',) * 8), lib,
                                  planes=0, codes=True)
    x = torch.randn(5, 40)
    want = int8_linear_reference(x.numpy(), unsigned_codes(qt.codes, 8), 8, 3,
                                 layer.wscale.numpy(), linear.bias.detach().numpy())
    np.testing.assert_array_equal(layer(x).numpy(), want)
