"""Tests of the captioner training: seeded smoke run, saved checkpoint, full run (slow)."""

import json
import math

import pytest
import torch

from qcoinf_ros.core.captioner.evaluate import evaluate_captioner, scene_dataset
from qcoinf_ros.core.captioner.model import CaptionerConfig
from qcoinf_ros.core.captioner.train import save_captioner, train_captioner, TrainConfig
from qcoinf_ros.core.models.embedded import TINY_DIR
from qcoinf_ros.core.models.git import GitSplit
from qcoinf_ros.core.scenes.generator import SceneConfig
from qcoinf_ros.tools.cli.train_captioner import main

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
    shipped = json.loads((TINY_DIR / 'training.json').read_text())
    config = shipped['config']
    args = ['--steps', str(config['steps']), '--batch-size', str(config['batch_size']),
            '--lr', str(config['lr']), '--warmup', str(config['warmup']),
            '--seed', str(config['seed']), '--val-every', '0', '--out', str(tmp_path)]
    assert main(args) == 0
    retrained = json.loads((tmp_path / 'training.json').read_text())['history'][-1]
    reference = shipped['history'][-1]
    assert retrained['exact_match'] >= min(0.8, reference['exact_match'] - 0.05)
    assert retrained['cider'] >= reference['cider'] - 25.0


def test_distillation_trains_the_agent_only_is_seeded_and_ships(tmp_path):
    from transformers import GitForCausalLM

    from qcoinf_ros.core.captioner.distill import distill_captioner, DistillConfig, ship_captioner
    from qcoinf_ros.core.captioner.model import new_captioner
    from qcoinf_ros.core.captioner.tokenizer import scene_tokenizer
    from qcoinf_ros.core.models.shipped import is_shipped

    student = CaptionerConfig(vision_width=48, vision_layers=1, vision_heads=3)
    train = TrainConfig(steps=2, batch_size=4, warmup=1, val_every=0, val_count=4, threads=1,
                        workers=0, position_loss=0.0, model=student)
    config = DistillConfig(train=train)
    lines = []
    first = distill_captioner(config, log=lines.append)
    second = distill_captioner(config)
    teacher = GitForCausalLM.from_pretrained(str(TINY_DIR), local_files_only=True).state_dict()
    init = new_captioner(student, scene_tokenizer(), train.seed).state_dict()
    for name, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[name]), name  # seeded
        if name.startswith(('git.image_encoder.', 'git.visual_projection.')):
            continue
        assert torch.equal(value, teacher[name]), name  # the decoder is the teacher's, frozen
    fc1 = 'git.image_encoder.vision_model.encoder.layers.0.mlp.fc1.weight'
    assert not torch.equal(first.model.state_dict()[fc1], init[fc1])  # the agent learned
    assert first.history[-1]['embedding_mse'] > 0 and lines
    out = tmp_path / 'shipped'
    quality = ship_captioner(first.model, first.processor, out, {'note': 1}, count=4)
    assert is_shipped(out) and set(quality) == {'dataset', 'cider_scale', 'fp32', 'shipped'}
    record = json.loads((out / 'training.json').read_text())
    assert record['note'] == 1 and record['quality'] == quality
    sweep = json.loads((out / 'quality.json').read_text())
    assert {(r['scheme'], r['bit_width']) for r in sweep['rows']} == {
        (s, b) for s in ('uniform', 'potlog') for b in range(1, 9)}
    assert sweep['fp32'] == quality['shipped']
    with pytest.raises(ValueError, match="teacher must be 'tiny'"):
        DistillConfig(teacher='default')
    with pytest.raises(ValueError, match='embedding_loss'):
        DistillConfig(embedding_loss=-1.0)


@pytest.mark.slow
def test_full_distillation_reproduces_the_shipped_default(tmp_path):
    """Re-distil the default captioner (~45 min on 2 cores) and compare with what ships."""
    from qcoinf_ros.core.models.embedded import DEFAULT_DIR
    from qcoinf_ros.tools.cli.distill_captioner import main as distill

    shipped = json.loads((DEFAULT_DIR / 'training.json').read_text())
    assert distill(['--out', str(tmp_path / 'fp32'), '--ship', str(tmp_path / 'ship')]) == 0
    again = json.loads((tmp_path / 'ship' / 'training.json').read_text())
    assert again['distillation'] == shipped['distillation']
    assert again['train_seconds'] <= 3600
    for key in ('fp32', 'shipped'):
        assert again['quality'][key]['cider'] == pytest.approx(
            shipped['quality'][key]['cider'], abs=5.0)
        assert again['quality'][key]['exact_match'] >= 0.95
