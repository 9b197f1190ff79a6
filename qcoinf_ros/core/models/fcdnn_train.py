"""Seeded training of FCDNN-16 on the scikit-learn digits (MSE loss, Adam)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
from pathlib import Path
import time

from safetensors.torch import save_file
import torch
from torch import nn

from qcoinf_ros.core.models.fcdnn import digits_split, FCDNN16, WEIGHTS_PATH
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative, require_positive

__all__ = ['TrainConfig', 'TrainResult', 'train_fcdnn', 'evaluate_mse', 'save_fcdnn']


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of the FCDNN-16 training run (all seeded)."""

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    lr_final: float = 1e-5
    weight_decay: float = 1e-4
    seed: int = 0
    test_fraction: float = 0.2
    threads: int = 1

    def __post_init__(self):
        """Validate every field; raise ``ValueError`` naming the bad value."""
        require_int_in_range('epochs', self.epochs, 1)
        require_int_in_range('batch_size', self.batch_size, 1)
        require_positive('lr', self.lr)
        require_positive('lr_final', self.lr_final)
        require_nonnegative('weight_decay', self.weight_decay)
        require_int_in_range('seed', self.seed, 0)
        require_positive('test_fraction', self.test_fraction)
        if self.test_fraction >= 1.0:
            raise ValueError(f'test_fraction must be < 1, got {self.test_fraction!r}')
        require_int_in_range('threads', self.threads, 1)


@dataclass
class TrainResult:
    """The trained model with its final train/test MSE and the wall time of training."""

    model: FCDNN16
    train_mse: float
    test_mse: float
    seconds: float
    config: TrainConfig
    history: list[float] = field(default_factory=list)

    def metadata(self) -> dict[str, str]:
        """Return the string metadata stored in the safetensors header."""
        return {
            'model': 'FCDNN-16 autoencoder [64,128,256,512,256,128,64,32] + symmetric decoder',
            'dataset': 'sklearn.datasets.load_digits, 8x8, /16 -> [0, 1]',
            'train_config': json.dumps(asdict(self.config)),
            'train_mse': f'{self.train_mse:.6g}',
            'test_mse': f'{self.test_mse:.6g}',
            'train_seconds': f'{self.seconds:.2f}',
            'torch': torch.__version__,
        }


def evaluate_mse(model: nn.Module, data: torch.Tensor) -> float:
    """Mean squared reconstruction error of ``model`` on ``data``."""
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(data), data))


def train_fcdnn(config: TrainConfig = TrainConfig(), progress: bool = False) -> TrainResult:
    """Train FCDNN-16 (He init, AdamW, cosine learning-rate schedule) on the digits."""
    if not isinstance(config, TrainConfig):
        raise ValueError(f'config must be a TrainConfig, got {type(config).__name__}')
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(config, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config: TrainConfig, progress: bool) -> TrainResult:
    torch.manual_seed(config.seed)
    train, test = digits_split(config.seed, config.test_fraction)
    model = FCDNN16()
    model.reset_parameters()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs, eta_min=config.lr_final)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    with _progress(progress, config.epochs) as advance:
        for _ in range(config.epochs):
            model.train()
            order = torch.randperm(train.shape[0], generator=generator)
            for idx in order.split(config.batch_size):
                batch = train[idx]
                optimizer.zero_grad()
                loss = nn.functional.mse_loss(model(batch), batch)
                loss.backward()
                optimizer.step()
            scheduler.step()
            model.eval()
            history.append(evaluate_mse(model, test))
            advance(history[-1])
    seconds = time.perf_counter() - start
    return TrainResult(model.eval(), evaluate_mse(model, train), evaluate_mse(model, test),
                       seconds, config, history)


class _progress:
    """Context manager yielding ``advance(test_mse)``: a rich progress bar or a no-op."""

    def __init__(self, enabled: bool, total: int):
        self._enabled = enabled
        self._total = total
        self._bar = None

    def __enter__(self):
        if not self._enabled:
            return lambda _mse: None
        from rich.progress import Progress
        self._bar = Progress(*Progress.get_default_columns(), '[cyan]{task.fields[mse]}')
        self._bar.__enter__()
        task = self._bar.add_task('FCDNN-16 epochs', total=self._total, mse='')
        return lambda mse: self._bar.update(task, advance=1, mse=f'test MSE {mse:.5f}')

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False


def save_fcdnn(result: TrainResult, path: str | Path = WEIGHTS_PATH) -> Path:
    """Write the trained weights and their metadata as safetensors; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(path), metadata=result.metadata())
    return path
