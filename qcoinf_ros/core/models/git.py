"""
GIT (``GitForCausalLM``, transformers 5) split into image encoder and text decoder.

Agent: ``git.visual_projection(git.image_encoder(px).last_hidden_state)`` (CLIP ViT + projection;
for video checkpoints the per-frame temporal embeddings are added before the projection, as in
``GitModel.forward``). Embedding: ``(tokens, hidden)`` with ``tokens = (size/patch)**2 + 1``
(times the frame count for video).

Server: the same ``GitForCausalLM`` with ``git.image_encoder`` replaced by a pass-through and
``git.visual_projection`` by ``nn.Identity``: ``generate(pixel_values=emb.unsqueeze(1))`` then
runs the text decoder on the received image tokens exactly as the monolithic model would
(``GitModel.forward`` takes the 4-D branch, calls the encoder and the projection, which now
return their input). GIT has no public "precomputed image features" input; this is the least
invasive way in. The vision weights are dropped from the server copy.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from qcoinf_ros.core.models.base import CaptionerSplit, check_parts, PARTS

__all__ = ['GitAgent', 'GitSplit', 'ImageFeaturesPassThrough']


class ImageFeaturesPassThrough(nn.Module):
    """Stands in for ``git.image_encoder`` on the server: returns the received embedding."""

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False,
                **kwargs) -> BaseModelOutput:
        """``(batch, 1, tokens, hidden)`` -> ``last_hidden_state`` ``(batch, tokens, hidden)``."""
        return BaseModelOutput(last_hidden_state=pixel_values.squeeze(1))


class GitAgent(nn.Module):
    """Image encoder + visual projection of GIT (the agent part, quantized)."""

    def __init__(self, image_encoder: nn.Module, visual_projection: nn.Module,
                 temporal_embedding: nn.ParameterList | None = None):
        super().__init__()
        self.image_encoder = image_encoder
        self.visual_projection = visual_projection
        self.img_temporal_embedding = temporal_embedding

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixels ``(B, 3, H, W)`` (or ``(B, frames, 3, H, W)``) -> image tokens."""
        if pixel_values.ndim == 4:
            features = self.image_encoder(pixel_values).last_hidden_state
        else:
            frames = []
            for idx in range(pixel_values.shape[1]):
                frame = self.image_encoder(pixel_values[:, idx]).last_hidden_state
                frames.append(frame + self.img_temporal_embedding[idx])
            features = torch.cat(frames, dim=1)
        return self.visual_projection(features)


class GitSplit(CaptionerSplit):
    """GIT cut between the visual projection (agent) and the text decoder (server)."""

    family = 'git'
    model_types = ('git',)

    @classmethod
    def _model_class(cls):
        from transformers import GitForCausalLM
        return GitForCausalLM

    @classmethod
    def from_pretrained(cls, path, parts=PARTS, dtype: torch.dtype = torch.float32,
                        **kwargs) -> 'GitSplit':
        """
        Load a GIT checkpoint offline, a standard one or the shipped format.

        A directory in the shipped format (:mod:`qcoinf_ros.core.models.shipped`: agent as
        B_max-bit codes, decoder in fp16) loads in float32 with the agent's codes kept as
        :attr:`stored_codes`.
        """
        from qcoinf_ros.core.models.base import _load_processor, resolve_checkpoint
        from qcoinf_ros.core.models.shipped import is_shipped, load_shipped
        parts = check_parts(parts)
        local = resolve_checkpoint(path, cls.model_types)
        if not is_shipped(local):
            return super().from_pretrained(path, parts, dtype, **kwargs)
        model, codes, _quant = load_shipped(local, parts)
        if dtype != torch.float32:
            model = model.to(dtype)
        split = cls.from_model(model, parts, model_id=str(path), processor=_load_processor(local),
                               **kwargs)
        split.stored_codes = codes if 'agent' in parts else {}
        return split

    @classmethod
    def from_model(cls, model, parts=PARTS, model_id: str = '', processor=None) -> 'GitSplit':
        """Split a ``GitForCausalLM`` (taken over: it becomes the server part)."""
        parts = check_parts(parts)
        if not isinstance(model, cls._model_class()):
            raise ValueError(f'model must be a GitForCausalLM, got {type(model).__name__}')
        git = model.git
        temporal = getattr(git, 'img_temporal_embedding', None)
        agent = GitAgent(git.image_encoder, git.visual_projection, temporal)
        git.image_encoder = ImageFeaturesPassThrough()
        git.visual_projection = nn.Identity()
        if temporal is not None:
            del git.img_temporal_embedding
        return cls(model_id or model.config.name_or_path or 'git',
                   agent if 'agent' in parts else None,
                   model if 'server' in parts else None, model.config, processor)

    @property
    def num_frames(self) -> int:
        """Frames per input (1 for image checkpoints)."""
        return self.config.num_image_with_embedding or 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(3, size, size)``, or ``(frames, 3, size, size)`` for video checkpoints."""
        size = self.config.vision_config.image_size
        image = (self.config.vision_config.num_channels, size, size)
        return image if self.config.num_image_with_embedding is None else (self.num_frames, *image)

    @property
    def embedding_shape(self) -> tuple[int, ...]:
        """``(image tokens, text hidden size)``."""
        vision = self.config.vision_config
        tokens = (vision.image_size // vision.patch_size) ** 2 + 1
        return (tokens * self.num_frames, self.config.hidden_size)

    def _encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.agent_module(inputs)

    def _decode(self, embedding: torch.Tensor, **generate_kwargs) -> torch.Tensor:
        return self.server_module.generate(pixel_values=embedding.unsqueeze(1), **generate_kwargs)
