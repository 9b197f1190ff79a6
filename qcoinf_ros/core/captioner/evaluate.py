"""
Caption quality at full precision and per agent bit-width (``qcoinf eval captioner``).

Quality is CIDEr-D and the exact-match rate (:mod:`qcoinf_ros.core.captioner.metrics`).
By default it scores the shipped scene captioner on held-out test scenes. With ``--checkpoint``
(a local GIT or BLIP-2 directory) and ``--annotations`` / ``--images`` (a COCO captions file and
its image folder) the same evaluation runs on a real model and data set.

The sweep quantizes the AGENT part only (GIT: image encoder + visual projection; BLIP-2: vision
model + Q-Former + projection) with :class:`~qcoinf_ros.core.quant.nested.NestedQuantizedModel`
(codes stored once at ``B_max``, each bit-width derived from them), uniform and PoT-log, and
keeps the server part in full precision, as the system deploys it. Captions are greedy
(``do_sample=False, num_beams=1``). CIDEr is reported x100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
import time
from typing import Callable, Sequence

import torch

from qcoinf_ros.core.captioner.metrics import CaptionScores, score_captions
from qcoinf_ros.core.models.base import CaptionerSplit
from qcoinf_ros.core.quant.config import check_granularity, check_scheme, SCHEMES
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.core.scenes.coco import Sample
from qcoinf_ros.core.scenes.generator import iter_scenes, SceneConfig
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative

__all__ = ['GENERATION', 'caption_pixels', 'preprocess_dataset', 'generate_captions',
           'evaluate_captioner', 'SweepRow', 'SweepResult', 'bit_width_sweep', 'scene_dataset',
           'plot_sweep']

#: Greedy decoding, as used for every score this module reports.
GENERATION = {'do_sample': False, 'num_beams': 1}
DEFAULT_MAX_NEW_TOKENS = 24


def caption_pixels(generate: Callable[..., torch.Tensor],
                   to_text: Callable[[torch.Tensor], list[str]], pixels: torch.Tensor,
                   batch_size: int = 64,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[str]:
    """Caption preprocessed ``pixels`` in batches: ``to_text(generate(batch, **greedy))``."""
    batch_size = require_int_in_range('batch_size', batch_size, 1)
    max_new_tokens = require_int_in_range('max_new_tokens', max_new_tokens, 1)
    captions: list[str] = []
    with torch.no_grad():
        for batch in pixels.split(batch_size):
            ids = generate(batch, max_new_tokens=max_new_tokens, **GENERATION)
            captions.extend(to_text(ids))
    return captions


def preprocess_dataset(model: CaptionerSplit, samples: Sequence[Sample],
                       batch_size: int = 64) -> torch.Tensor:
    """Pixel values of every sample's image (the model's own preprocessing), concatenated."""
    batch_size = require_int_in_range('batch_size', batch_size, 1)
    images = [image for image, _, _ in samples]
    return torch.cat([model.preprocess(images[i:i + batch_size])
                      for i in range(0, len(images), batch_size)])


def _split_captions(model: CaptionerSplit, pixels: torch.Tensor, batch_size: int,
                    max_new_tokens: int) -> list[str]:
    return caption_pixels(lambda px, **kw: model.decode(model.encode(px), **kw), model.captions,
                          pixels, batch_size, max_new_tokens)


def generate_captions(model: CaptionerSplit, images, batch_size: int = 64,
                      max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> list[str]:
    """Greedy captions of ``images`` (uint8 ``H x W x 3`` arrays) by agent then server."""
    samples = [(image, [], i) for i, image in enumerate(images)]
    return _split_captions(model, preprocess_dataset(model, samples, batch_size), batch_size,
                           max_new_tokens)


def _references(samples: Sequence[Sample]) -> dict[int, list[str]]:
    return {image_id: list(captions) for _, captions, image_id in samples}


def _score(samples: Sequence[Sample], captions: list[str]) -> CaptionScores:
    return score_captions({image_id: c for (_, _, image_id), c in zip(samples, captions)},
                          _references(samples))


def evaluate_captioner(model: CaptionerSplit, samples: Sequence[Sample], batch_size: int = 64,
                       max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
                       ) -> tuple[CaptionScores, dict[int, str]]:
    """Score ``model`` as it is (weights untouched) on ``samples``; also return the captions."""
    _check_samples(samples)
    pixels = preprocess_dataset(model, samples, batch_size)
    captions = _split_captions(model, pixels, batch_size, max_new_tokens)
    return _score(samples, captions), {i: c for (_, _, i), c in zip(samples, captions)}


def _check_samples(samples: Sequence[Sample]) -> None:
    if len(samples) < 2:
        raise ValueError(f'need at least 2 images to score captions, got {len(samples)}')


@dataclass(frozen=True)
class SweepRow:
    """Caption quality with the agent quantized at ``bit_width`` bits with ``scheme``."""

    scheme: str
    bit_width: int
    cider: float
    exact_match: float


@dataclass
class SweepResult:
    """Full-precision scores and one :class:`SweepRow` per (scheme, bit-width)."""

    model_id: str
    dataset: str
    fp32: CaptionScores
    rows: list[SweepRow] = field(default_factory=list)
    granularity: str = 'per_tensor'
    b_max: int = 8
    seconds: float = 0.0

    def schemes(self) -> list[str]:
        """Schemes in the order they were swept."""
        return list(dict.fromkeys(row.scheme for row in self.rows))

    def within(self, tolerance: float = 1.0) -> dict[str, int | None]:
        """
        Per scheme, the smallest swept ``b`` from which on CIDEr stays within ``tolerance``.

        That is the least ``b`` such that every swept ``b' >= b`` has ``CIDEr(b') >=
        CIDEr(fp32) - tolerance`` (x100 points); ``None`` when even the largest ``b`` misses.
        """
        tolerance = require_nonnegative('tolerance', tolerance)
        out: dict[str, int | None] = {}
        for scheme in self.schemes():
            rows = sorted((r for r in self.rows if r.scheme == scheme),
                          key=lambda r: r.bit_width, reverse=True)
            best = None
            for row in rows:
                if row.cider < self.fp32.cider - tolerance:
                    break
                best = row.bit_width
            out[scheme] = best
        return out

    def as_dict(self, tolerance: float = 1.0) -> dict:
        """Plain dict (JSON-ready), with :meth:`within` at ``tolerance``."""
        return {'model_id': self.model_id, 'dataset': self.dataset,
                'granularity': self.granularity, 'b_max': self.b_max,
                'seconds': round(self.seconds, 2), 'cider_scale': 'x100',
                'fp32': self.fp32.as_dict(),
                'rows': [vars(row).copy() for row in self.rows],
                'within_tolerance': {'tolerance': tolerance, 'bit_width': self.within(tolerance)}}


def bit_width_sweep(model: CaptionerSplit, samples: Sequence[Sample],
                    schemes: Sequence[str] = SCHEMES, bit_widths: Sequence[int] = range(1, 9),
                    granularity: str = 'per_tensor', batch_size: int = 64,
                    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, dataset: str = '',
                    progress: Callable[[str], None] | None = None) -> SweepResult:
    """
    Score ``model`` in full precision, then with its agent part quantized per scheme and ``b``.

    The agent is quantized in place once per scheme at ``B_max = max(bit_widths)`` and switched
    with ``set_bit_width``; its full-precision weights are restored afterwards (also on error).
    """
    _check_samples(samples)
    schemes = [check_scheme(s) for s in schemes]
    granularity = check_granularity(granularity)
    bit_widths = sorted({require_int_in_range('bit_width', b, 1, 16) for b in bit_widths},
                        reverse=True)
    if not bit_widths or not schemes:
        raise ValueError('need at least one scheme and one bit-width to sweep')
    progress = progress or (lambda _message: None)
    start = time.perf_counter()
    pixels = preprocess_dataset(model, samples, batch_size)
    progress('fp32')
    fp32 = _score(samples, _split_captions(model, pixels, batch_size, max_new_tokens))
    result = SweepResult(model.model_id, dataset, fp32, granularity=granularity,
                         b_max=bit_widths[0])
    agent = model.agent_module
    original = {name: value.detach().clone() for name, value in agent.state_dict().items()}
    try:
        for scheme in schemes:
            quantized = NestedQuantizedModel(agent, scheme, b_max=bit_widths[0],
                                             granularity=granularity, stored=model.stored_codes)
            for bits in bit_widths:
                progress(f'{scheme} b={bits}')
                quantized.set_bit_width(bits)
                scores = _score(samples, _split_captions(model, pixels, batch_size,
                                                         max_new_tokens))
                result.rows.append(SweepRow(scheme, bits, scores.cider, scores.exact_match))
            agent.load_state_dict(original)
    finally:
        agent.load_state_dict(original)
    result.rows.sort(key=lambda r: (schemes.index(r.scheme), r.bit_width))
    result.seconds = time.perf_counter() - start
    return result


def scene_dataset(split: str = 'test', count: int = 500,
                  config: SceneConfig = SceneConfig()) -> list[Sample]:
    """Return the first ``count`` scenes of ``split`` as ``[(image, captions, id)]``."""
    return list(iter_scenes(split, count, config))


def plot_sweep(result: SweepResult, path: str | os.PathLike) -> Path:
    """Plot CIDEr and exact match against the bit-width, per scheme, with fp32 lines (PNG)."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    path = Path(path)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, key, label in ((axes[0], 'cider', 'CIDEr-D (x100)'),
                             (axes[1], 'exact_match', 'exact match')):
        for scheme, marker in zip(result.schemes(), 'os^v'):
            rows = [r for r in result.rows if r.scheme == scheme]
            axis.plot([r.bit_width for r in rows], [getattr(r, key) for r in rows],
                      marker=marker, label=scheme)
        axis.axhline(getattr(result.fp32, key), color='gray', linestyle='--', label='fp32')
        axis.set_xlabel('agent bit-width b (sign included)')
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle(f'{result.model_id} on {result.dataset or "?"}: quality vs bit-width '
                    f'({result.granularity})', fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
