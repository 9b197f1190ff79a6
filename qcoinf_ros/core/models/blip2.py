"""
BLIP-2 (``Blip2ForConditionalGeneration``, transformers 5) split before the language model.

Agent: vision model -> Q-Former -> language projection, i.e.
``get_image_features(px).pooler_output`` (in transformers 5.23 ``get_image_features`` returns a
``BaseModelOutputWithVisionQformerOutputs`` whose ``pooler_output`` is the projected query
output). Embedding: ``(num_query_tokens, text hidden size)``.

Server: the language model alone. It rebuilds what ``Blip2ForConditionalGeneration.generate``
builds: the prompt ``[image_token_index] * num_query_tokens + [bos]``, its input embeddings with
the image-token positions filled by the received embedding (``masked_scatter``), then
``language_model.generate(inputs_embeds=..., attention_mask=..., input_ids=...)``. Transformers
5 needs ``image_token_index`` in the config (hub checkpoints converted for v5 carry it).
"""

from __future__ import annotations

import torch
from torch import nn

from qcoinf_ros.core.models.base import CaptionerSplit, check_parts, PARTS

__all__ = ['Blip2Agent', 'Blip2Split']


class Blip2Agent(nn.Module):
    """
    Vision model + Q-Former + language projection of BLIP-2 (the agent part, quantized).

    Wraps the ``Blip2ForConditionalGeneration`` object with its ``language_model`` removed and
    calls its own ``get_image_features``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pixels ``(B, 3, H, W)`` -> ``(B, num_query_tokens, text hidden)``."""
        return self.model.get_image_features(pixel_values).pooler_output


class Blip2Split(CaptionerSplit):
    """BLIP-2 cut between the language projection (agent) and the language model (server)."""

    family = 'blip2'
    model_types = ('blip-2',)

    @classmethod
    def _model_class(cls):
        from transformers import Blip2ForConditionalGeneration
        return Blip2ForConditionalGeneration

    @classmethod
    def from_model(cls, model, parts=PARTS, model_id: str = '', processor=None,
                   image_token_index: int | None = None) -> 'Blip2Split':
        """Split a ``Blip2ForConditionalGeneration`` (taken over: it becomes the agent part)."""
        parts = check_parts(parts)
        if not isinstance(model, cls._model_class()):
            raise ValueError(f'model must be a Blip2ForConditionalGeneration, got '
                             f'{type(model).__name__}')
        config = model.config
        if image_token_index is not None:
            config.image_token_index = int(image_token_index)
        if 'server' in parts and config.image_token_index is None:
            raise ValueError('the BLIP-2 config has no image_token_index (transformers 5 needs '
                             'it to place the image tokens); pass image_token_index=')
        language_model = model.language_model
        model.language_model = None
        return cls(model_id or config.name_or_path or 'blip2',
                   Blip2Agent(model) if 'agent' in parts else None,
                   language_model if 'server' in parts else None, config, processor)

    @classmethod
    def _count_kwargs(cls, config) -> dict:
        # a config without image_token_index cannot run, but its parts can be counted
        return {} if config.image_token_index is not None else {'image_token_index': 0}

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(3, size, size)``."""
        size = self.config.vision_config.image_size
        return (3, size, size)

    @property
    def embedding_shape(self) -> tuple[int, ...]:
        """``(num_query_tokens, language-model hidden size)``."""
        return (self.config.num_query_tokens, self.config.text_config.hidden_size)

    def _encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.agent_module(inputs)

    def _decode(self, embedding: torch.Tensor, **generate_kwargs) -> torch.Tensor:
        language_model = self.server_module
        config = self.config
        prompt = [config.image_token_index] * config.num_query_tokens
        prompt.append(config.text_config.bos_token_id)
        input_ids = torch.tensor([prompt], dtype=torch.long, device=embedding.device)
        input_ids = input_ids.repeat(embedding.shape[0], 1)
        embed = language_model.get_input_embeddings()
        inputs_embeds = embed(input_ids)
        image_mask = (input_ids == config.image_token_index).unsqueeze(-1)
        inputs_embeds = inputs_embeds.masked_scatter(
            image_mask, embedding.to(inputs_embeds.device, inputs_embeds.dtype))
        inputs = {'inputs_embeds': inputs_embeds, 'attention_mask': torch.ones_like(input_ids)}
        if not language_model.config.is_encoder_decoder:
            inputs['input_ids'] = input_ids
        return language_model.generate(**inputs, **generate_kwargs)
