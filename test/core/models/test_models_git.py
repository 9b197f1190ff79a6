"""Tests of the GIT split on tiny random checkpoints: split == monolithic, loading, errors."""

import json
import os

import numpy as np
import pytest
import torch
from transformers import GitForCausalLM

from qcoinf_ros.core.models.base import resolve_checkpoint
from qcoinf_ros.core.models.git import GitSplit
from qcoinf_ros.core.models.tiny import tiny_blip2, tiny_git
from qcoinf_ros.core.quant.config import QuantConfig
from qcoinf_ros.core.quant.quantizers import default_filter, quantize_

GEN = {'max_new_tokens': 6, 'do_sample': False}


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('git_tiny')
    tiny_git(seed=0).save_pretrained(path)
    return path


def _pixels(batch=3, size=32, seed=1):
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_split_generation_equals_monolithic(checkpoint):
    split = GitSplit.from_pretrained(checkpoint)
    full = GitForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    px = _pixels()
    embedding = split.encode(px)
    assert embedding.shape == (3, *split.embedding_shape) == (3, 17, 32)
    ids = split.decode(embedding, **GEN)
    reference = full.generate(pixel_values=px, **GEN)
    assert torch.equal(ids, reference)
    assert not torch.equal(ids[0], ids[1])  # the caption depends on the image
    with torch.no_grad():
        features = full.git.visual_projection(full.git.image_encoder(px).last_hidden_state)
    assert torch.equal(embedding, features)


def test_parts_are_separate_objects(checkpoint):
    agent = GitSplit.from_pretrained(checkpoint, parts='agent')
    server = GitSplit.from_pretrained(checkpoint, parts='server')
    assert agent.parts == ('agent',) and server.parts == ('server',)
    server_names = [n for n, _ in server.server_module.named_parameters()]
    assert server_names and not any('image_encoder' in n or 'visual_projection' in n
                                    for n in server_names)
    agent_names = [n for n, _ in agent.agent_module.named_parameters()]
    assert agent_names and all(n.startswith(('image_encoder.', 'visual_projection.'))
                               for n in agent_names)
    full = GitForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    px = _pixels(2)
    assert torch.equal(server.decode(agent.encode(px), **GEN),
                       full.generate(pixel_values=px, **GEN))


def test_quantized_agent_equals_quantizing_the_vision_layers_of_the_full_model(checkpoint):
    config = QuantConfig('potlog', bits=4)
    split = GitSplit.from_pretrained(checkpoint)
    quantize_(split.agent_module, config)
    full = GitForCausalLM.from_pretrained(checkpoint, local_files_only=True).eval()
    vision = ('git.image_encoder', 'git.visual_projection')
    quantize_(full, config, lambda m, fqn: default_filter(m, fqn) and fqn.startswith(vision))
    px = _pixels(2)
    assert torch.equal(split.decode(split.encode(px), **GEN),
                       full.generate(pixel_values=px, **GEN))


def test_video_checkpoint_split(tmp_path):
    model = tiny_git(seed=3, num_image_with_embedding=2)
    model.save_pretrained(tmp_path)
    split = GitSplit.from_pretrained(tmp_path)
    full = GitForCausalLM.from_pretrained(tmp_path, local_files_only=True).eval()
    px = torch.randn(2, 2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert split.input_shape == (2, 3, 32, 32) and split.embedding_shape == (34, 32)
    assert torch.equal(split.decode(split.encode(px), **GEN), full.generate(pixel_values=px,
                                                                            **GEN))


def test_flops_counted_for_both_parts(checkpoint):
    split = GitSplit.from_pretrained(checkpoint)
    flops = split.flops()
    assert flops.agent > 0 and flops.server > 0
    longer = split.flops(max_new_tokens=4)
    assert longer.agent == flops.agent and longer.server > flops.server


def test_preprocess_fallback_and_captions_without_tokenizer(checkpoint):
    split = GitSplit.from_pretrained(checkpoint)
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    px = split.preprocess([image, image])
    assert px.shape == (2, 3, 32, 32)
    assert torch.equal(split.encode(px)[0], split.encode(px)[1])
    with pytest.raises(ValueError, match='uint8'):
        split.preprocess(np.zeros((8, 8, 3), dtype=np.float64))
    with pytest.raises(ValueError, match='no processor'):
        split.captions(torch.tensor([[1, 2]]))


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ValueError, match='Hugging Face cache'):
        GitSplit.from_pretrained(tmp_path / 'missing')
    wrong = tmp_path / 'blip2'
    tiny_blip2().save_pretrained(wrong)
    with pytest.raises(ValueError, match="holds a 'blip-2' model"):
        GitSplit.from_pretrained(wrong)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='no config.json'):
        GitSplit.from_pretrained(empty)
    no_weights = tmp_path / 'no_weights'
    no_weights.mkdir()
    (no_weights / 'config.json').write_text(json.dumps(tiny_git().config.to_dict()))
    with pytest.raises(ValueError, match='cannot load git checkpoint'):
        GitSplit.from_pretrained(no_weights)
    with pytest.raises(ValueError, match='GitForCausalLM'):
        GitSplit.from_model(torch.nn.Linear(2, 2))


def test_resolve_checkpoint_accepts_matching_type(checkpoint):
    assert resolve_checkpoint(checkpoint, ('git',)) == checkpoint


@pytest.mark.slow
def test_real_checkpoint_split_equals_monolithic():
    path = os.environ.get('QCOINF_GIT_CHECKPOINT', 'microsoft/git-base')
    try:
        split = GitSplit.from_pretrained(path)
    except ValueError as exc:
        pytest.skip(f'no local GIT checkpoint ({exc})')
    full = GitForCausalLM.from_pretrained(resolve_checkpoint(path, ('git',)),
                                          local_files_only=True).eval()
    px = split.example_inputs(1)
    assert torch.equal(split.decode(split.encode(px), max_new_tokens=10),
                       full.generate(pixel_values=px, max_new_tokens=10))


def test_loads_from_the_hugging_face_cache_offline(tmp_path, monkeypatch, checkpoint):
    import shutil
    from huggingface_hub import constants
    snapshot = tmp_path / 'models--tiny--git' / 'snapshots' / 'abc123'
    shutil.copytree(checkpoint, snapshot)
    (tmp_path / 'models--tiny--git' / 'refs').mkdir()
    (tmp_path / 'models--tiny--git' / 'refs' / 'main').write_text('abc123')
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path))
    split = GitSplit.from_pretrained('tiny/git', parts='agent')
    assert split.model_id == 'tiny/git'
    assert torch.equal(split.encode(_pixels(1)),
                       GitSplit.from_pretrained(checkpoint, parts='agent').encode(_pixels(1)))
    with pytest.raises(ValueError, match='Hugging Face cache'):
        GitSplit.from_pretrained('tiny/absent')


def test_part_parameters_reads_the_config_only(checkpoint, tmp_path):
    import shutil

    from qcoinf_ros.core.models.registry import load_split, part_parameters
    for part in ('agent', 'server'):
        split = load_split(f'git:{checkpoint}', parts=(part,))
        module = split.server_module if part == 'server' else split.agent_module
        loaded = sum(p.numel() for p in module.parameters())
        assert part_parameters(f'git:{checkpoint}', part) == loaded > 0
    # no weight file at all: the count needs none (a robot refuses a large decoder unloaded)
    bare = tmp_path / 'config_only'
    bare.mkdir()
    shutil.copy(checkpoint / 'config.json', bare / 'config.json')
    assert part_parameters(f'git:{bare}', 'server') == \
        part_parameters(f'git:{checkpoint}', 'server')
    with pytest.raises(ValueError, match='part'):
        part_parameters(f'git:{checkpoint}', 'decoder')
    with pytest.raises(ValueError, match='Invalid model spec'):
        part_parameters('gpt:x', 'server')
