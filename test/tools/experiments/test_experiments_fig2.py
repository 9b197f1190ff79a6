"""Tests of the Fig. 2 experiment: weight-magnitude histograms and exponential fits."""

import csv

import numpy as np
import pytest
import torch

from qcoinf_ros.core.quant.quantizers import quantizable_weights
from qcoinf_ros.tools.experiments import fig2


def _rows(path):
    with open(path, newline='', encoding='utf-8') as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp('fig2')
    return fig2.run(out, size='small'), out


def test_fig2_fits_every_small_model_by_definition(result):
    res, out = result
    fits = {row['model']: row for row in _rows(out / 'fig2_fits.csv')}
    assert set(fits) == {'fcdnn16', 'captioner'}
    from qcoinf_ros.core.models.fcdnn import FcdnnSplit
    encoder = FcdnnSplit.from_pretrained().agent_module
    theta = torch.cat([w.detach().reshape(-1).abs().double()
                       for _, w in quantizable_weights(encoder)])
    row = fits['fcdnn16']
    assert int(row['num_weights']) == theta.numel()
    assert float(row['lam']) == pytest.approx(1.0 / float(theta.mean()), rel=1e-5)
    for row in fits.values():
        assert 0.0 < float(row['ks_exponential']) < 1.0
        assert 0.0 < float(row['ks_halfnormal']) < 1.0
        assert 0.99 <= float(row['fraction_shown']) <= 1.0
    assert [f.what.split(':')[0] for f in res.findings] == [
        'FCDNN-16 encoder (digits)', 'default captioner (GIT, agent)']
    for finding in res.findings:
        ks = float(fits['fcdnn16' if 'FCDNN' in finding.what else 'captioner']
                   ['ks_exponential'])
        half = float(fits['fcdnn16' if 'FCDNN' in finding.what else 'captioner']
                     ['ks_halfnormal'])
        assert finding.agrees == (ks <= fig2.KS_CLOSE and ks < half)


def test_fig2_histograms_are_densities(result):
    _, out = result
    rows = _rows(out / 'fig2_histograms.csv')
    for model in ('fcdnn16', 'captioner'):
        mine = [r for r in rows if r['model'] == model]
        assert len(mine) == 80
        mass = sum(float(r['density']) * (float(r['bin_high']) - float(r['bin_low']))
                   for r in mine)
        assert mass == pytest.approx(1.0, abs=0.011)  # the 99.9 % quantile is the last edge
        # the fitted density is lam exp(-lam theta): decreasing from the first bin
        pdf = [float(r['exp_pdf']) for r in mine]
        assert all(a > b for a, b in zip(pdf, pdf[1:]))
    png = (out / 'fig2.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_halfnormal_ks_tells_the_two_models_apart():
    rng = np.random.default_rng(0)
    half = np.abs(rng.normal(size=50_000))
    expo = rng.exponential(size=50_000)
    assert fig2.halfnormal_ks(half) < 0.01
    assert fig2.halfnormal_ks(expo) > 0.05
    with pytest.raises(ValueError, match='non-zero'):
        fig2.halfnormal_ks(np.zeros(10))


def test_fig2_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match='size must be one of'):
        fig2.run(tmp_path, size='medium')
    with pytest.raises(ValueError, match='unknown option'):
        fig2.run(tmp_path, size='small', checkpoint='x')
    with pytest.raises(ValueError, match='git checkpoint directory'):
        fig2.run(tmp_path, size='small', git=str(tmp_path / 'missing'))
