"""Tests of ``qcoinf bench quant`` and the CPU low-bit kernels it measures."""

import json

import pytest
import torch
from torch import nn

from qcoinf_ros.core.models.fcdnn import FcdnnSplit
from qcoinf_ros.core.quant.kernels import (
    int4_weight_only, Int4Linear, int8_dynamic, measure_latency)
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.tools.bench.quant import bench_target, build_target
from qcoinf_ros.tools.cli.bench_quant import main


@pytest.mark.parametrize('granularity', ['per_tensor', 'per_channel'])
def test_int4_kernel_reproduces_uniform_weights_exactly(granularity):
    split = FcdnnSplit()
    x = split.example_inputs(8)
    nested = NestedQuantizedModel(split.agent_module, 'uniform', 8, granularity)
    for bits in (1, 2, 3, 4):
        nested.set_bit_width(bits)
        fake = split.agent_module(x)
        int4, converted = int4_weight_only(split.agent_module, nested.quantized_tensors())
        assert converted == 7
        assert torch.allclose(int4(x), fake, rtol=1e-5, atol=1e-5 * float(fake.abs().max()))


def test_int4_refuses_what_it_cannot_run():
    layer = nn.Linear(32, 16)
    nested = NestedQuantizedModel(nn.Sequential(layer), 'potlog', 4)
    qt = nested.quantized_tensors()['0.weight']
    assert not Int4Linear.supports(layer, qt)
    with pytest.raises(ValueError, match='uniform b <= 4'):
        Int4Linear(layer, qt)
    odd = nn.Linear(30, 16)
    assert not Int4Linear.supports(odd, NestedQuantizedModel(nn.Sequential(odd), 'uniform', 4)
                                   .quantized_tensors()['0.weight'])


def test_int8_dynamic_runs_close_to_fake_quant():
    split = FcdnnSplit()
    x = split.example_inputs(8)
    int8 = int8_dynamic(split.agent_module)
    out = int8(x)
    ref = split.agent_module(x)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) < 0.05 * float(ref.abs().max())
    assert measure_latency(int8, x, repeats=2, warmup=0) > 0


def test_bench_rows_and_restored_weights():
    target = build_target('fcdnn', batch=2)
    before = {k: v.clone() for k, v in target.module.state_dict().items()}
    result = bench_target(target, ('uniform', 'potlog'), (2, 4, 8), repeats=2, warmup=0)
    assert [(r.scheme, r.bit_width) for r in result.rows] == [
        ('uniform', 2), ('uniform', 4), ('uniform', 8), ('potlog', 2), ('potlog', 4),
        ('potlog', 8)]
    for row in result.rows:
        assert row.bytes_ratio == pytest.approx(row.bit_width / 32, abs=1e-3)
        assert row.switch_ms > 0 and row.fake_ms > 0 and row.int8_ms > 0
        assert (row.int4_ms is not None) == (row.scheme == 'uniform' and row.bit_width <= 4)
        assert (row.lut_ms is not None) == (row.scheme == 'uniform')  # the bit-plane kernels
    assert result.flops.agent == 2 * result.flops.server / 2 > 0
    for name, value in target.module.state_dict().items():
        assert torch.equal(value, before[name]), name


def test_cli_prints_table_and_json(tmp_path, capsys):
    out = tmp_path / 'bench.json'
    rc = main(['--models', 'fcdnn', '--bits', '1,3-4', '--schemes', 'potlog', '--repeats', '2',
               '--no-kernels', '--json', str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert 'fcdnn' in text and 'switch ms' in text
    data = json.loads(out.read_text())
    assert [row['bit_width'] for row in data[0]['rows']] == [1, 3, 4]
    assert data[0]['rows'][0]['int8_ms'] is None


@pytest.mark.parametrize('argv, message', [
    (['--models', 'resnet'], 'Invalid bench model'),
    (['--schemes', 'log'], 'Invalid quantization scheme'),
    (['--bits', '9', '--models', 'fcdnn'], 'bit_width must be in'),
])
def test_cli_rejects_bad_options(argv, message, capsys):
    assert main(argv + ['--repeats', '1', '--no-kernels']) == 2
    assert message in capsys.readouterr().err
