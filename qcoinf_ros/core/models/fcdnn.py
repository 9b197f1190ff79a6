"""
FCDNN-16, the paper's fully connected ReLU autoencoder (section VI-A), split in two.

Encoder dimensions ``[64, 128, 256, 512, 256, 128, 64, 32]`` and the symmetric decoder: 16
layers of neurons, 14 ``nn.Linear`` layers (7 per half). As in eq. (10), every hidden layer is
followed by ReLU and the last layer of each half is linear, so the agent part (the encoder) is
exactly the FC DNN ``f(x, W) = W^(L) sigma(... W^(1) x)`` of Proposition 3.1 (with biases).

The paper trains it on MNIST; here it is trained on the 8x8 digits scikit-learn ships
(``sklearn.datasets.load_digits``, 64 inputs scaled to [0, 1], no download) by
:mod:`qcoinf_ros.core.models.fcdnn_train`; the trained weights ship in
``qcoinf_ros/core/weights/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from safetensors.torch import load_file
import torch
from torch import nn

from qcoinf_ros.core.models.base import check_parts, SplitModel
from qcoinf_ros.core.resources import WEIGHTS_DIR
from qcoinf_ros.core.validation import require_int_in_range, require_positive

__all__ = ['ENCODER_DIMS', 'WEIGHTS_PATH', 'FCDNN16', 'FcdnnSplit', 'load_fcdnn',
           'digits_split']

ENCODER_DIMS = (64, 128, 256, 512, 256, 128, 64, 32)
WEIGHTS_PATH = WEIGHTS_DIR / 'fcdnn16_digits.safetensors'


def _mlp(dims: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FCDNN16(nn.Module):
    """The 16-layer autoencoder: ``decoder(encoder(x))``."""

    def __init__(self, dims: tuple[int, ...] = ENCODER_DIMS):
        super().__init__()
        self.encoder = _mlp(tuple(dims))
        self.decoder = _mlp(tuple(reversed(dims)))

    def reset_parameters(self) -> None:
        """He (Kaiming normal, ReLU gain) weights and zero biases: trainable at depth 14."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (shape ``(batch, 64)``)."""
        return self.decoder(self.encoder(x))


def load_fcdnn(path: str | os.PathLike | None = None) -> FCDNN16:
    """Load FCDNN-16 weights (default: the shipped digits model) in eval mode."""
    path = Path(WEIGHTS_PATH if path is None else path)
    if not path.is_file():
        raise ValueError(f'FCDNN-16 weights file {str(path)!r} does not exist (train it with '
                         f'qcoinf train fcdnn)')
    model = FCDNN16()
    try:
        state = load_file(str(path))
        model.load_state_dict(state)
    except (RuntimeError, OSError) as exc:
        raise ValueError(f'{str(path)!r} does not hold FCDNN-16 weights: {exc}') from exc
    return model.eval()


def digits_split(seed: int = 0, test_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the 1797 scikit-learn 8x8 digits scaled to [0, 1], split (train, test) by seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    seed = require_int_in_range('seed', seed, 0)
    test_fraction = require_positive('test_fraction', test_fraction)
    if test_fraction >= 1.0:
        raise ValueError(f'test_fraction must be < 1, got {test_fraction!r}')
    data = load_digits().data.astype(np.float32) / 16.0
    train, test = train_test_split(data, test_size=test_fraction, random_state=seed)
    return torch.from_numpy(train), torch.from_numpy(test)


class FcdnnSplit(SplitModel):
    """FCDNN-16 split after the encoder: agent = encoder (64 -> 32), server = decoder."""

    family = 'fcdnn16'

    def __init__(self, model: FCDNN16 | None = None, parts=('agent', 'server'),
                 model_id: str = 'fcdnn16-digits'):
        parts = check_parts(parts)
        model = load_fcdnn() if model is None else model
        if not isinstance(model, FCDNN16):
            raise ValueError(f'model must be an FCDNN16, got {type(model).__name__}')
        super().__init__(model_id, model.encoder if 'agent' in parts else None,
                         model.decoder if 'server' in parts else None)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None,
                        parts=('agent', 'server')) -> 'FcdnnSplit':
        """Load from a safetensors file (default: the shipped weights)."""
        return cls(load_fcdnn(path), parts, model_id=Path(path or WEIGHTS_PATH).stem)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """64 pixel intensities in [0, 1]."""
        return (ENCODER_DIMS[0],)

    @property
    def embedding_shape(self) -> tuple[int, ...]:
        """Return the shape of the 32-dimensional code."""
        return (ENCODER_DIMS[-1],)

    def preprocess(self, inputs) -> torch.Tensor:
        """8x8 images or 64-vectors with values in [0, 16] (scikit-learn digits) -> [0, 1]."""
        arr = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
        if arr.ndim == 1 or (arr.ndim == 2 and tuple(arr.shape) == (8, 8)):
            arr = arr.reshape(1, -1)
        arr = arr.reshape(arr.shape[0], -1)
        if arr.shape[1] != ENCODER_DIMS[0]:
            raise ValueError(f'FCDNN-16 takes 64 values per input, got shape {tuple(arr.shape)}')
        return arr / 16.0

    def example_inputs(self, batch: int = 1, seed: int = 0) -> torch.Tensor:
        """Uniform random pixel intensities in [0, 1]."""
        generator = torch.Generator().manual_seed(seed)
        return torch.rand((batch, *self.input_shape), generator=generator)

    def _encode(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.agent_module(inputs)

    def _decode(self, embedding: torch.Tensor, **kwargs) -> torch.Tensor:
        if kwargs:
            raise ValueError(f'FCDNN-16 decode takes no options, got {sorted(kwargs)}')
        return self.server_module(embedding)
