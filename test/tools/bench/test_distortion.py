"""Tests of the distortion measurement (paper Fig. 3, eq. (17)) and weight histograms (Fig. 2)."""

import numpy as np
import pytest
import torch
from torch import nn

from qcoinf_ros.core.quant.config import QuantConfig
from qcoinf_ros.core.quant.quantizers import quantize_tensor
from qcoinf_ros.core.theory.rate_distortion import distortion_lower_bound, distortion_upper_bound
from qcoinf_ros.core.theory.weight_stats import fit_exponential
from qcoinf_ros.tools.bench.distortion import (
    measure_distortion, plot_weight_histograms, weight_histogram)


@pytest.fixture(scope='module')
def fcdnn_report():
    """Fig. 3's measurement for FCDNN-16's encoder (shipped weights, the digits test split)."""
    from qcoinf_ros.core.models.fcdnn import digits_split, FcdnnSplit
    split = FcdnnSplit.from_pretrained(None)
    _, test = digits_split()
    return measure_distortion(split.agent_module, split.encode, test, name='fcdnn16-digits')


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))


def test_measure_distortion_by_definition():
    model = _mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(10, 16, generator=torch.Generator().manual_seed(1))
    report = measure_distortion(model, model, x, schemes=('uniform',), bit_widths=(2, 5))
    assert torch.equal(model(x), _mlp()(x))  # weights restored
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])
    assert report.num_weights == 16 * 32 + 32 * 8 and report.num_inputs == 10
    lam = float(fit_exponential([before['0.weight'], before['2.weight']]).lam)
    assert report.lam == pytest.approx(lam)
    for point in report.points:
        config = QuantConfig('uniform', point.bit_width)
        quantized = _mlp()
        with torch.no_grad():
            param = 0.0
            for layer in (quantized[0], quantized[2]):
                q = quantize_tensor(layer.weight, config).values
                param += float((q - layer.weight).abs().sum())
                layer.weight.copy_(q)
            out = (quantized(x) - model(x)).abs().sum(dim=1)
        assert point.param_distortion == pytest.approx(param, rel=1e-6)
        assert point.output_distortion == pytest.approx(float(out.mean()), rel=1e-5)
        assert point.output_distortion_max == pytest.approx(float(out.max()), rel=1e-5)
        assert point.distortion_upper_bound == distortion_upper_bound(point.bit_width - 1, lam)
        assert point.distortion_lower_bound == distortion_lower_bound(point.bit_width - 1, lam)


def test_measure_distortion_rejects_bad_input():
    model = _mlp()
    x = torch.randn(2, 16)
    with pytest.raises(ValueError, match='Invalid quantization scheme: "log"'):
        measure_distortion(model, model, x, schemes=('log',))
    with pytest.raises(ValueError, match='bit_width must be in'):
        measure_distortion(model, model, x, bit_widths=(0, 3))
    with pytest.raises(ValueError, match='at least one'):
        measure_distortion(model, model, x, bit_widths=())


def test_fcdnn_output_distortion_falls_with_bits(fcdnn_report):
    report = fcdnn_report
    assert report.num_weights == 346_112 and report.num_inputs == 360
    # uniform: strictly non-increasing; PoT-log saturates from b = 5 on (the extra levels only
    # reach weights below 2**-14 of the scale), where it may drift up by a fraction of 1 %
    assert report.non_increasing('uniform')
    assert report.non_increasing('potlog', rtol=0.01)
    uniform = report.for_scheme('uniform')
    assert uniform[-1].output_distortion < uniform[1].output_distortion / 50
    potlog = report.for_scheme('potlog')
    assert potlog[-1].output_distortion < potlog[0].output_distortion / 2


def test_empirical_h_bounds_every_measurement(fcdnn_report):
    for scheme in ('uniform', 'potlog'):
        h = fcdnn_report.empirical_h(scheme)
        assert 0 < h < np.inf
        assert fcdnn_report.empirical_h(scheme, 2) <= h
        for point in fcdnn_report.for_scheme(scheme):
            assert point.output_distortion_max <= h * point.param_distortion * (1 + 1e-12)
    data = fcdnn_report.to_dict()
    assert set(data['empirical_h']) == {'uniform', 'potlog'} and len(data['points']) == 16
    with pytest.raises(ValueError, match='no measurement'):
        fcdnn_report.empirical_h('uniform', 9)


def test_weight_histogram_of_fcdnn(fcdnn_report, tmp_path):
    from qcoinf_ros.core.models.fcdnn import load_fcdnn
    model = load_fcdnn()
    hist = weight_histogram(model.encoder, 'FCDNN-16 encoder', bins=50)
    assert hist.num_weights == 346_112 and hist.edges.size == 51
    widths = np.diff(hist.edges)
    assert float((hist.density * widths).sum()) == pytest.approx(hist.fraction_shown)
    assert 0.99 <= hist.fraction_shown <= 1.0
    assert hist.lam == pytest.approx(fcdnn_report.lam)  # same weights, same fit
    pdf = hist.fitted_pdf()
    assert pdf[0] == pytest.approx(hist.lam * np.exp(-hist.lam * hist.centers[0]))
    assert np.all(np.diff(pdf) < 0)
    png = plot_weight_histograms([hist, weight_histogram(torch.randn(1000), 'gauss')],
                                 tmp_path / 'fig2.png')
    assert png.read_bytes()[:4] == b'\x89PNG'


def test_weight_histogram_rejects_bad_input():
    with pytest.raises(ValueError, match='bins'):
        weight_histogram(torch.randn(10), bins=0)
    with pytest.raises(ValueError, match='quantile'):
        weight_histogram(torch.randn(10), quantile=0.0)
    with pytest.raises(ValueError, match='source must be'):
        weight_histogram([1.0, 2.0])
    with pytest.raises(ValueError, match='no weights'):
        weight_histogram(nn.ReLU())


@pytest.mark.slow
def test_minilm_real_weights():
    from qcoinf_ros.core.models.minilm import MiniLM, quantizable_filter, SENTENCES
    minilm = MiniLM.load(None)
    report = measure_distortion(minilm.model, minilm.forward, minilm.tokenize(SENTENCES),
                                name='all-MiniLM-L6-v2', bit_widths=range(1, 9),
                                filter_fn=quantizable_filter)
    assert report.num_weights == 6 * (4 * 384 * 384 + 2 * 384 * 1536)  # pooler left out
    for scheme in ('uniform', 'potlog'):
        # b <= 5 (uniform, per tensor) wrecks the model: the normalised embedding saturates near
        # the distance between unrelated unit vectors and wobbles by ~1 %, hence the tolerance
        assert report.non_increasing(scheme, rtol=0.02), report.max_increase(scheme)
        points = report.for_scheme(scheme)
        assert points[-1].output_distortion < points[0].output_distortion / 3
        h = report.empirical_h(scheme)
        assert all(p.output_distortion_max <= h * p.param_distortion * (1 + 1e-12)
                   for p in points)
