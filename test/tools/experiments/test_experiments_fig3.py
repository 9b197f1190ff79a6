"""Tests of the Fig. 3 experiment: output distortion vs the parameter-distortion bound."""

import csv

import pytest

from qcoinf_ros.tools.experiments import fig3


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp('fig3')
    res = fig3.run(out, size='small')
    with open(out / 'fig3.csv', newline='', encoding='utf-8') as stream:
        return res, list(csv.DictReader(stream))


def test_fig3_rows_and_bound_by_construction(result):
    _, rows = result
    keys = {(r['model'], r['scheme']) for r in rows}
    assert keys == {(m, s) for m in ('fcdnn16', 'captioner') for s in ('uniform', 'potlog')}
    for key in keys:
        mine = sorted((r for r in rows if (r['model'], r['scheme']) == key),
                      key=lambda r: int(r['b']))
        assert [int(r['b']) for r in mine] == list(range(1, 9))
        h = float(mine[0]['H'])
        for r in mine:
            assert float(r['bound']) == pytest.approx(h * float(r['param_l1']), rel=1e-5)
        # H is the largest calibration ratio over b >= 2: rho >= 1 there, = 1 where attained
        rho = [float(r['rho']) for r in mine if int(r['b']) >= 2]
        assert min(rho) == pytest.approx(1.0, rel=1e-5)
        assert all(value >= 1.0 - 1e-5 for value in rho)
        # parameter distortion falls with b (uniform strictly; PoT-log saturates)
        params = [float(r['param_l1']) for r in mine]
        if key[1] == 'uniform':
            assert all(a > b for a, b in zip(params, params[1:]))
        else:
            assert all(a >= b * (1 - 1e-6) for a, b in zip(params, params[1:]))


def test_fig3_findings_follow_the_data(result):
    res, rows = result
    assert len(res.findings) == 2 * 3
    for finding in res.findings:
        if 'tight from b' not in finding.what:
            continue
        model = 'fcdnn16' if 'FCDNN' in finding.what else 'captioner'
        scheme = 'uniform' if ', uniform' in finding.what else 'potlog'
        rho = {int(r['b']): float(r['rho']) for r in rows
               if r['model'] == model and r['scheme'] == scheme and int(r['b']) >= 2}
        first = fig3.tight_from(rho)
        assert finding.agrees == (first is not None
                                  and first <= fig3.PAPER_TIGHT_FROM[scheme])
    assert (res.figures[0]).stat().st_size > 10_000


def test_tight_from():
    assert fig3.tight_from({2: 3.0, 3: 1.5, 4: 1.9}) == 3
    assert fig3.tight_from({2: 1.0, 3: 2.5, 4: 1.0}) == 4
    assert fig3.tight_from({2: 1.0, 3: 1.0}) == 2
    assert fig3.tight_from({2: 5.0, 3: 2.1}) is None
    assert fig3.tight_from({2: 2.9, 3: 2.9}, factor=3.0) == 2
    with pytest.raises(ValueError, match='at least one'):
        fig3.tight_from({})
