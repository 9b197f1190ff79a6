"""Tests of `qcoinf eval captioner`: real-checkpoint path, bit-width sweep, sweep bookkeeping."""

import json

import numpy as np
import pytest
import torch

from qcoinf_ros.core.captioner.evaluate import (
    bit_width_sweep, evaluate_captioner, scene_dataset, SweepResult, SweepRow)
from qcoinf_ros.core.captioner.metrics import CaptionScores
from qcoinf_ros.core.captioner.model import build_processor
from qcoinf_ros.core.captioner.tokenizer import scene_tokenizer
from qcoinf_ros.core.models.embedded import load_captioner, load_default_captioner
from qcoinf_ros.core.models.tiny import tiny_blip2, tiny_git
from qcoinf_ros.core.scenes.coco import write_coco
from qcoinf_ros.core.scenes.generator import iter_scenes
from qcoinf_ros.tools.cli.eval_captioner import main


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    """Save a random tiny GIT (32 x 32 input) with a GitProcessor, like a real checkpoint."""
    path = tmp_path_factory.mktemp('git_tiny_ckpt')
    tokenizer = scene_tokenizer()
    tiny_git(seed=0, vocab_size=len(tokenizer)).save_pretrained(path)
    build_processor(tokenizer, 32).save_pretrained(path)
    return path


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    """Write a COCO captions file with 5 scenes and one odd-sized photo-like image."""
    root = tmp_path_factory.mktemp('coco')
    samples = list(iter_scenes('test', 5))
    odd = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    samples.append((odd, ['a noisy picture', 'random pixels'], 424242))
    write_coco(samples, root / 'captions.json', root / 'images')
    return root / 'captions.json', root / 'images'


def test_eval_runs_with_a_local_checkpoint_and_coco_file(tiny_checkpoint, tiny_coco, tmp_path,
                                                         capsys):
    annotations, images = tiny_coco
    out = tmp_path / 'out'
    code = main(['--checkpoint', str(tiny_checkpoint), '--annotations', str(annotations),
                 '--images', str(images), '--bits', '8', '2', '--max-new-tokens', '6',
                 '--out', str(out), '--show', '2'])
    assert code == 0
    printed = capsys.readouterr().out
    assert 'fp32 CIDEr-D' in printed and 'potlog' in printed and '6 images' in printed
    results = json.loads((out / 'results.json').read_text())
    assert results['fp32']['count'] == 6 and results['cider_scale'] == 'x100'
    rows = results['rows']
    assert {(r['scheme'], r['bit_width']) for r in rows} == {
        (s, b) for s in ('uniform', 'potlog') for b in (2, 8)}
    for entry in [results['fp32'], *rows]:
        assert entry['cider'] >= 0.0 and np.isfinite(entry['cider'])
        assert 0.0 <= entry['exact_match'] <= 1.0
    captions = json.loads((out / 'captions_fp32.json').read_text())
    assert len(captions) == 6 and 424242 in {c['image_id'] for c in captions}
    assert (out / 'quality_vs_bits.png').stat().st_size > 1000


def test_eval_runs_with_a_local_blip2_checkpoint(tiny_coco, tmp_path):
    from transformers import Blip2Processor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    tokenizer = scene_tokenizer()
    processor = Blip2Processor(CLIPImageProcessorPil(size={'shortest_edge': 32},
                                                     crop_size={'height': 32, 'width': 32}),
                               tokenizer, num_query_tokens=4)
    image_token = processor.tokenizer.convert_tokens_to_ids('<image>')
    tiny_blip2(seed=0, vocab_size=len(processor.tokenizer),
               image_token_index=image_token).save_pretrained(tmp_path / 'blip2')
    processor.save_pretrained(tmp_path / 'blip2')
    annotations, images = tiny_coco
    out = tmp_path / 'out'
    assert main(['--checkpoint', str(tmp_path / 'blip2'), '--annotations', str(annotations),
                 '--images', str(images), '--bits', '4', '--schemes', 'potlog',
                 '--max-new-tokens', '4', '--out', str(out)]) == 0
    results = json.loads((out / 'results.json').read_text())
    assert results['fp32']['count'] == 6 and len(results['rows']) == 1
    assert 0.0 <= results['rows'][0]['exact_match'] <= 1.0 and results['rows'][0]['cider'] >= 0


def test_eval_errors(tiny_checkpoint, tiny_coco, tmp_path, capsys):
    annotations, _ = tiny_coco
    with pytest.raises(SystemExit):
        main(['--annotations', str(annotations)])
    assert main(['--checkpoint', str(tmp_path / 'nothing'), '--count', '2', '--fp32-only']) == 2
    assert 'error' in capsys.readouterr().err
    model = load_captioner(str(tiny_checkpoint))
    with pytest.raises(ValueError, match='at least 2'):
        evaluate_captioner(model, scene_dataset('test', 1))
    with pytest.raises(ValueError, match='scheme'):
        bit_width_sweep(model, scene_dataset('test', 2), schemes=['log'])


def test_quality_falls_with_the_bit_width_and_weights_are_restored():
    model = load_default_captioner()
    samples = scene_dataset('test', 40)
    before = {k: v.clone() for k, v in model.agent_module.state_dict().items()}
    result = bit_width_sweep(model, samples, bit_widths=[1, 8], dataset='test scenes')
    fp32 = result.fp32.cider
    assert result.fp32.exact_match >= 0.8
    for scheme in ('uniform', 'potlog'):
        high, low = (next(r for r in result.rows if (r.scheme, r.bit_width) == (scheme, b))
                     for b in (8, 1))
        assert high.cider >= 0.95 * fp32
        assert high.exact_match >= result.fp32.exact_match - 0.1
        assert low.cider < 0.6 * fp32 and low.exact_match < 0.2
    after = model.agent_module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    scores, _ = evaluate_captioner(model, samples)
    assert scores == result.fp32


def test_within_tolerance_bookkeeping():
    fp32 = CaptionScores(100.0, 0.9, 10)
    rows = [SweepRow('uniform', b, c, 0.5) for b, c in
            [(1, 10.0), (2, 99.5), (3, 98.0), (4, 99.2), (5, 100.3)]]
    rows += [SweepRow('potlog', b, c, 0.5) for b, c in [(4, 50.0), (5, 97.0)]]
    result = SweepResult('m', 'd', fp32, rows)
    assert result.schemes() == ['uniform', 'potlog']
    assert result.within(1.0) == {'uniform': 4, 'potlog': None}
    assert result.within(3.0) == {'uniform': 2, 'potlog': 5}
    assert result.as_dict(1.0)['within_tolerance']['bit_width']['uniform'] == 4
    with pytest.raises(ValueError, match='tolerance'):
        result.within(-1.0)
