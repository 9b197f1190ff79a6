"""
The split-model interface shared by the agent and server adapters (paper section II-A/B).

A :class:`SplitModel` holds the two halves of a model as separate module objects: the agent
part ``f(x, w_hat)`` of eq. (1), which is the part that gets quantized, and the server part
``f~(o, v)`` of eq. (2). Either half may be absent (``parts``), so the agent and the server can
live in different processes: ``encode`` needs the agent part, ``decode`` the server part.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ['SplitModel', 'PartFlops', 'count_flops', 'check_parts', 'resolve_checkpoint',
           'image_batch', 'PARTS', 'CLIP_MEAN', 'CLIP_STD']

PARTS = ('agent', 'server')
# OpenAI CLIP normalisation, used by the GIT and BLIP-2 image processors.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def image_batch(images, size: int, mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """
    Images -> normalised ``(batch, 3, size, size)`` float tensor (bilinear resize).

    ``images``: a uint8 ``H x W x 3`` array (or a list of them, or a ``B x H x W x 3`` array),
    or a float tensor ``(B, 3, H, W)`` with values in [0, 1]. This is the fallback used when a
    checkpoint ships no image processor; the checkpoint's own processor is preferred.
    """
    if isinstance(images, torch.Tensor) and torch.is_floating_point(images):
        batch = images
    else:
        arrays = images if isinstance(images, (list, tuple)) else [images]
        stacked = np.concatenate([np.asarray(a).reshape((-1, *np.asarray(a).shape[-3:]))
                                  for a in arrays])
        if stacked.ndim != 4 or stacked.shape[-1] != 3 or stacked.dtype != np.uint8:
            raise ValueError(f'images must be uint8 H x W x 3 arrays, got dtype {stacked.dtype} '
                             f'and shape {stacked.shape}')
        batch = torch.from_numpy(stacked).permute(0, 3, 1, 2).float() / 255.0
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f'images must have shape (batch, 3, H, W), got {tuple(batch.shape)}')
    batch = torch.nn.functional.interpolate(batch, size=(size, size), mode='bilinear',
                                            align_corners=False, antialias=True)
    mean_t = torch.tensor(mean, dtype=batch.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=batch.dtype).view(1, 3, 1, 1)
    return (batch - mean_t) / std_t


def count_flops(fn: Callable[..., Any], *args, **kwargs) -> int:
    """
    Count the FLOPs of ``fn(*args, **kwargs)`` with ``FlopCounterMode`` (torch.utils).

    The counter sees matrix products, convolutions and attention (2 FLOPs per multiply-add);
    element-wise operations (norms, activations) are not counted.
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class PartFlops:
    """FLOPs of one inference: agent part (``N_FLOP``, eq. (4)) and server part (eq. (5))."""

    agent: int
    server: int

    @property
    def total(self) -> int:
        """Agent plus server FLOPs."""
        return self.agent + self.server


def check_parts(parts: Iterable[str] | str) -> tuple[str, ...]:
    """Return the requested parts as a tuple; raise ``ValueError`` on an unknown or empty one."""
    parts = (parts,) if isinstance(parts, str) else tuple(parts)
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f'Invalid model parts: {parts!r} (expected a non-empty subset of '
                         f'{PARTS})')
    return parts


def resolve_checkpoint(path: str | os.PathLike, model_types: Iterable[str]) -> Path:
    """
    Return the local directory of a checkpoint and check its ``config.json`` model type.

    ``path`` is a local directory or a hub id already present in the Hugging Face cache (never
    downloaded). Raise ``ValueError`` with the reason when it is missing, has no config, or
    holds another architecture than ``model_types``.
    """
    model_types = tuple(model_types)
    local = Path(path).expanduser()
    if not local.is_dir():
        local = _from_hf_cache(str(path))
    config_file = local / 'config.json'
    if not config_file.is_file():
        raise ValueError(f'checkpoint directory {str(local)!r} has no config.json')
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f'checkpoint config {str(config_file)!r} is unreadable: {exc}') from exc
    model_type = config.get('model_type') if isinstance(config, dict) else None
    if model_type not in model_types:
        raise ValueError(f'checkpoint {str(local)!r} holds a {model_type!r} model, expected '
                         f'one of {model_types}')
    return local


def _from_hf_cache(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError) as exc:
        raise ValueError(f'checkpoint {repo_id!r} is neither a directory nor a model in the '
                         f'Hugging Face cache (nothing is downloaded): {exc}') from exc


def _frozen(module: nn.Module | None) -> nn.Module | None:
    """Inference only: eval mode and no gradients (also keeps FlopCounterMode's hooks happy)."""
    if module is not None:
        module.eval().requires_grad_(False)
    return module


class SplitModel(abc.ABC):
    """A model cut in an agent part (quantized) and a server part (full precision)."""

    #: Short name of the architecture (``'git'``, ``'blip2'``, ``'fcdnn16'``).
    family: str = ''

    def __init__(self, model_id: str, agent: nn.Module | None, server: nn.Module | None):
        if agent is None and server is None:
            raise ValueError('a SplitModel needs at least one part (agent or server)')
        self.model_id = model_id
        self._agent = _frozen(agent)
        self._server = _frozen(server)
        #: Codes the checkpoint already keeps for agent weights (name relative to
        #: ``agent_module`` -> ``QuantizedTensor``), e.g. a shipped checkpoint's ``B_max``-bit
        #: codes; empty when the checkpoint is full precision. See
        #: :func:`~qcoinf_ros.core.runtime.build_runtime`'s ``stored``.
        self.stored_codes: dict = {}

    @property
    def parts(self) -> tuple[str, ...]:
        """Parts held by this object, a subset of ``('agent', 'server')``."""
        return tuple(p for p, m in zip(PARTS, (self._agent, self._server)) if m is not None)

    @property
    def agent_module(self) -> nn.Module:
        """Return the agent part: the module whose weights get quantized."""
        if self._agent is None:
            raise ValueError(f'{self.model_id}: the agent part was not loaded '
                             f'(parts={self.parts})')
        return self._agent

    @property
    def server_module(self) -> nn.Module:
        """Return the server part, kept in full precision."""
        if self._server is None:
            raise ValueError(f'{self.model_id}: the server part was not loaded '
                             f'(parts={self.parts})')
        return self._server

    @property
    @abc.abstractmethod
    def embedding_shape(self) -> tuple[int, ...]:
        """Shape of the embedding of one input (without the batch dimension)."""

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one preprocessed input (without the batch dimension)."""

    @abc.abstractmethod
    def preprocess(self, inputs) -> torch.Tensor:
        """Turn raw inputs (images, feature vectors) into the batch tensor ``encode`` takes."""

    @abc.abstractmethod
    def _encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Agent forward pass."""

    @abc.abstractmethod
    def _decode(self, embedding: torch.Tensor, **kwargs):
        """Server forward pass."""

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """Agent inference, eq. (1): ``o = f(x, w_hat)``, shape ``(batch, *embedding_shape)``."""
        if not isinstance(inputs, torch.Tensor) or not torch.is_floating_point(inputs):
            raise ValueError(f'inputs must be a floating-point tensor, got '
                             f'{getattr(inputs, "dtype", type(inputs).__name__)}')
        if tuple(inputs.shape[1:]) != tuple(self.input_shape):
            shape = ', '.join(map(str, self.input_shape))
            raise ValueError(f'inputs must have shape (batch, {shape}), got '
                             f'{tuple(inputs.shape)}')
        parameter = next(self.agent_module.parameters(), None)
        if parameter is not None:
            inputs = inputs.to(parameter.device, parameter.dtype)
        with torch.no_grad():
            return self._encode(inputs)

    def decode(self, embedding: torch.Tensor, **kwargs):
        """Server inference, eq. (2): ``o~ = f~(o, v)`` (token ids for captioners)."""
        if not isinstance(embedding, torch.Tensor) or not torch.is_floating_point(embedding):
            raise ValueError(f'embedding must be a floating-point tensor, got '
                             f'{getattr(embedding, "dtype", type(embedding).__name__)}')
        if tuple(embedding.shape[1:]) != tuple(self.embedding_shape):
            raise ValueError(f'embedding must have shape (batch, '
                             f'{", ".join(map(str, self.embedding_shape))}), got '
                             f'{tuple(embedding.shape)}')
        parameter = next(self.server_module.parameters(), None)
        if parameter is not None:  # e.g. an fp16 embedding codec feeding an fp32 server
            embedding = embedding.to(parameter.device, parameter.dtype)
        with torch.no_grad():
            return self._decode(embedding, **kwargs)

    def example_inputs(self, batch: int = 1, seed: int = 0) -> torch.Tensor:
        """Random preprocessed inputs of the right shape (for FLOP counts and benchmarks)."""
        generator = torch.Generator().manual_seed(seed)
        return torch.randn((batch, *self.input_shape), generator=generator)

    def flops(self, inputs: torch.Tensor | None = None, **decode_kwargs) -> PartFlops:
        """
        Count the FLOPs of ``encode`` and ``decode`` on ``inputs`` (measured, not estimated).

        Captioners count the server for the first generated token unless ``decode_kwargs``
        say otherwise (the paper reports FLOPs "to generate the first token").
        """
        inputs = self.example_inputs() if inputs is None else inputs
        decode_kwargs = {**self._flops_decode_defaults(), **decode_kwargs}
        agent = count_flops(self.encode, inputs)
        server = count_flops(self.decode, self.encode(inputs), **decode_kwargs)
        return PartFlops(agent, server)

    def _flops_decode_defaults(self) -> dict:
        return {}


class CaptionerSplit(SplitModel):
    """Common part of the image-captioning adapters (GIT, BLIP-2): loading, images, text."""

    #: ``model_type`` values of ``config.json`` this adapter accepts.
    model_types: tuple[str, ...] = ()

    def __init__(self, model_id: str, agent: nn.Module | None, server: nn.Module | None,
                 config, processor=None):
        super().__init__(model_id, agent, server)
        self.config = config
        self.processor = processor

    @classmethod
    def _model_class(cls):
        raise NotImplementedError

    @classmethod
    def from_model(cls, model, parts=PARTS, model_id: str = '', processor=None):
        """Split an in-memory model (it is taken over: its modules move into the parts)."""
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, parts=PARTS,
                        dtype: torch.dtype = torch.float32, **kwargs) -> 'CaptionerSplit':
        """
        Load a checkpoint offline (local directory or HF cache) and keep only ``parts``.

        The whole checkpoint is read, then the unneeded part is dropped, so the resident memory
        is that of ``parts`` (the peak during loading is the whole model).
        """
        parts = check_parts(parts)
        local = resolve_checkpoint(path, cls.model_types)
        try:
            model = cls._model_class().from_pretrained(str(local), local_files_only=True,
                                                       dtype=dtype)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ValueError(f'cannot load {cls.family} checkpoint {str(local)!r}: {exc}') from exc
        return cls.from_model(model.eval(), parts, model_id=str(path),
                              processor=_load_processor(local), **kwargs)

    @classmethod
    def part_parameters(cls, path: str | os.PathLike, part: str) -> int:
        """
        Return the parameter count of ``part`` of the checkpoint at ``path``, reading no weight.

        The model is built from ``config.json`` alone on PyTorch's ``meta`` device (shapes, no
        storage) and split as :meth:`from_model` splits it, so a robot can refuse a part too
        large for it before a byte of it is loaded. ``ValueError`` as :meth:`from_pretrained`.
        """
        from transformers import AutoConfig
        check_parts((part,))
        local = resolve_checkpoint(path, cls.model_types)
        try:
            config = AutoConfig.from_pretrained(str(local), local_files_only=True)
            with torch.device('meta'):
                model = cls._model_class()(config)
        except (OSError, ValueError, RuntimeError, TypeError) as exc:
            raise ValueError(f'cannot read the {cls.family} config of {str(local)!r}: '
                             f'{exc}') from exc
        split = cls.from_model(model, (part,), model_id=str(path), **cls._count_kwargs(config))
        module = split.server_module if part == 'server' else split.agent_module
        return sum(p.numel() for p in module.parameters())

    @classmethod
    def _count_kwargs(cls, config) -> dict[str, Any]:
        """Keyword arguments :meth:`part_parameters` gives :meth:`from_model` (none here)."""
        return {}

    def preprocess(self, images) -> torch.Tensor:
        """Images -> pixel values, with the checkpoint's processor when it ships one."""
        if self.processor is not None:
            return self.processor(images=images, return_tensors='pt').pixel_values
        return image_batch(images, self.input_shape[-1])

    def captions(self, token_ids: torch.Tensor) -> list[str]:
        """Decode generated token ids into text with the checkpoint's tokenizer."""
        if self.processor is None:
            raise ValueError(f'{self.model_id}: no processor/tokenizer in the checkpoint, cannot '
                             f'turn token ids into text')
        return self.processor.batch_decode(token_ids, skip_special_tokens=True)

    def token_counts(self, token_ids) -> list[int]:
        """Tokens of each caption in ``token_ids``: the ids that are not special tokens."""
        tokenizer = getattr(self.processor, 'tokenizer', self.processor)
        special = set(getattr(tokenizer, 'all_special_ids', None) or ())
        return [sum(int(t) not in special for t in row) for row in token_ids.tolist()]

    def _flops_decode_defaults(self) -> dict:
        return {'max_new_tokens': 1}


def _load_processor(local: Path):
    names = ('processor_config.json', 'preprocessor_config.json')
    if not any((local / name).is_file() for name in names):
        return None
    from transformers import AutoProcessor
    try:
        return AutoProcessor.from_pretrained(str(local), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f'cannot load the processor of {str(local)!r}: {exc}') from exc
