"""The shipped checkpoint format: agent as B_max-bit codes, decoder fp16, codes run as stored."""

import json

import pytest
from safetensors import safe_open
import torch

from qcoinf_ros.core.captioner.model import build_processor, CaptionerConfig, new_captioner
from qcoinf_ros.core.captioner.tokenizer import scene_tokenizer
from qcoinf_ros.core.models.git import GitSplit
from qcoinf_ros.core.models.shipped import AGENT_FILE, is_shipped, load_shipped, save_shipped, \
    SERVER_FILE
from qcoinf_ros.core.quant import NestedQuantizedModel, QuantConfig, quantize_tensor
from qcoinf_ros.core.quant.quantizers import stored_or_quantized
from qcoinf_ros.core.runtime import build_runtime

FC1 = 'git.image_encoder.vision_model.encoder.layers.0.mlp.fc1.weight'
SMALL = CaptionerConfig(image_size=64, patch_size=32, vision_width=48, vision_layers=1,
                        vision_heads=3, width=32, layers=1, heads=2)


@pytest.fixture(scope='module')
def fp32_model():
    tokenizer = scene_tokenizer()
    model = new_captioner(SMALL, tokenizer, seed=3).eval()
    return model, build_processor(tokenizer, SMALL.image_size)


@pytest.fixture(scope='module')
def shipped(fp32_model, tmp_path_factory):
    model, processor = fp32_model
    out = tmp_path_factory.mktemp('shipped')
    save_shipped(model, processor, out, training={'note': 'test'})
    return out


def _pixels(seed=0):
    return torch.randn((2, 3, SMALL.image_size, SMALL.image_size),
                       generator=torch.Generator().manual_seed(seed))


def test_files_hold_codes_for_the_agent_and_fp16_for_the_server(fp32_model, shipped):
    model, _ = fp32_model
    assert is_shipped(shipped) and not is_shipped(shipped.parent)
    assert json.loads((shipped / 'training.json').read_text()) == {'note': 'test'}
    state = model.state_dict()
    with safe_open(str(shipped / AGENT_FILE), 'pt') as f:
        meta, keys = f.metadata(), set(f.keys())
        codes = f.get_tensor(f'{FC1}.codes')
        scale = f.get_tensor(f'{FC1}.scale')
    assert meta == {'format': 'qcoinf-shipped-v1', 'scheme': 'uniform', 'b_max': '8',
                    'granularity': 'per_tensor'}
    assert codes.dtype == torch.uint8 and scale.dtype == torch.float32
    expected = quantize_tensor(state[FC1],
                               QuantConfig('uniform', 8, 8, 'per_tensor'))
    assert torch.equal(codes, expected.codes) and torch.equal(scale, expected.scale)
    # biases and norms stay float32; no agent weight is stored twice
    assert 'git.image_encoder.vision_model.encoder.layers.0.mlp.fc1.bias' in keys
    assert 'git.image_encoder.vision_model.encoder.layers.0.mlp.fc1.weight' not in keys
    with safe_open(str(shipped / SERVER_FILE), 'pt') as f:
        server = {k: f.get_tensor(k) for k in f.keys()}
    assert server and all(v.dtype == torch.float16 for v in server.values()
                          if v.is_floating_point())
    assert not any(k.startswith('git.image_encoder.') for k in server)


def test_load_gives_the_8_bit_agent_and_the_fp16_rounded_decoder(fp32_model, shipped):
    model, _ = fp32_model
    loaded, codes, quant = load_shipped(shipped)
    assert quant == QuantConfig('uniform', 8, 8, 'per_tensor')
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    for name, value in loaded.state_dict().items():
        if name[len('git.'):] in codes:
            continue
        if name.startswith(('git.image_encoder.', 'git.visual_projection.')):
            assert torch.equal(value, reference[name]), name  # float32 as trained
        else:
            assert torch.equal(value, reference[name].half().float()), name
    fc1 = 'image_encoder.vision_model.encoder.layers.0.mlp.fc1.weight'
    assert torch.equal(loaded.state_dict()[f'git.{fc1}'], codes[fc1].values)
    assert torch.allclose(codes[fc1].values, reference[f'git.{fc1}'],
                          atol=float(codes[fc1].scale) / 127)
    _, agent_codes, _ = load_shipped(shipped, parts=('agent',))
    assert set(agent_codes) == set(codes)


def test_split_keeps_the_codes_and_the_runtime_runs_them_as_stored(shipped):
    split = GitSplit.from_pretrained(shipped, parts='agent')
    assert split.parts == ('agent',) and split.stored_codes
    names = dict(NestedQuantizedModel(GitSplit.from_pretrained(shipped, parts='agent')
                                      .agent_module).quantized_tensors())
    assert set(split.stored_codes) == set(names)
    pixels = _pixels()
    plain = split.encode(pixels)  # the shipped agent runs at b = 8 as loaded
    runtime = build_runtime(split.agent_module, 'reference', 'uniform', 8, 'per_tensor',
                            stored=split.stored_codes)
    assert runtime.stored_weights == len(split.stored_codes)
    stored = runtime._nested._stored
    assert all(s.codes is split.stored_codes[s.name].codes for s in stored)
    assert torch.equal(split.encode(pixels), plain)
    runtime.set_bit_width(3)
    assert not torch.equal(split.encode(pixels), plain)


def test_runtime_requantizes_when_the_stored_codes_do_not_match(shipped):
    split = GitSplit.from_pretrained(shipped, parts='agent')
    runtime = build_runtime(split.agent_module, 'reference', 'uniform', 8, 'per_channel',
                            stored=split.stored_codes)
    assert runtime.stored_weights == 0
    assert all(s.codes is not split.stored_codes[s.name].codes for s in runtime._nested._stored)


def test_stored_or_quantized_rules():
    w = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    config = QuantConfig('uniform', 8, 8, 'per_tensor')
    stored = quantize_tensor(w, config)
    assert stored_or_quantized(stored.values, config, stored).codes is stored.codes
    other = QuantConfig('uniform', 6, 6, 'per_tensor')
    assert stored_or_quantized(w, other, stored).bits == 6
    with pytest.raises(ValueError, match='stored codes of layer.weight have shape'):
        stored_or_quantized(w.T, config, stored, 'layer.weight')


def test_captions_of_the_shipped_split_compose(fp32_model, shipped):
    agent = GitSplit.from_pretrained(shipped, parts='agent')
    server = GitSplit.from_pretrained(shipped, parts='server')
    whole = GitSplit.from_pretrained(shipped)
    pixels = _pixels(1)
    ids = server.decode(agent.encode(pixels), max_new_tokens=5, do_sample=False)
    assert torch.equal(ids, whole.decode(whole.encode(pixels), max_new_tokens=5,
                                         do_sample=False))
    assert server.stored_codes == {}


def test_bad_shipped_directories_raise_value_errors(shipped, tmp_path):
    with pytest.raises(ValueError, match='is not a shipped captioner'):
        load_shipped(tmp_path)
    broken = tmp_path / 'broken'
    broken.mkdir()
    for name in ('config.json', SERVER_FILE):
        (broken / name).write_bytes((shipped / name).read_bytes())
    (broken / AGENT_FILE).write_bytes(b'not safetensors')
    with pytest.raises(ValueError, match='cannot read the weights'):
        load_shipped(broken)


def test_files_are_readable_package_data_and_keep_the_generation_config(fp32_model, shipped):
    model, _ = fp32_model
    for name in (AGENT_FILE, SERVER_FILE):
        assert (shipped / name).stat().st_mode & 0o777 == 0o644
    loaded, _, _ = load_shipped(shipped)
    assert (shipped / 'generation_config.json').is_file()
    for key in ('bos_token_id', 'eos_token_id', 'pad_token_id'):
        assert getattr(loaded.generation_config, key) == getattr(model.generation_config, key)


def test_part_parameters_of_the_shipped_format_and_the_embedded_captioners(shipped):
    from qcoinf_ros.core.models.registry import load_split, part_parameters
    split = load_split(f'git:{shipped}', parts=('server',))
    assert part_parameters(f'git:{shipped}', 'server') == \
        sum(p.numel() for p in split.server_module.parameters())
    tiny = load_split('tiny', parts=('server',))
    assert part_parameters('tiny', 'server') == \
        sum(p.numel() for p in tiny.server_module.parameters())
