"""Tests of the Fig. 4 experiment: D^L <= Blahut-Arimoto D(R) <= D^U, and the gaps."""

import csv
import math

import pytest

from qcoinf_ros.core.theory.exact_rate_distortion import exact_distortion_rate
from qcoinf_ros.core.theory.rate_distortion import distortion_upper_bound
from qcoinf_ros.tools.experiments import fig4


def _rows(path):
    with open(path, newline='', encoding='utf-8') as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp('fig4')
    return fig4.run(out, size='small'), out


def test_fig4_ba_between_the_bounds(result):
    _, out = result
    rows = [r for r in _rows(out / 'fig4_blahut_arimoto.csv') if r['accurate'] == 'True']
    assert len(rows) >= 10
    assert float(rows[-1]['rate_bits']) > 6.0
    for r in rows:
        slack = float(r['error_bound'])
        assert float(r['D_L']) <= float(r['D_ba']) + slack
        assert float(r['D_ba']) <= float(r['D_U']) + slack
        assert float(r['D_ba']) == pytest.approx(float(r['D_exact']), rel=2e-3)


def test_fig4_gaps_shape(result):
    res, out = result
    gaps = {float(r['rate_bits']): r for r in _rows(out / 'fig4_gaps.csv')}
    assert {2.0, 4.0, 6.0} <= set(gaps)
    rates = sorted(gaps)
    absolute = [float(gaps[r]['gap_U_abs']) for r in rates]
    assert all(a > b for a, b in zip(absolute, absolute[1:]))  # D^U - D shrinks with R
    for r in (2.0, 4.0, 6.0):
        assert 1.9 < float(gaps[r]['ratio_U']) < 2.05  # D^U ~ 2 D: one bit of rate
        assert 0.9 < float(gaps[r]['ratio_L']) <= 1.0
    assert float(gaps[0.25]['ratio_U']) > 3.0  # loose at very low rate
    verdicts = {f.what.split(' ')[0]: f.agrees for f in res.findings}
    assert verdicts['ordering'] is True
    assert res.findings[2].agrees == (fig4.tight_rate() <= 3.0)


def test_tight_rate_is_where_the_gap_crosses():
    r = fig4.tight_rate()
    gap = distortion_upper_bound(r, 1.0) - exact_distortion_rate(r, 1.0)
    before = distortion_upper_bound(r - 0.05, 1.0) - exact_distortion_rate(r - 0.05, 1.0)
    assert gap <= 0.1 * math.log(2.0) < before
    assert fig4.tight_rate(lam=7.0) == pytest.approx(r)  # scale-free
    with pytest.raises(ValueError, match='fraction'):
        fig4.tight_rate(fraction=1.5)
