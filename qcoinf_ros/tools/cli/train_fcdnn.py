"""``qcoinf train fcdnn``: retrain the shipped FCDNN-16 on the scikit-learn digits (seeded)."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from qcoinf_ros.core.models.fcdnn import WEIGHTS_PATH
from qcoinf_ros.core.models.fcdnn_train import save_fcdnn, train_fcdnn, TrainConfig


def main(argv: list[str] | None = None) -> int:
    """Train FCDNN-16 on the digits and write the safetensors weights."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog='qcoinf train fcdnn', description=main.__doc__)
    parser.add_argument('--epochs', type=int, default=defaults.epochs)
    parser.add_argument('--batch-size', type=int, default=defaults.batch_size)
    parser.add_argument('--lr', type=float, default=defaults.lr)
    parser.add_argument('--weight-decay', type=float, default=defaults.weight_decay)
    parser.add_argument('--seed', type=int, default=defaults.seed)
    parser.add_argument('--threads', type=int, default=defaults.threads)
    parser.add_argument('--out', type=Path, default=WEIGHTS_PATH,
                        help='output safetensors file (default: the shipped weights)')
    args = parser.parse_args(argv)
    try:
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, seed=args.seed, threads=args.threads)
    except ValueError as exc:
        parser.error(str(exc))
    result = train_fcdnn(config, progress=sys.stderr.isatty())
    path = save_fcdnn(result, args.out)
    print(f'trained FCDNN-16 in {result.seconds:.1f} s: train MSE {result.train_mse:.5f}, '
          f'test MSE {result.test_mse:.5f} -> {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
