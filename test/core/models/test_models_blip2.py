"""Tests of the BLIP-2 split on tiny random checkpoints: split == monolithic, loading, errors."""

import os

import pytest
import torch
from transformers import Blip2ForConditionalGeneration

from qcoinf_ros.core.models.base import resolve_checkpoint
from qcoinf_ros.core.models.blip2 import Blip2Split
from qcoinf_ros.core.models.tiny import tiny_blip2, tiny_git

GEN = {'max_new_tokens': 6, 'do_sample': False}


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('blip2_tiny')
    tiny_blip2(seed=0).save_pretrained(path)
    return path


def _load_full(path):
    return Blip2ForConditionalGeneration.from_pretrained(path, local_files_only=True).eval()


def _pixels(batch=3, seed=1):
    return torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_split_generation_equals_monolithic(checkpoint):
    split = Blip2Split.from_pretrained(checkpoint)
    full = _load_full(checkpoint)
    px = _pixels()
    embedding = split.encode(px)
    assert embedding.shape == (3, *split.embedding_shape) == (3, 4, 32)
    with torch.no_grad():
        assert torch.equal(embedding, full.get_image_features(px).pooler_output)
    ids = split.decode(embedding, **GEN)
    assert torch.equal(ids, full.generate(pixel_values=px, **GEN))
    assert not torch.equal(ids[0], ids[1])  # the text depends on the image


def test_agent_and_server_hold_disjoint_weights(checkpoint):
    agent = Blip2Split.from_pretrained(checkpoint, parts='agent')
    server = Blip2Split.from_pretrained(checkpoint, parts='server')
    agent_names = [n for n, _ in agent.agent_module.named_parameters()]
    assert agent_names and not any('language_model' in n for n in agent_names)
    assert any('qformer' in n for n in agent_names)
    assert any('language_projection' in n for n in agent_names)
    server_names = [n for n, _ in server.server_module.named_parameters()]
    assert server_names and not any('vision' in n or 'qformer' in n for n in server_names)
    px = _pixels(2)
    assert torch.equal(server.decode(agent.encode(px), **GEN),
                       _load_full(checkpoint).generate(pixel_values=px, **GEN))


def test_flops_counted_for_both_parts(checkpoint):
    flops = Blip2Split.from_pretrained(checkpoint).flops()
    assert flops.agent > 0 and flops.server > 0


def test_missing_image_token_index(tmp_path):
    tiny_blip2(image_token_index=None).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match='image_token_index'):
        Blip2Split.from_pretrained(tmp_path)
    agent = Blip2Split.from_pretrained(tmp_path, parts='agent')  # the agent does not need it
    assert agent.encode(_pixels(1)).shape == (1, 4, 32)
    fixed = Blip2Split.from_pretrained(tmp_path, image_token_index=98)
    assert fixed.decode(fixed.encode(_pixels(1)), **GEN).shape[1] > 5


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ValueError, match='Hugging Face cache'):
        Blip2Split.from_pretrained(tmp_path / 'missing')
    tiny_git().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds a 'git' model"):
        Blip2Split.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match='Blip2ForConditionalGeneration'):
        Blip2Split.from_model(tiny_git())


@pytest.mark.slow
def test_real_checkpoint_split_equals_monolithic():
    path = os.environ.get('QCOINF_BLIP2_CHECKPOINT', 'Salesforce/blip2-opt-2.7b')
    try:
        split = Blip2Split.from_pretrained(path)
    except ValueError as exc:
        pytest.skip(f'no usable local BLIP-2 checkpoint ({exc})')
    full = _load_full(resolve_checkpoint(path, ('blip-2',)))
    px = split.example_inputs(1)
    assert torch.equal(split.decode(split.encode(px), max_new_tokens=5),
                       full.generate(pixel_values=px, max_new_tokens=5))


def test_part_parameters_reads_the_config_only(checkpoint):
    from qcoinf_ros.core.models.registry import part_parameters
    for part in ('agent', 'server'):
        split = Blip2Split.from_pretrained(checkpoint, parts=(part,))
        module = split.server_module if part == 'server' else split.agent_module
        assert part_parameters(f'blip2:{checkpoint}', part) == \
            sum(p.numel() for p in module.parameters()) > 0
