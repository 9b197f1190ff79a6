"""Tests of the kernel-envelope experiment: each b on the faster of its two exact kernels."""

import csv

import pytest

from qcoinf_ros.tools.bench.kernels import Envelope
from qcoinf_ros.tools.experiments import kernels


def test_the_rows_choose_the_faster_kernel_and_hold_its_ratios():
    ms = {1: {'fp32': 20.0, 'torch_int8': 10.0, 'new/lut/1': 4.0, 'new/int8/1': 9.0,
              'new/lut/8': 24.0, 'new/int8/8': 9.0},
          2: {'fp32': 11.0, 'torch_int8': 6.0, 'new/lut/1': 2.5, 'new/int8/1': 5.0,
              'new/lut/8': 13.0, 'new/int8/8': 5.4}}
    env = Envelope('avx2', [1, 2], ms, ['new'], {})
    rows = {(r[0], r[1]): r for r in kernels.envelope_rows(env)}
    assert set(rows) == {(1, 1), (1, 8), (2, 1), (2, 8)}
    assert rows[(1, 1)][4:6] == ('lut', 4.0) and rows[(1, 8)][4:6] == ('int8', 9.0)
    assert rows[(1, 8)][8] == pytest.approx(9.0 / 20.0)  # chosen / fp32
    assert rows[(1, 8)][9] == pytest.approx(9.0 / 10.0)  # chosen / torch int8
    assert rows[(2, 8)][10] == pytest.approx(5.4 / 9.0)  # two threads / one, chosen kernels
    assert rows[(2, 1)][10] == pytest.approx(2.5 / 4.0)
    assert rows[(1, 8)][11] == pytest.approx(8 / 32)  # eq. (4)


def test_the_experiment_measures_the_envelope_on_this_cpu(tmp_path):
    from qcoinf_ros.core.lut.library import load_library
    if load_library() is None:
        pytest.fail('the kernel library is not built (test_lut_kernels.py says why)')
    res = kernels.run(tmp_path, size='small')
    with open(tmp_path / 'kernels_envelope.csv', newline='', encoding='utf-8') as stream:
        rows = list(csv.DictReader(stream))
    assert [(int(r['threads']), int(r['b'])) for r in rows] == [(1, 1), (1, 2), (1, 8)]
    for r in rows:
        lut, int8, chosen = float(r['lut_ms']), float(r['int8_ms']), float(r['chosen_ms'])
        assert chosen == min(lut, int8) and r['chosen'] == ('lut' if lut <= int8 else 'int8')
        assert float(r['chosen_over_fp32']) == pytest.approx(chosen / float(r['fp32_ms']),
                                                             rel=1e-4)
    assert [f.agrees for f in res.findings] == [None, None]  # new measurements
    assert 'kernel per b: 1: ' in res.findings[0].ours
    assert (tmp_path / 'kernels.png').stat().st_size > 10_000


def test_options_it_does_not_take_are_refused(tmp_path):
    with pytest.raises(ValueError, match='unknown option'):
        kernels.run(tmp_path, size='small', bogus='1')
