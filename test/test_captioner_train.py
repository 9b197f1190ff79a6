"""Tests of the captioner training: seeded smoke run, saved checkpoint, full run (slow)."""

import json
import math

import pytest
import torch

from qcoinf_ros.captioner.default import WEIGHTS_DIR
from qcoinf_ros.captioner.evaluate import evaluate_captioner, scene_dataset
from qcoinf_ros.captioner.model import CaptionerConfig
from qcoinf_ros.captioner.train import main, save_captioner, train_captioner, TrainConfig
from qcoinf_ros.models.git import GitSplit
from qcoinf_ros.scenes.generator import SceneConfig

TINY = CaptionerConfig(image_size=32, patch_size=8, vision_width=16, vision_layers=1, width=16,
                       layers=1, heads=2)


def _tiny_config(**overrides):
    return TrainConfig(**{'steps': 3, 'batch_size': 4, 'warmup': 1, 'val_every': 0,
                          'val_count': 4, 'model': TINY, 'scenes': SceneConfig(image_size=32),
                          **overrides})


def test_smoke_training_is_seeded_and_saves_a_git_checkpoint(tmp_path):
    lines, steps = [], []
    first = train_captioner(_tiny_config(), log=lines.append,
                            progress=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]
    second = train_captioner(_tiny_config())
    for (name, a), (_, b) in zip(first.model.state_dict().items(),
                                 second.model.state_dict().items()):
        assert torch.equal(a, b), name
    other = train_captioner(_tiny_config(seed=1))
    assert not torch.equal(first.model.output.weight, other.model.output.weight)
    assert len(first.history) == 1 and math.isfinite(first.history[0]['loss'])
    assert 0.0 <= first.history[0]['exact_match'] <= 1.0 and lines
    # The auxiliary position head is not part of the model, and its hook is gone.
    assert not first.model.git.visual_projection._forward_hooks
    # ... but it trains the vision side.
    plain = train_captioner(_tiny_config(position_loss=0.0)).model
    assert not torch.equal(plain.git.visual_projection.visual_projection[0].weight,
                           first.model.git.visual_projection.visual_projection[0].weight)
    out = save_captioner(first, tmp_path / 'ckpt')
    summary = json.loads((out / 'training.json').read_text())
    assert summary['config']['model']['width'] == 16 and summary['train_seconds'] >= 0
    split = GitSplit.from_pretrained(out)
    scores, captions = evaluate_captioner(split, scene_dataset('test', 3,
                                                               SceneConfig(image_size=32)),
                                          max_new_tokens=4)
    assert len(captions) == 3 and 0.0 <= scores.exact_match <= 1.0


def test_train_config_validation():
    with pytest.raises(ValueError, match='steps'):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match='image_size'):
        TrainConfig(model=TINY)
    with pytest.raises(ValueError, match='config'):
        train_captioner({'steps': 1})


@pytest.mark.slow
def test_full_training_reproduces_the_shipped_quality(tmp_path):
    """Retrain with the shipped configuration (~30 min on one core) and compare."""
    shipped = json.loads((WEIGHTS_DIR / 'training.json').read_text())
    config = shipped['config']
    args = ['--steps', str(config['steps']), '--batch-size', str(config['batch_size']),
            '--lr', str(config['lr']), '--warmup', str(config['warmup']),
            '--seed', str(config['seed']), '--val-every', '0', '--out', str(tmp_path)]
    assert main(args) == 0
    retrained = json.loads((tmp_path / 'training.json').read_text())['history'][-1]
    reference = shipped['history'][-1]
    assert retrained['exact_match'] >= min(0.8, reference['exact_match'] - 0.05)
    assert retrained['cider'] >= reference['cider'] - 25.0
