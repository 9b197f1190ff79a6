"""``qcoinf make random-git DIR``: a random GIT checkpoint of a chosen size, for timing."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys


def main(argv: list[str] | None = None) -> int:
    """
    Write a random GIT checkpoint of a chosen size.

    For timing at a realistic model size where no real checkpoint can be had: the defaults
    (``--width 768 --layers 12 --image-size 224 --patch-size 16``, MLP 4 x width, 12 heads)
    have GIT-base's vision tower shape (ViT-B/16, 197 tokens) and a 12-layer text decoder;
    its captions are random words.
    """
    parser = argparse.ArgumentParser(prog='qcoinf make random-git', description=main.__doc__
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
    from qcoinf_ros.core.models.tiny import save_tiny_git_checkpoint
    save_tiny_git_checkpoint(out, seed=args.seed, image_size=args.image_size,
                             width=args.width, layers=args.layers, patch_size=args.patch_size,
                             intermediate_size=args.intermediate_size or 4 * args.width,
                             heads=heads, initializer_range=0.02)
    params = sum(p.stat().st_size for p in out.glob('*.safetensors')) // 4
    print(f'{out}: random GIT checkpoint, ~{params / 1e6:.0f} M parameters (git:{out})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
