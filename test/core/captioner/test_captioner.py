"""Tests of the captioner's tokenizer, processor, metrics and the two embedded models."""

import json
import time

import numpy as np
import pytest
import torch

from qcoinf_ros.core.captioner.evaluate import generate_captions
from qcoinf_ros.core.captioner.metrics import (
    cider_score, exact_match_rate, normalize_caption, score_captions)
from qcoinf_ros.core.captioner.model import build_processor, CaptionerConfig
from qcoinf_ros.core.captioner.tokenizer import build_tokenizer, scene_tokenizer, SPECIAL_TOKENS
from qcoinf_ros.core.captioner.train import TRAINING_FILE
from qcoinf_ros.core.models.base import image_batch
from qcoinf_ros.core.models.embedded import (
    DEFAULT_DIR, DEFAULT_MODEL_ID, embedded_name, is_default_model, load_captioner,
    load_default_captioner, load_embedded_captioner, TINY_DIR, TINY_MODEL_ID, WEIGHTS_ROOT)
from qcoinf_ros.core.models.git import GitSplit
from qcoinf_ros.core.models.registry import load_split
from qcoinf_ros.core.models.shipped import AGENT_FILE, SERVER_FILE
from qcoinf_ros.core.quant import quantizable_weights
from qcoinf_ros.core.scenes.generator import caption_vocabulary, iter_scenes, make_scene


def test_tokenizer_round_trip():
    tokenizer = scene_tokenizer()
    assert len(tokenizer) == len(SPECIAL_TOKENS) + len(caption_vocabulary())
    assert (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id) == (0, 2, 3)
    assert tokenizer.bos_token_id == tokenizer.cls_token_id
    assert tokenizer.eos_token_id == tokenizer.sep_token_id
    captions = [c for _, refs, _ in iter_scenes('train', 40) for c in refs]
    encoded = tokenizer(captions, padding=True)
    for ids, mask, caption in zip(encoded.input_ids, encoded.attention_mask, captions):
        real = [i for i, m in zip(ids, mask) if m]
        assert real[0] == tokenizer.cls_token_id and real[-1] == tokenizer.sep_token_id
        assert tokenizer.unk_token_id not in real
        assert len(real) == len(caption.split()) + 2
    assert tokenizer.batch_decode(encoded.input_ids, skip_special_tokens=True) == captions
    ids = tokenizer('A Red, circle!').input_ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == 'a red circle'
    assert tokenizer('a zebra').input_ids[2] == tokenizer.unk_token_id


def test_tokenizer_rejects_bad_words():
    with pytest.raises(ValueError, match='words'):
        build_tokenizer(['fine', 'Not'])
    with pytest.raises(ValueError, match='words'):
        build_tokenizer(['two words'])
    with pytest.raises(ValueError, match='words'):
        build_tokenizer([])


def test_processor_equals_image_batch_on_scenes():
    size = CaptionerConfig().image_size
    processor = build_processor(scene_tokenizer(), size)
    images = [image for image, _, _ in iter_scenes('val', 4)]
    pixels = processor(images=images, return_tensors='pt').pixel_values
    assert torch.allclose(pixels, image_batch(images, size), atol=1e-5)
    odd = np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    assert processor(images=[odd], return_tensors='pt').pixel_values.shape == (1, 3, size, size)


def test_config_validation():
    with pytest.raises(ValueError, match='patch_size'):
        CaptionerConfig(image_size=64, patch_size=7)
    with pytest.raises(ValueError, match='width'):
        CaptionerConfig(width=130, heads=4)


def test_normalize_caption():
    assert normalize_caption('  A Small, RED circle.  ') == 'a small red circle'
    assert normalize_caption("it's a_b") == 'it s a b'
    with pytest.raises(ValueError, match='string'):
        normalize_caption(3)


def _scene_refs(count):
    scenes = [make_scene('test', i) for i in range(count)]
    return scenes, {s.image_id: list(s.captions) for s in scenes}


def test_cider_high_for_references_low_for_wrong_captions():
    scenes, refs = _scene_refs(60)
    for k in range(5):
        right = {s.image_id: s.captions[k].upper() + '.' for s in scenes}
        scores = score_captions(right, refs)
        assert scores.cider > 300 and scores.exact_match == 1.0 and scores.count == 60
    shifted = {s.image_id: scenes[(i + 1) % len(scenes)].captions[0] for i, s in enumerate(scenes)}
    wrong = score_captions(shifted, refs)
    assert wrong.exact_match == 0.0 and wrong.cider < 150
    # One wrong word costs: the caption with its colours swapped scores in between.
    swap = {'red': 'blue', 'blue': 'red', 'green': 'yellow', 'yellow': 'green',
            'purple': 'orange', 'orange': 'purple'}
    recoloured = {s.image_id: ' '.join(swap.get(w, w) for w in s.captions[0].split())
                  for s in scenes}
    middle = score_captions(recoloured, refs)
    assert wrong.cider < middle.cider < score_captions(
        {s.image_id: s.captions[0] for s in scenes}, refs).cider
    assert middle.exact_match == 0.0
    total, per_image = cider_score(shifted, refs)
    assert per_image.shape == (60,) and np.isclose(per_image.mean(), total)


def test_metric_errors():
    _, refs = _scene_refs(3)
    ids = sorted(refs)
    with pytest.raises(ValueError, match='same ids'):
        score_captions({ids[0]: 'a'}, refs)
    with pytest.raises(ValueError, match='at least 2'):
        cider_score({ids[0]: 'a'}, {ids[0]: refs[ids[0]]})
    with pytest.raises(ValueError, match='non-empty list'):
        exact_match_rate({1: 'a', 2: 'b'}, {1: ['a'], 2: []})
    with pytest.raises(ValueError, match='empty'):
        exact_match_rate({}, {})


def _package_data_bytes() -> int:
    root = WEIGHTS_ROOT.parents[1]
    globs = ('weights/*.safetensors', 'weights/captioner/*/*.safetensors',
             'weights/captioner/*/*.json')
    return sum(p.stat().st_size for g in globs for p in root.glob(g))


def test_embedded_models_ship_within_50_mb_and_documented():
    assert _package_data_bytes() <= 50 * 2 ** 20
    default = {p.name for p in DEFAULT_DIR.iterdir()}
    assert {AGENT_FILE, SERVER_FILE, 'config.json', 'tokenizer.json', TRAINING_FILE,
            'quality.json'} <= default and 'model.safetensors' not in default
    tiny = {p.name for p in TINY_DIR.iterdir()}
    assert {'model.safetensors', 'config.json', 'tokenizer.json', TRAINING_FILE} <= tiny
    training = json.loads((TINY_DIR / TRAINING_FILE).read_text())
    # the tiny model's own validation record: issue 5 aimed for exact match >= 0.8
    assert training['train_seconds'] > 0 and training['history'][-1]['exact_match'] >= 0.8
    assert training['history'][-1]['cider'] >= 300.0


def test_default_model_distilled_in_an_hour_and_8_bit_within_2_cider_of_fp32():
    training = json.loads((DEFAULT_DIR / TRAINING_FILE).read_text())
    assert training['train_seconds'] <= 3600
    assert training['distillation']['train']['model']['vision_width'] == 768
    quality = training['quality']
    assert quality['dataset'] == 'scenes test split, seed 0 (500 images)'
    assert quality['shipped']['cider'] >= quality['fp32']['cider'] - 2.0
    assert quality['shipped']['exact_match'] >= 0.95
    sweep = json.loads((DEFAULT_DIR / 'quality.json').read_text())
    rows = {(r['scheme'], r['bit_width']): r for r in sweep['rows']}
    assert sweep['dataset'] == quality['dataset'] and sweep['granularity'] == 'per_tensor'
    assert rows[('uniform', 8)]['cider'] == pytest.approx(quality['shipped']['cider'], abs=0.05)
    # one bit per weight ruins the captions (the demo's quality floor rests on that)
    assert rows[('uniform', 1)]['exact_match'] < 0.3
    assert rows[('uniform', 1)]['cider'] < 0.6 * rows[('uniform', 8)]['cider']


def test_default_model_captions_held_out_scenes_at_8_bits(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    start = time.perf_counter()
    model = load_default_captioner()
    scenes = [make_scene('test', i) for i in range(100)]
    captions = generate_captions(model, [s.image for s in scenes])
    seconds = time.perf_counter() - start
    assert isinstance(model, GitSplit) and model.model_id == DEFAULT_MODEL_ID
    assert model.input_shape == (3, 96, 96) and model.embedding_shape == (10, 128)
    agent_weights = {name for name, _ in quantizable_weights(model.agent_module)}
    assert set(model.stored_codes) == agent_weights  # every quantized weight: 8-bit codes
    assert all(qt.bits == 8 and qt.codes.dtype == torch.uint8
               for qt in model.stored_codes.values())
    assert sum(qt.codes.numel() for qt in model.stored_codes.values()) > 25_000_000
    scores = score_captions({s.image_id: c for s, c in zip(scenes, captions)},
                            {s.image_id: s.captions for s in scenes})
    # Chance is about 0: a caption must get up to 8 attributes right.
    assert scores.exact_match >= 0.95, list(zip(captions, [s.captions[0] for s in scenes]))
    assert seconds < 60


def test_tiny_model_captions_held_out_scenes(monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    model = load_captioner('tiny')
    scenes = [make_scene('test', i) for i in range(20)]
    captions = generate_captions(model, [s.image for s in scenes])
    assert model.model_id == TINY_MODEL_ID and model.stored_codes == {}
    assert model.embedding_shape == (10, 128)
    scores = score_captions({s.image_id: c for s, c in zip(scenes, captions)},
                            {s.image_id: s.captions for s in scenes})
    assert scores.exact_match >= 0.8


def test_default_model_parts_compose():
    agent = load_captioner('default', parts='agent')
    server = load_captioner(DEFAULT_MODEL_ID, parts='server')
    assert agent.parts == ('agent',) and server.parts == ('server',)
    images = [make_scene('test', i).image for i in range(3)]
    pixels = agent.preprocess(images)
    ids = server.decode(agent.encode(pixels), max_new_tokens=24, do_sample=False)
    assert server.captions(ids) == generate_captions(load_default_captioner(), images)
    by_path = load_captioner(str(DEFAULT_DIR), parts='agent')
    assert torch.equal(by_path.encode(pixels), agent.encode(pixels))
    spec = load_split(f'git:{DEFAULT_DIR}', parts='agent')
    assert spec.model_id.startswith('git:') and set(spec.stored_codes) == set(agent.stored_codes)


def test_embedded_names():
    assert is_default_model('default') and is_default_model('') and \
        is_default_model(DEFAULT_MODEL_ID)
    assert not is_default_model('tiny') and not is_default_model(str(DEFAULT_DIR))
    assert embedded_name('tiny') == embedded_name(TINY_MODEL_ID) == 'tiny'
    assert embedded_name('git:x') is None and embedded_name(3) is None
    with pytest.raises(ValueError, match='embedded captioner must be one of'):
        load_embedded_captioner('huge')
    with pytest.raises(ValueError, match='expected default, tiny, git:<dir>'):
        load_split('huge')
