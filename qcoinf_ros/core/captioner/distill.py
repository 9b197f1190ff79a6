"""
A larger agent for the scene captioner, distilled from the small one (seeded, CPU).

The small captioner's agent part (ViT width 96, 3 layers, 10 image tokens) is too small for the
bit-width to change its encode time: its frame time is framework overhead, not matrix work. This
trains a wide image encoder (default: width 768 — ViT-B's — 4 layers, 12 heads, the same 3 x 3
patches of 32 x 32 pixels, so the same 10 image tokens; ~0.28 G multiply-adds per frame) whose
output the small captioner's text decoder already reads: the decoder (the server part) is copied
from the teacher and frozen, and the new encoder and visual projection learn from

* the captions, through the frozen decoder (GIT's next-token cross-entropy on one of the five
  references, as in :mod:`qcoinf_ros.core.captioner.train`), and
* the teacher's image tokens (mean squared error to the small agent's output, weight
  ``embedding_loss``): the decoder was trained on those, so matching them is the short way in.

Every batch is a pure function of the seed and the step (the batches of
:class:`~qcoinf_ros.core.captioner.train.TrainConfig`), so a run is reproducible: ``qcoinf
train distill --out DIR --ship qcoinf_ros/core/weights/captioner/default`` (about 50
minutes on 2 cores) writes the fp32 GIT checkpoint and the shipped one
(:mod:`qcoinf_ros.core.models.shipped`: the agent as its 8-bit nested codes, the decoder in fp16,
and the quality of both on the held-out scenes in ``training.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import json
import os
from pathlib import Path
from typing import Callable

import torch

from qcoinf_ros.core.captioner.model import CaptionerConfig, new_captioner
from qcoinf_ros.core.captioner.train import (
    _learning_rate, _loader, _Reporter, TrainConfig, TRAINING_FILE, TrainResult)
from qcoinf_ros.core.validation import require_nonnegative

__all__ = ['STUDENT', 'DistillConfig', 'distill_captioner']

#: The distilled agent's size: ViT-B's width and heads, 4 layers, the teacher's patches/decoder.
STUDENT = CaptionerConfig(vision_width=768, vision_layers=4, vision_heads=12)

_AGENT_PREFIXES = ('git.image_encoder.', 'git.visual_projection.')


@dataclass(frozen=True)
class DistillConfig:
    """A distillation run: the training schedule, the student's size, the loss weights."""

    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        steps=1200, batch_size=64, lr=3e-4, warmup=100, threads=2, position_loss=0.0,
        val_every=400, model=STUDENT))
    embedding_loss: float = 1.0
    teacher: str = 'tiny'

    def __post_init__(self):
        """Validate the fields; raise ``ValueError`` naming the bad value."""
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f'train must be a TrainConfig, got {type(self.train).__name__}')
        require_nonnegative('embedding_loss', self.embedding_loss)
        if self.teacher != 'tiny':
            raise ValueError(f"teacher must be 'tiny' (the fp32 embedded captioner), got "
                             f'{self.teacher!r}')

    def as_dict(self) -> dict:
        """Plain nested dict (JSON-ready)."""
        return asdict(self)


def _agent(model, pixels):
    git = model.git
    return git.visual_projection(git.image_encoder(pixels).last_hidden_state)


def _student(config: DistillConfig, teacher, tokenizer):
    student = new_captioner(config.train.model, tokenizer, config.train.seed)
    text = {k: v for k, v in teacher.state_dict().items() if not k.startswith(_AGENT_PREFIXES)}
    missing, unexpected = student.load_state_dict(text, strict=False)
    if unexpected or any(not k.startswith(_AGENT_PREFIXES) for k in missing):
        raise ValueError(f'the student decoder does not match the teacher: missing '
                         f'{[k for k in missing if not k.startswith(_AGENT_PREFIXES)]}, '
                         f'unexpected {unexpected}')
    for name, parameter in student.named_parameters():
        parameter.requires_grad_(name.startswith(_AGENT_PREFIXES))
    return student


def distill_captioner(config: DistillConfig = DistillConfig(),
                      log: Callable[[str], None] | None = None,
                      progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Distil the larger agent from the small captioner; returns the whole student model."""
    from transformers import GitForCausalLM

    from qcoinf_ros.core.captioner.model import build_processor
    from qcoinf_ros.core.captioner.tokenizer import scene_tokenizer
    from qcoinf_ros.core.models.embedded import EMBEDDED
    if not isinstance(config, DistillConfig):
        raise ValueError(f'config must be a DistillConfig, got {type(config).__name__}')
    log = log or (lambda _line: None)
    progress = progress or (lambda _done, _total: None)
    previous = torch.get_num_threads()
    torch.set_num_threads(config.train.threads)
    try:
        tokenizer = scene_tokenizer()
        processor = build_processor(tokenizer, config.train.model.image_size)
        teacher = GitForCausalLM.from_pretrained(str(EMBEDDED[config.teacher][1]),
                                                 local_files_only=True)
        teacher.eval().requires_grad_(False)
        student = _student(config, teacher, tokenizer)
        student.train()
        trainable = [p for p in student.parameters() if p.requires_grad]
        decay = [p for n, p in student.named_parameters()
                 if p.requires_grad and p.ndim >= 2 and 'embeddings' not in n]
        rest = [p for p in trainable if all(p is not d for d in decay)]
        optimizer = torch.optim.AdamW([{'params': decay, 'weight_decay':
                                        config.train.weight_decay},
                                       {'params': rest, 'weight_decay': 0.0}],
                                      lr=config.train.lr)
        report = _Reporter(config.train, student, processor, log, progress)
        for step, (pixels, input_ids, attention_mask, labels) in enumerate(
                _loader(config.train, tokenizer)):
            for group in optimizer.param_groups:
                group['lr'] = _learning_rate(step, config.train)
            with torch.no_grad():
                target = _agent(teacher, pixels)
            tokens = _agent(student, pixels)
            caption = student(input_ids=input_ids, attention_mask=attention_mask,
                              pixel_values=pixels, labels=labels).loss
            match = torch.nn.functional.mse_loss(tokens, target)
            loss = caption + config.embedding_loss * match
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            report(step, {'loss': caption.item(), 'embedding_mse': match.item()})
        seconds = report.seconds
    finally:
        torch.set_num_threads(previous)
    return TrainResult(student.eval(), processor, seconds, config.train, report.history)


def ship_captioner(model, processor, out: str | os.PathLike, summary: dict, *,
                   granularity: str = 'per_tensor', count: int = 500,
                   model_id: str = 'qcoinf/git-scenes-96-w768',
                   log: Callable[[str], None] | None = None) -> dict:
    """
    Write ``model`` in the shipped format to ``out``, with its quality before and after.

    The fp32 model and the shipped one (agent = its 8-bit codes) are scored on the first
    ``count`` held-out test scenes (greedy captions, CIDEr-D x100 and exact match); both go
    into ``training.json`` under ``quality`` with ``summary``, and the shipped model's quality
    per scheme and agent bit-width (b = 1..8, from its stored codes) into ``quality.json``
    (:meth:`~qcoinf_ros.core.captioner.evaluate.SweepResult.as_dict`: the demo's quality floor).
    ``model`` is taken over (it becomes a split). Returns the ``quality`` record.
    """
    from qcoinf_ros.core.captioner.evaluate import bit_width_sweep, evaluate_captioner, \
        scene_dataset
    from qcoinf_ros.core.models.git import GitSplit
    from qcoinf_ros.core.models.shipped import save_shipped
    log = log or (lambda _line: None)
    out = Path(out)
    save_shipped(model, processor, out, granularity=granularity)
    samples = scene_dataset('test', count)
    dataset = f'scenes test split, seed 0 ({count} images)'
    quality = {'dataset': dataset, 'cider_scale': 'x100'}
    fp32, _ = evaluate_captioner(GitSplit.from_model(model, processor=processor), samples)
    quality['fp32'] = fp32.as_dict()
    log(f'fp32: CIDEr {fp32.cider:.1f}, exact match {fp32.exact_match:.3f}')
    shipped = GitSplit.from_pretrained(out)
    sweep = bit_width_sweep(shipped, samples, granularity=granularity, dataset=dataset,
                            progress=lambda step: log(f'quality sweep: {step}'))
    sweep.model_id = model_id
    quality['shipped'] = sweep.fp32.as_dict()
    log(f'shipped (8-bit agent): CIDEr {sweep.fp32.cider:.1f}, exact match '
        f'{sweep.fp32.exact_match:.3f}')
    (out / 'quality.json').write_text(json.dumps(sweep.as_dict(tolerance=2.0), indent=1) + '\n')
    (out / TRAINING_FILE).write_text(json.dumps({**summary, 'quality': quality}, indent=1) +
                                     '\n')
    return quality
