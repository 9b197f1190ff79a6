"""
The scene captioner's architecture: a small ``GitForCausalLM`` and its GIT processor.

Same architecture as GIT (Wang et al. 2022), scaled down for CPU training on the scenes: a ViT
image encoder (96 x 96 pixels cut in 3 x 3 patches of 32 x 32, the grid the scenes place their
shapes on, so 10 image tokens; width 96, 3 layers), the visual projection, and a causal text
decoder (width 128, 3 layers) over a word-level vocabulary: about 1.25M parameters. The
processor is a standard ``GitProcessor`` (CLIP image processor + the project's tokenizer), so
the shipped directory loads like any GIT checkpoint (``GitSplit.from_pretrained``).

Departures from GIT's defaults, to train from scratch on a CPU in minutes: no dropout (scenes
are unlimited, every batch is new) and the ViT's learned patch positions start from 2-D
sine-cosine codes instead of N(0, 0.02) noise. Pilot runs (64 x 64 scenes with 8 x 8 or
16 x 16 patches, and this 96 x 96 / 3 x 3 model; 15-20 minutes each) learned colours, sizes
and shapes but left relation and place words at chance: the image tokens lost where they are.
The auxiliary position loss of :mod:`qcoinf_ros.core.captioner.train` fixed that (tried on this
model only).
"""

from __future__ import annotations

from dataclasses import dataclass

from qcoinf_ros.core.models.base import CLIP_MEAN, CLIP_STD
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative

__all__ = ['CaptionerConfig', 'git_config', 'build_processor', 'new_captioner']


@dataclass(frozen=True)
class CaptionerConfig:
    """Size of the scene captioner (vision encoder, text decoder, caption length)."""

    image_size: int = 96
    patch_size: int = 32
    vision_width: int = 96
    vision_layers: int = 3
    width: int = 128
    layers: int = 3
    heads: int = 4
    max_text_tokens: int = 32
    dropout: float = 0.0
    position_scale: float = 0.25
    vision_heads: int = 0  # 0: the same as heads

    def __post_init__(self):
        """Validate every field; raise ``ValueError`` naming the bad value."""
        require_int_in_range('image_size', self.image_size, 8, 1024)
        require_int_in_range('patch_size', self.patch_size, 1, self.image_size)
        if self.image_size % self.patch_size:
            raise ValueError(f'patch_size must divide image_size {self.image_size}, got '
                             f'{self.patch_size!r}')
        heads = require_int_in_range('heads', self.heads, 1, 64)
        vision_heads = require_int_in_range('vision_heads', self.vision_heads, 0, 64) or heads
        for name, count in (('vision_width', vision_heads), ('width', heads)):
            value = require_int_in_range(name, getattr(self, name), 1, 4096)
            if value % count:
                raise ValueError(f'{name} must be a multiple of its heads ({count}), got '
                                 f'{value!r}')
        require_int_in_range('vision_layers', self.vision_layers, 1, 48)
        require_int_in_range('layers', self.layers, 1, 48)
        require_int_in_range('max_text_tokens', self.max_text_tokens, 4, 512)
        dropout = require_nonnegative('dropout', self.dropout)
        if dropout >= 1.0:
            raise ValueError(f'dropout must be < 1, got {dropout!r}')
        require_nonnegative('position_scale', self.position_scale)


def git_config(config: CaptionerConfig, tokenizer):
    """Return the ``GitConfig`` of ``config`` with the vocabulary and ids of ``tokenizer``."""
    from transformers import GitConfig
    vision = {'hidden_size': config.vision_width, 'intermediate_size': 4 * config.vision_width,
              'num_hidden_layers': config.vision_layers,
              'num_attention_heads': config.vision_heads or config.heads,
              'image_size': config.image_size, 'patch_size': config.patch_size}
    return GitConfig(vision_config=vision, hidden_size=config.width,
                     intermediate_size=4 * config.width, num_hidden_layers=config.layers,
                     num_attention_heads=config.heads, vocab_size=len(tokenizer),
                     max_position_embeddings=config.max_text_tokens,
                     hidden_dropout_prob=config.dropout,
                     attention_probs_dropout_prob=config.dropout,
                     bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                     pad_token_id=tokenizer.pad_token_id)


def build_processor(tokenizer, image_size: int):
    """
    Build a ``GitProcessor``: CLIP preprocessing at ``image_size`` plus ``tokenizer``.

    Images are resized (shortest edge, bicubic) and centre-cropped to ``image_size``, scaled to
    [0, 1] and normalised with the CLIP mean and std, as GIT's own processor does. A scene image
    already has the model's size, so for it this equals
    :func:`qcoinf_ros.core.models.base.image_batch`.
    """
    from transformers import GitProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    image_size = require_int_in_range('image_size', image_size, 8, 4096)
    images = CLIPImageProcessorPil(size={'shortest_edge': image_size},
                                   crop_size={'height': image_size, 'width': image_size},
                                   image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    return GitProcessor(image_processor=images, tokenizer=tokenizer)


def new_captioner(config: CaptionerConfig, tokenizer, seed: int = 0):
    """Build a freshly initialised ``GitForCausalLM`` of size ``config`` (seeded with ``seed``)."""
    import torch
    from transformers import GitForCausalLM
    if not isinstance(config, CaptionerConfig):
        raise ValueError(f'config must be a CaptionerConfig, got {type(config).__name__}')
    torch.manual_seed(require_int_in_range('seed', seed, 0))
    model = GitForCausalLM(git_config(config, tokenizer))
    if config.position_scale > 0:
        embeddings = model.git.image_encoder.vision_model.embeddings.position_embedding.weight
        grid = config.image_size // config.patch_size
        with torch.no_grad():
            embeddings[1:] = config.position_scale * sincos_2d(grid, config.vision_width)
    return model


def sincos_2d(grid: int, width: int):
    """
    2-D sine-cosine position codes of a ``grid x grid`` patch grid, ``(grid**2, width)``.

    Half the channels encode the row, half the column, at geometric frequencies (as MAE's
    fixed embeddings). Used to initialise the ViT's learned patch positions, so that where a
    shape is (relations, places) is visible from the first step instead of learned from noise.
    """
    import torch
    if width % 4:
        raise ValueError(f'width must be a multiple of 4 for 2-D sine-cosine codes, got {width}')
    quarter = width // 4
    omega = 1.0 / (10000.0 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64),
                                torch.arange(grid, dtype=torch.float64), indexing='ij')
    parts = []
    for position in (rows.reshape(-1), cols.reshape(-1)):
        angles = position[:, None] * omega[None, :]
        parts += [torch.sin(angles), torch.cos(angles)]
    return torch.cat(parts, dim=1).float()
