"""
Seeded CPU training of the scene captioner (GIT architecture) and its command line.

Every step draws a fresh batch of training scenes (scene indices ``step * batch .. ``, so the
data are a pure function of the seed) and, for each scene, one of its five references (chosen by
a seeded generator, as COCO training samples one caption per image). Loss: GIT's next-token
cross-entropy on the caption tokens, plus 0.1 x an auxiliary loss that keeps each image token's
position readable (:class:`_PositionProbe`; without it relation and place words stayed at
chance in 20-minute runs). AdamW, linear warm-up then cosine decay. One torch thread
by default (on a shared 2-core machine a second intra-op thread slows training down) and one
worker process drawing the scenes beside it; the batches do not depend on the worker count.

Run it with ``qcoinf train captioner`` (writes the ``tiny`` embedded captioner,
``qcoinf_ros/core/weights/captioner/tiny/``, the teacher of the default one:
:mod:`qcoinf_ros.core.captioner.distill`); ``--help`` lists the options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
import math
from pathlib import Path
import time
from typing import Callable

import numpy as np
import torch

from qcoinf_ros.core.captioner.model import build_processor, CaptionerConfig, new_captioner
from qcoinf_ros.core.captioner.tokenizer import scene_tokenizer
from qcoinf_ros.core.models.base import image_batch
from qcoinf_ros.core.scenes.generator import make_scene, NUM_CAPTIONS, SceneConfig
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative, require_positive

__all__ = ['TrainConfig', 'TrainResult', 'train_captioner', 'save_captioner',
           'TRAINING_FILE']

# Written next to the weights: the training configuration, time and validation history.
TRAINING_FILE = 'training.json'


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a captioner training run (all seeded)."""

    steps: int = 8000
    batch_size: int = 64
    lr: float = 1e-3
    lr_final: float = 1e-5
    warmup: int = 300
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1
    workers: int = 1
    position_loss: float = 0.1
    val_every: int = 2000
    val_count: int = 200
    model: CaptionerConfig = field(default_factory=CaptionerConfig)
    scenes: SceneConfig = field(default_factory=SceneConfig)

    def __post_init__(self):
        """Validate every field; raise ``ValueError`` naming the bad value."""
        require_int_in_range('steps', self.steps, 1)
        require_int_in_range('batch_size', self.batch_size, 1)
        require_positive('lr', self.lr)
        require_positive('lr_final', self.lr_final)
        require_int_in_range('warmup', self.warmup, 0)
        require_nonnegative('weight_decay', self.weight_decay)
        require_int_in_range('seed', self.seed, 0, 2 ** 32 - 1)
        require_int_in_range('threads', self.threads, 1, 256)
        require_int_in_range('workers', self.workers, 0, 64)
        require_nonnegative('position_loss', self.position_loss)
        require_int_in_range('val_every', self.val_every, 0)
        require_int_in_range('val_count', self.val_count, 2)
        if not isinstance(self.model, CaptionerConfig):
            raise ValueError(f'model must be a CaptionerConfig, got {type(self.model).__name__}')
        if not isinstance(self.scenes, SceneConfig):
            raise ValueError(f'scenes must be a SceneConfig, got {type(self.scenes).__name__}')
        if self.scenes.image_size != self.model.image_size:
            raise ValueError(f'scenes.image_size {self.scenes.image_size} must equal '
                             f'model.image_size {self.model.image_size}')

    def as_dict(self) -> dict:
        """Plain nested dict (JSON-ready)."""
        return asdict(self)


@dataclass
class TrainResult:
    """The trained model and processor, the training wall time and the validation history."""

    model: torch.nn.Module
    processor: object
    seconds: float
    config: TrainConfig
    history: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """Return configuration, time and history, as written to :data:`TRAINING_FILE`."""
        return {'config': self.config.as_dict(), 'train_seconds': round(self.seconds, 1),
                'history': self.history, 'torch': torch.__version__}


def _learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr_final + 0.5 * (config.lr - config.lr_final) * (1 + math.cos(math.pi *
                                                                                 progress))


class _Batches(torch.utils.data.Dataset):
    """Training batch ``step``: a pure function of the seed and ``step`` (any worker count)."""

    def __init__(self, config: TrainConfig, tokenizer):
        self.config = config
        self.tokenizer = tokenizer

    def __len__(self) -> int:
        return self.config.steps

    def __getitem__(self, step: int):
        config = self.config
        start = step * config.batch_size
        scenes = [make_scene('train', start + i, config.scenes)
                  for i in range(config.batch_size)]
        # One of the five references per scene, as COCO training samples one caption per image.
        rng = np.random.default_rng([config.seed, step])
        choice = rng.integers(NUM_CAPTIONS, size=len(scenes))
        text = [scene.captions[k] for scene, k in zip(scenes, choice)]
        tokens = self.tokenizer(text, padding=True, return_tensors='pt')
        labels = tokens.input_ids.masked_fill(tokens.attention_mask == 0, -100)
        pixels = image_batch([scene.image for scene in scenes], config.model.image_size)
        return pixels, tokens.input_ids, tokens.attention_mask, labels


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)


def _validate(model, processor, config: TrainConfig) -> dict:
    """Greedy captions of ``val_count`` validation scenes: CIDEr x100 and exact match."""
    from qcoinf_ros.core.captioner.evaluate import caption_pixels
    from qcoinf_ros.core.captioner.metrics import score_captions
    scenes = [make_scene('val', i, config.scenes) for i in range(config.val_count)]
    pixels = image_batch([s.image for s in scenes], config.model.image_size)
    model.eval()
    captions = caption_pixels(lambda px, **kw: model.generate(pixel_values=px, **kw),
                              lambda ids: processor.batch_decode(ids, skip_special_tokens=True),
                              pixels)
    model.train()
    scores = score_captions({s.image_id: c for s, c in zip(scenes, captions)},
                            {s.image_id: s.captions for s in scenes})
    return scores.as_dict()


def _loader(config: TrainConfig, tokenizer):
    """Return the seeded training batches, drawn by ``config.workers`` processes beside."""
    return torch.utils.data.DataLoader(
        _Batches(config, tokenizer), batch_size=None, shuffle=False, num_workers=config.workers,
        worker_init_fn=_worker_init, prefetch_factor=4 if config.workers else None)


class _Reporter:
    """Running means of the losses, a validation every ``val_every`` steps, a log line per 50."""

    def __init__(self, config: TrainConfig, model, processor, log: Callable[[str], None],
                 progress: Callable[[int, int], None]):
        self.config, self.model, self.processor = config, model, processor
        self.log, self.progress = log, progress
        self.history: list[dict] = []
        self.running: dict[str, float] = {}
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Return the wall time since the start."""
        return time.perf_counter() - self.start

    def __call__(self, step: int, losses: dict[str, float]) -> None:
        """Record the losses of ``step`` (0-based); validate and log when it is time."""
        self.running = {k: v if k not in self.running else 0.98 * self.running[k] + 0.02 * v
                        for k, v in losses.items()}
        done, config = step + 1, self.config
        self.progress(done, config.steps)
        text = '  '.join(f'{k} {v:.5f}' for k, v in self.running.items())
        if done == config.steps or (config.val_every and done % config.val_every == 0):
            entry = {'step': done, **{k: round(v, 5) for k, v in self.running.items()},
                     'seconds': round(self.seconds, 1),
                     **_validate(self.model, self.processor, config)}
            self.history.append(entry)
            self.log(f'step {done:>6}  {text}  val CIDEr {entry["cider"]:.1f}  exact '
                     f'{entry["exact_match"]:.3f}  {entry["seconds"]:.0f} s')
        elif done % 50 == 0:
            self.log(f'step {done:>6}  {text}  lr {_learning_rate(step, config):.2e}  '
                     f'{self.seconds:.0f} s')


def train_captioner(config: TrainConfig = TrainConfig(),
                    log: Callable[[str], None] | None = None,
                    progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """
    Train the scene captioner from scratch.

    ``log`` receives one line per report, ``progress(done, total)`` is called after each step.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f'config must be a TrainConfig, got {type(config).__name__}')
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(config, log or (lambda _line: None),
                      progress or (lambda _done, _total: None))
    finally:
        torch.set_num_threads(previous_threads)


def _train(config: TrainConfig, log: Callable[[str], None],
           progress: Callable[[int, int], None]) -> TrainResult:
    tokenizer = scene_tokenizer()
    processor = build_processor(tokenizer, config.model.image_size)
    model = new_captioner(config.model, tokenizer, config.seed)
    model.train()
    position = _PositionProbe(model, config.position_loss)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and 'embeddings' not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and 'embeddings' not in n)]
    optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay': config.weight_decay},
                                   {'params': rest, 'weight_decay': 0.0},
                                   {'params': position.parameters(), 'weight_decay': 0.0}],
                                  lr=config.lr)
    batches = _loader(config, tokenizer)
    report = _Reporter(config, model, processor, log, progress)
    for step, (pixels, input_ids, attention_mask, labels) in enumerate(batches):
        for group in optimizer.param_groups:
            group['lr'] = _learning_rate(step, config)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, pixel_values=pixels,
                     labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        (loss + position.loss()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        report(step, {'loss': loss.item()})
    seconds = report.seconds
    position.close()
    return TrainResult(model.eval(), processor, seconds, config, report.history)


class _PositionProbe(torch.nn.Module):
    """
    Auxiliary training loss: each image token's index, predicted linearly from its embedding.

    Keeps where a patch is readable in the image tokens the text decoder receives (the visual
    projection's output). Without it the small model learns what the shapes are long before,
    and in 20-minute runs instead of, where they are: relation and place words stay at chance.
    The linear head is discarded after training; the saved model is a plain GIT.
    """

    def __init__(self, model, weight: float):
        super().__init__()
        self.weight = weight
        vision = model.config.vision_config
        self.tokens = (vision.image_size // vision.patch_size) ** 2 + 1
        self.head = torch.nn.Linear(model.config.hidden_size, self.tokens)
        self._features = None
        self._handle = model.git.visual_projection.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output):
        self._features = output

    def loss(self) -> torch.Tensor:
        """Weighted cross-entropy of the token indices (0 when the weight is 0)."""
        if self.weight == 0 or self._features is None:
            return torch.zeros(())
        logits = self.head(self._features)
        target = torch.arange(self.tokens).expand(logits.shape[0], -1)
        return self.weight * torch.nn.functional.cross_entropy(
            logits.reshape(-1, self.tokens), target.reshape(-1))

    def close(self) -> None:
        """Remove the hook from the model."""
        self._handle.remove()


def save_captioner(result: TrainResult, out_dir: str | Path) -> Path:
    """Write the model (safetensors), processor and :data:`TRAINING_FILE` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(out)
    result.processor.save_pretrained(out)
    (out / TRAINING_FILE).write_text(json.dumps(result.summary(), indent=1) + '\n')
    return out
