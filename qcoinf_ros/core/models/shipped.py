"""
A GIT checkpoint as the package ships it: the agent as B_max-bit nested codes, the server in fp16.

A checkpoint directory in this format holds ``config.json`` (the ``GitConfig``), the processor
and tokenizer files, ``training.json``, and two safetensors files:

* ``agent.safetensors``: the agent part (``git.image_encoder``, ``git.visual_projection``).
  Every weight the agent quantizes (Linear and Conv weights) is stored as its uniform
  ``B_max``-bit sign-magnitude codes (``<name>.codes``, uint8) and scales (``<name>.scale``,
  float32) — the same codes :class:`~qcoinf_ros.core.quant.NestedQuantizedModel` and the bit-plane
  kernels run on, so nothing is re-quantized at start-up; the rest (biases, norms, embeddings)
  in float32. Metadata: the format name, scheme, ``b_max`` and granularity.
* ``server.safetensors``: the text decoder and embeddings in float16 (half the bytes; the
  decoder runs in float32 after loading).

:func:`save_shipped` writes it from a trained fp32 ``GitForCausalLM``; :func:`load_shipped`
builds the model back (agent weights dequantized at ``B_max``) with the stored codes beside it;
:class:`~qcoinf_ros.core.models.git.GitSplit` loads such a directory like any GIT checkpoint and
keeps the codes as :attr:`~qcoinf_ros.core.models.base.SplitModel.stored_codes`, which the agent's
runtime runs as they are. The fp32 originals of the agent are not kept: the shipped agent *is*
the B_max-bit model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from qcoinf_ros.core.quant.config import QuantConfig
from qcoinf_ros.core.quant.quantizers import (
    default_filter, dequantize_codes, quantize_tensor, QuantizedTensor)

__all__ = ['FORMAT', 'AGENT_FILE', 'SERVER_FILE', 'AGENT_PREFIXES', 'save_shipped',
           'load_shipped', 'is_shipped']

FORMAT = 'qcoinf-shipped-v1'
AGENT_FILE, SERVER_FILE = 'agent.safetensors', 'server.safetensors'
#: Parameter-name prefixes of the agent part in a ``GitForCausalLM``.
AGENT_PREFIXES = ('git.image_encoder.', 'git.visual_projection.')


def is_shipped(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a checkpoint in this format."""
    directory = Path(directory)
    return (directory / AGENT_FILE).is_file() and (directory / SERVER_FILE).is_file()


def _quantized_names(model) -> set[str]:
    names = set()
    for fqn, module in model.named_modules():
        if fqn.startswith(tuple(p.rstrip('.') for p in AGENT_PREFIXES)) \
                and isinstance(getattr(module, 'weight', None), torch.Tensor) \
                and default_filter(module, fqn):
            names.add(f'{fqn}.weight')
    return names


def save_shipped(model, processor, out_dir: str | os.PathLike, *, b_max: int = 8,
                 granularity: str = 'per_tensor', training: dict | None = None) -> Path:
    """Write ``model`` (a fp32 ``GitForCausalLM``) and ``processor`` in the shipped format."""
    from safetensors.torch import save_file
    config = QuantConfig('uniform', b_max, b_max, granularity)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    quantized = _quantized_names(model)
    agent, server = {}, {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        if not name.startswith(AGENT_PREFIXES):
            server[name] = tensor.to(torch.float16) if tensor.is_floating_point() else tensor
        elif name in quantized:
            qt = quantize_tensor(tensor, config)
            agent[f'{name}.codes'] = qt.codes.contiguous()
            agent[f'{name}.scale'] = qt.scale.to(torch.float32).contiguous()
        else:
            agent[name] = tensor.to(torch.float32)
    meta = {'format': FORMAT, 'scheme': 'uniform', 'b_max': str(b_max),
            'granularity': granularity}
    save_file(agent, str(out / AGENT_FILE), metadata=meta)
    save_file(server, str(out / SERVER_FILE), metadata={'format': FORMAT, 'dtype': 'float16'})
    for name in (AGENT_FILE, SERVER_FILE):
        (out / name).chmod(0o644)  # safetensors writes 0600; package data must be readable
    model.config.to_json_file(str(out / 'config.json'))
    if model.generation_config is not None:
        model.generation_config.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    if training is not None:
        (out / 'training.json').write_text(json.dumps(training, indent=1) + '\n')
    return out


def load_shipped(directory: str | os.PathLike, parts=('agent', 'server')):
    """
    Build the ``GitForCausalLM`` of a shipped directory: ``(model, codes, QuantConfig)``.

    ``codes`` maps agent weight names, relative to the agent part (``image_encoder...``,
    ``visual_projection...``), to their :class:`QuantizedTensor` at ``B_max``. Only the files
    of ``parts`` are read; the other part keeps the (unused) initial weights. Bad files raise
    ``ValueError`` with the reason.
    """
    from safetensors import safe_open, SafetensorError
    from transformers import GitConfig, GitForCausalLM
    from transformers.initialization import no_init_weights
    directory = Path(directory)
    if not is_shipped(directory):
        raise ValueError(f'{str(directory)!r} is not a shipped captioner ({AGENT_FILE} and '
                         f'{SERVER_FILE} expected)')
    try:
        config = GitConfig.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f'cannot read the config of {str(directory)!r}: {exc}') from exc
    with no_init_weights():
        model = GitForCausalLM(config)
    if (directory / 'generation_config.json').is_file():
        from transformers import GenerationConfig
        model.generation_config = GenerationConfig.from_pretrained(str(directory))
    state, codes, quant = {}, {}, None
    try:
        if 'server' in parts:
            with safe_open(str(directory / SERVER_FILE), 'pt') as f:
                for key in f.keys():
                    state[key] = f.get_tensor(key).to(torch.float32)
        if 'agent' in parts:
            with safe_open(str(directory / AGENT_FILE), 'pt') as f:
                meta = f.metadata() or {}
                if meta.get('format') != FORMAT or meta.get('scheme') != 'uniform':
                    raise ValueError(f'unknown agent format {meta!r}')
                quant = QuantConfig('uniform', int(meta['b_max']), int(meta['b_max']),
                                    meta['granularity'])
                for key in f.keys():
                    if key.endswith('.scale'):
                        continue
                    if key.endswith('.codes'):
                        name = key[:-len('.codes')]
                        qt_codes = f.get_tensor(key)
                        scale = f.get_tensor(f'{name}.scale')
                        values = dequantize_codes(qt_codes, scale, quant.b_max, 'uniform')
                        state[name] = values
                        relative = name[len('git.'):]
                        codes[relative] = QuantizedTensor(values, qt_codes, scale, quant.b_max,
                                                          'uniform', quant.granularity)
                    else:
                        state[key] = f.get_tensor(key)
    except (OSError, KeyError, RuntimeError, SafetensorError) as exc:
        raise ValueError(f'cannot read the weights of {str(directory)!r}: {exc}') from exc
    missing, unexpected = model.load_state_dict(state, strict=False)
    wanted = tuple(p for part, p in (('agent', AGENT_PREFIXES), ('server', None))
                   if part in parts and p)
    lost = [k for k in missing if ('agent' in parts and k.startswith(AGENT_PREFIXES))
            or ('server' in parts and not k.startswith(AGENT_PREFIXES))]
    if unexpected or lost:
        raise ValueError(f'{str(directory)!r} does not match its config: missing {lost[:5]}, '
                         f'unexpected {unexpected[:5]} ({wanted})')
    return model.eval(), codes, quant
