"""``qcoinf train distill``: distil the larger scene-captioner agent on CPU, and ship it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

import torch

from qcoinf_ros.core.captioner.distill import distill_captioner, DistillConfig, ship_captioner, \
    STUDENT
from qcoinf_ros.core.captioner.train import TrainConfig, TRAINING_FILE


def main(argv: list[str] | None = None) -> int:
    """Distil the larger scene-captioner agent on CPU; write it as a GIT checkpoint, shipped."""
    from transformers import AutoProcessor, GitForCausalLM
    defaults = DistillConfig()
    parser = argparse.ArgumentParser(prog='qcoinf train distill', description=main.__doc__)
    parser.add_argument('--out', type=Path, help='fp32 GIT checkpoint directory to write')
    parser.add_argument('--ship', type=Path,
                        help='also write the shipped format here (agent as 8-bit codes, decoder '
                             'fp16, quality in training.json), e.g. '
                             'qcoinf_ros/core/weights/captioner/default')
    parser.add_argument('--from', dest='source', type=Path,
                        help='ship this fp32 checkpoint (written by --out) instead of training')
    parser.add_argument('--eval-count', type=int, default=500,
                        help='held-out test scenes the shipped quality is measured on')
    parser.add_argument('--granularity', default='per_tensor',
                        choices=('per_tensor', 'per_channel'),
                        help='scales of the shipped codes (the agent node default: per_tensor)')
    parser.add_argument('--steps', type=int, default=defaults.train.steps)
    parser.add_argument('--batch-size', type=int, default=defaults.train.batch_size)
    parser.add_argument('--lr', type=float, default=defaults.train.lr)
    parser.add_argument('--embedding-loss', type=float, default=defaults.embedding_loss)
    parser.add_argument('--threads', type=int, default=defaults.train.threads)
    parser.add_argument('--workers', type=int, default=defaults.train.workers)
    parser.add_argument('--val-every', type=int, default=defaults.train.val_every)
    parser.add_argument('--seed', type=int, default=defaults.train.seed)
    args = parser.parse_args(argv)
    if args.source is None and args.out is None and args.ship is None:
        parser.error('nothing to write: give --out and/or --ship')
    if args.source is not None and args.ship is None:
        parser.error('--from needs --ship')
    log = lambda line: print(line, flush=True)  # noqa: E731
    if args.source is not None:
        try:
            model = GitForCausalLM.from_pretrained(str(args.source), local_files_only=True)
            processor = AutoProcessor.from_pretrained(str(args.source), local_files_only=True)
            summary = json.loads((args.source / TRAINING_FILE).read_text())
        except (OSError, ValueError) as exc:
            parser.error(f'cannot read --from {str(args.source)!r}: {exc}')
    else:
        try:
            train = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                warmup=min(defaults.train.warmup, args.steps),
                                threads=args.threads, workers=args.workers, position_loss=0.0,
                                val_every=args.val_every, seed=args.seed, model=STUDENT)
            config = DistillConfig(train=train, embedding_loss=args.embedding_loss)
        except ValueError as exc:
            parser.error(str(exc))
        result = distill_captioner(config, log=log)
        model, processor = result.model, result.processor
        summary = {**result.summary(), 'distillation': config.as_dict()}
        final = result.history[-1] if result.history else {}
        log(f'distilled in {result.seconds:.1f} s: val CIDEr '
            f'{final.get("cider", float("nan")):.1f}, exact match '
            f'{final.get("exact_match", float("nan")):.3f}')
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(args.out)
            processor.save_pretrained(args.out)
            (args.out / TRAINING_FILE).write_text(json.dumps(summary, indent=1) + '\n')
            log(f'fp32 checkpoint -> {args.out}')
    if args.ship is not None:
        torch.set_num_threads(args.threads)
        ship_captioner(model, processor, args.ship, summary, granularity=args.granularity,
                       count=args.eval_count, log=log)
        log(f'shipped -> {args.ship}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
