"""``qcoinf train captioner``: train the tiny scene captioner on CPU (a GIT checkpoint)."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from qcoinf_ros.core.captioner.train import save_captioner, train_captioner, TrainConfig


def main(argv: list[str] | None = None) -> int:
    """Train the scene captioner on CPU and write it as a GIT checkpoint directory."""
    from qcoinf_ros.core.models.embedded import TINY_DIR
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog='qcoinf train captioner', description=main.__doc__)
    parser.add_argument('--steps', type=int, default=defaults.steps)
    parser.add_argument('--batch-size', type=int, default=defaults.batch_size)
    parser.add_argument('--lr', type=float, default=defaults.lr)
    parser.add_argument('--warmup', type=int, default=defaults.warmup)
    parser.add_argument('--weight-decay', type=float, default=defaults.weight_decay)
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument('--threads', type=int, default=defaults.threads,
                        help='torch threads (default 1: best on a shared 2-core machine)')
    parser.add_argument('--workers', type=int, default=defaults.workers,
                        help='processes drawing the scenes (0: in the training process)')
    parser.add_argument('--position-loss', type=float, default=defaults.position_loss,
                        help='weight of the auxiliary image-token position loss (0: off)')
    parser.add_argument('--val-every', type=int, default=defaults.val_every,
                        help='steps between validations (0: only at the end)')
    parser.add_argument('--val-count', type=int, default=defaults.val_count)
    parser.add_argument('--out', type=Path, default=TINY_DIR,
                        help='output directory (default: the embedded tiny captioner)')
    args = parser.parse_args(argv)
    try:
        config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                             warmup=args.warmup, weight_decay=args.weight_decay, seed=args.seed,
                             threads=args.threads, workers=args.workers,
                             position_loss=args.position_loss, val_every=args.val_every,
                             val_count=args.val_count)
    except ValueError as exc:
        parser.error(str(exc))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn, TimeRemainingColumn
    console = Console(stderr=True)
    columns = (TextColumn('training'), BarColumn(), MofNCompleteColumn(), TextColumn('steps'),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task('train', total=config.steps)
        result = train_captioner(config, log=lambda line: bar.console.print(line),
                                 progress=lambda done, _total: bar.update(task, completed=done))
    out = save_captioner(result, args.out)
    final = result.history[-1] if result.history else {}
    print(f'trained the scene captioner in {result.seconds:.1f} s ({config.steps} steps): val '
          f'CIDEr {final.get("cider", float("nan")):.1f}, exact match '
          f'{final.get("exact_match", float("nan")):.3f} -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
