"""Tests of FCDNN-16: architecture, shipped weights, split == monolithic, training, FLOPs."""

from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
import torch
from torch import nn

from qcoinf_ros.core.models.fcdnn import (
    digits_split, ENCODER_DIMS, FCDNN16, FcdnnSplit, load_fcdnn, WEIGHTS_PATH)
from qcoinf_ros.core.models.fcdnn_train import (
    evaluate_mse, save_fcdnn, train_fcdnn, TrainConfig)
from qcoinf_ros.tools.cli.main import main as qcoinf


def test_architecture_is_16_layers_of_neurons():
    model = FCDNN16()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 14  # 8 + 8 layers of neurons, 7 weight matrices per half
    dims = [linears[0].in_features] + [m.out_features for m in linears]
    assert dims == list(ENCODER_DIMS) + list(reversed(ENCODER_DIMS))[1:]
    # ReLU after each hidden layer, none at the code or at the output (eq. (10))
    assert not isinstance(model.encoder[-1], nn.ReLU)
    assert not isinstance(model.decoder[-1], nn.ReLU)
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 12


def test_shipped_weights_reconstruct_the_digits():
    assert WEIGHTS_PATH.is_file() and WEIGHTS_PATH.stat().st_size < 4_000_000
    with safe_open(str(WEIGHTS_PATH), 'pt') as handle:
        metadata = handle.metadata()
    model = load_fcdnn()
    _, test = digits_split()
    mse = evaluate_mse(model, test)
    assert mse == pytest.approx(float(metadata['test_mse']), rel=1e-3)
    baseline = float(((test - test.mean(0)) ** 2).mean())  # predicting the mean image
    assert mse < baseline / 4


def test_split_equals_monolithic():
    split = FcdnnSplit()
    model = load_fcdnn()
    _, test = digits_split()
    embedding = split.encode(test)
    assert embedding.shape == (test.shape[0], *split.embedding_shape) == (360, 32)
    assert torch.equal(split.decode(embedding), model(test))


def test_decode_accepts_a_half_precision_embedding():
    split = FcdnnSplit()
    x = split.example_inputs(4)
    embedding = split.encode(x)
    out = split.decode(embedding.half())
    assert out.dtype == torch.float32
    assert torch.allclose(out, split.decode(embedding), atol=1e-2)


def test_parts_live_apart():
    agent = FcdnnSplit(parts='agent')
    server = FcdnnSplit(parts=['server'])
    x = agent.example_inputs(4)
    assert torch.equal(server.decode(agent.encode(x)), load_fcdnn()(x))
    with pytest.raises(ValueError, match='server part was not loaded'):
        agent.decode(agent.encode(x))
    with pytest.raises(ValueError, match='agent part was not loaded'):
        server.encode(x)
    with pytest.raises(ValueError, match='Invalid model parts'):
        FcdnnSplit(parts=('agent', 'edge'))


def test_preprocess_and_input_checks():
    split = FcdnnSplit()
    from sklearn.datasets import load_digits
    images = load_digits().images[:3]  # 8x8, values 0..16
    x = split.preprocess(images)
    assert x.shape == (3, 64) and float(x.max()) <= 1.0
    assert split.preprocess(images[0]).shape == (1, 64)
    with pytest.raises(ValueError, match='64 values'):
        split.preprocess(np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r'shape \(batch, 64\)'):
        split.encode(torch.zeros(2, 10))
    with pytest.raises(ValueError, match='floating-point'):
        split.encode(torch.zeros(2, 64, dtype=torch.long))
    with pytest.raises(ValueError, match=r'shape \(batch, 32\)'):
        split.decode(torch.zeros(2, 64))


def test_flops_counted_per_part():
    split = FcdnnSplit()
    flops = split.flops(split.example_inputs(3))
    per_sample = 2 * sum(a * b for a, b in zip(ENCODER_DIMS[:-1], ENCODER_DIMS[1:]))
    assert flops.agent == flops.server == 3 * per_sample  # 2 FLOPs per multiply-add
    assert flops.total == 2 * flops.agent


def test_bad_weights_file(tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
        load_fcdnn(tmp_path / 'missing.safetensors')
    from safetensors.torch import save_file
    bad = tmp_path / 'bad.safetensors'
    save_file({'w': torch.zeros(2)}, str(bad))
    with pytest.raises(ValueError, match='does not hold FCDNN-16 weights'):
        load_fcdnn(bad)


def test_short_training_is_seeded_and_learns(tmp_path):
    config = TrainConfig(epochs=2, batch_size=128)
    first = train_fcdnn(config)
    second = train_fcdnn(config)
    assert first.test_mse == second.test_mse  # same seed, same result
    assert len(first.history) == 2 and first.seconds > 0
    assert first.history[-1] < evaluate_mse(_untrained(), digits_split()[1])
    path = save_fcdnn(first, tmp_path / 'w.safetensors')
    assert torch.equal(load_fcdnn(path).encoder[0].weight, first.model.encoder[0].weight)


def _untrained():
    torch.manual_seed(0)
    model = FCDNN16()
    model.reset_parameters()
    return model.eval()


@pytest.mark.parametrize('kwargs', [{'epochs': 0}, {'lr': -1.0}, {'test_fraction': 1.0},
                                    {'batch_size': 1.5}, {'weight_decay': -1.0}])
def test_train_config_validated(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_training_cli_writes_weights(tmp_path, capsys):
    out = tmp_path / 'fc.safetensors'
    assert qcoinf(['train', 'fcdnn', '--epochs', '1', '--batch-size', '256', '--out',
                   str(out)]) == 0
    assert 'test MSE' in capsys.readouterr().out
    assert isinstance(load_fcdnn(out), FCDNN16)


@pytest.mark.slow
def test_full_training_reproduces_shipped_weights(tmp_path):
    result = train_fcdnn(TrainConfig())
    with safe_open(str(WEIGHTS_PATH), 'pt') as handle:
        shipped = float(handle.metadata()['test_mse'])
    assert result.test_mse == pytest.approx(shipped, rel=1e-3)
    assert Path(save_fcdnn(result, tmp_path / 'w.safetensors')).is_file()
