"""
``qcoinf eval captioner``: caption quality at full precision and per agent bit-width.

Quality is CIDEr-D and the exact-match rate (:mod:`qcoinf_ros.captioner.metrics`).
By default it scores the shipped scene captioner on held-out test scenes. With ``--checkpoint``
(a local GIT or BLIP-2 directory) and ``--annotations`` / ``--images`` (a COCO captions file and
its image folder) the same evaluation runs on a real model and data set.

The sweep quantizes the AGENT part only (GIT: image encoder + visual projection; BLIP-2: vision
model + Q-Former + projection) with :class:`~qcoinf_ros.quant.nested.NestedQuantizedModel`
(codes stored once at ``B_max``, each bit-width derived from them), uniform and PoT-log, and
keeps the server part in full precision, as the system deploys it. Captions are greedy
(``do_sample=False, num_beams=1``). CIDEr is reported x100.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import sys
import time
from typing import Callable, Sequence

import torch

from qcoinf_ros.captioner.metrics import CaptionScores, score_captions
from qcoinf_ros.models.base import CaptionerSplit
from qcoinf_ros.quant.config import check_granularity, check_scheme, SCHEMES
from qcoinf_ros.quant.nested import NestedQuantizedModel
from qcoinf_ros.scenes.coco import load_coco, Sample
from qcoinf_ros.scenes.generator import iter_scenes, SceneConfig, SPLITS
from qcoinf_ros.validation import require_int_in_range, require_nonnegative

__all__ = ['GENERATION', 'caption_pixels', 'preprocess_dataset', 'generate_captions',
           'evaluate_captioner', 'SweepRow', 'SweepResult', 'bit_width_sweep', 'scene_dataset',
           'plot_sweep', 'main']

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


def _console():
    from rich.console import Console
    return Console(width=None if sys.stdout.isatty() else 120, soft_wrap=True)


def _print_fp32(console, model_id: str, dataset: str, scores: CaptionScores,
                seconds: float) -> None:
    console.print(f'{model_id} on {dataset}: fp32 CIDEr-D {scores.cider:.1f} (x100), exact '
                  f'match {scores.exact_match:.3f} over {scores.count} images ({seconds:.1f} s)')


def _print_shipped(console, spec: str, model: CaptionerSplit, dataset: str) -> None:
    """For a model whose agent is stored as codes: say so, with its recorded fp32 quality."""
    if not model.stored_codes:
        return
    from qcoinf_ros.captioner.default import EMBEDDED, embedded_name
    bits = next(iter(model.stored_codes.values())).bits
    console.print(f'(the agent is stored as its {bits}-bit codes: "fp32" above is that agent in '
                  f'fp32 arithmetic, the same as b = {bits})')
    name = embedded_name(spec)
    directory = EMBEDDED[name][1] if name else Path(str(spec)).expanduser()
    try:
        quality = json.loads((directory / 'training.json').read_text())['quality']
    except (OSError, ValueError, KeyError, TypeError):
        return
    if quality.get('dataset') == dataset:
        fp32 = quality['fp32']
        console.print(f'before shipping, with its fp32 agent (training.json): CIDEr-D '
                      f'{fp32["cider"]:.1f}, exact match {fp32["exact_match"]:.3f}')


def _print_sweep(console, result: SweepResult, tolerance: float) -> None:
    from rich.table import Table
    table = Table(title=f'Agent quantized ({result.granularity}, B_max {result.b_max}); server '
                        f'fp32. CIDEr-D x100; fp32 CIDEr {result.fp32.cider:.1f}, exact '
                        f'{result.fp32.exact_match:.3f}', title_justify='left')
    table.add_column('b', justify='right')
    for scheme in result.schemes():
        table.add_column(f'{scheme} CIDEr', justify='right')
        table.add_column(f'{scheme} exact', justify='right')
    for bits in sorted({r.bit_width for r in result.rows}):
        cells = [str(bits)]
        for scheme in result.schemes():
            row = next((r for r in result.rows if r.scheme == scheme and r.bit_width == bits),
                       None)
            cells += ['-', '-'] if row is None else [f'{row.cider:.1f}',
                                                     f'{row.exact_match:.3f}']
        table.add_row(*cells)
    console.print(table)
    for scheme, bits in result.within(tolerance).items():
        text = (f'b >= {bits}' if bits is not None else 'no swept b')
        console.print(f'{scheme}: within {tolerance:g} CIDEr point(s) of fp32 for {text}')


def _load_samples(args, parser) -> tuple[list[Sample], str]:
    if (args.annotations is None) != (args.images is None):
        parser.error('--annotations and --images go together')
    if args.annotations is not None:
        samples = load_coco(args.annotations, args.images, args.count)
        return samples, f'{args.annotations} ({len(samples)} images)'
    count = 500 if args.count is None else args.count
    config = SceneConfig(seed=args.scene_seed)
    return scene_dataset(args.split, count, config), (f'scenes {args.split} split, seed '
                                                      f'{args.scene_seed} ({count} images)')


def main(argv: list[str] | None = None) -> int:
    """Caption quality (CIDEr-D x100, exact match) at fp32 and per agent bit-width."""
    parser = argparse.ArgumentParser(prog='qcoinf eval captioner', description=main.__doc__)
    parser.add_argument('--checkpoint', default=None,
                        help='local GIT or BLIP-2 checkpoint directory (default: the shipped '
                             'scene captioner)')
    parser.add_argument('--annotations', type=Path, help='COCO captions JSON file')
    parser.add_argument('--images', type=Path, help='folder of the images of --annotations')
    parser.add_argument('--split', default='test', choices=SPLITS,
                        help='scene split when no --annotations (default: test)')
    parser.add_argument('--count', type=int, default=None,
                        help='images to evaluate (default: 500 scenes, or every COCO image)')
    parser.add_argument('--scene-seed', type=int, default=0, help='seed of the scene generator')
    parser.add_argument('--schemes', nargs='+', default=list(SCHEMES), choices=SCHEMES)
    parser.add_argument('--bits', nargs='+', type=int, default=list(range(1, 9)),
                        help='agent bit-widths to sweep (default: 1 .. 8)')
    parser.add_argument('--fp32-only', action='store_true', help='skip the bit-width sweep')
    parser.add_argument('--granularity', default='per_tensor',
                        choices=('per_tensor', 'per_channel'))
    parser.add_argument('--tolerance', type=float, default=1.0,
                        help='CIDEr points (x100) for the "within fp32" bit-width')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--max-new-tokens', type=int, default=DEFAULT_MAX_NEW_TOKENS)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--show', type=int, default=5, help='example captions to print')
    parser.add_argument('--out', type=Path,
                        help='folder for results.json, captions_fp32.json and the plot PNG')
    args = parser.parse_args(argv)
    from qcoinf_ros.captioner.default import DEFAULT_MODEL_ID, load_captioner
    console = _console()
    try:
        if args.threads is not None:
            torch.set_num_threads(require_int_in_range('threads', args.threads, 1))
        require_nonnegative('tolerance', args.tolerance)
        samples, dataset = _load_samples(args, parser)
        model = load_captioner(args.checkpoint or DEFAULT_MODEL_ID)
        start = time.perf_counter()
        scores, captions = evaluate_captioner(model, samples, args.batch_size,
                                              args.max_new_tokens)
        _print_fp32(console, model.model_id, dataset, scores, time.perf_counter() - start)
        _print_shipped(console, args.checkpoint or DEFAULT_MODEL_ID, model, dataset)
        for image, refs, image_id in samples[:max(0, args.show)]:
            console.print(f'  {image_id}: "{captions[image_id]}"  | ref: "{refs[0]}"',
                          highlight=False, markup=False)
        result = None
        if not args.fp32_only:
            steps = 1 + len(args.schemes) * len(set(args.bits))
            with _SweepProgress(steps, enabled=sys.stderr.isatty()) as progress:
                result = bit_width_sweep(model, samples, args.schemes, args.bits,
                                         args.granularity, args.batch_size, args.max_new_tokens,
                                         dataset, progress)
            _print_sweep(console, result, args.tolerance)
    except ValueError as exc:
        print(f'qcoinf eval captioner: error: {exc}', file=sys.stderr)
        return 2
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        report = (result.as_dict(args.tolerance) if result is not None else
                  {'model_id': model.model_id, 'dataset': dataset, 'cider_scale': 'x100',
                   'fp32': scores.as_dict()})
        (args.out / 'results.json').write_text(json.dumps(report, indent=1) + '\n')
        (args.out / 'captions_fp32.json').write_text(json.dumps(
            [{'image_id': i, 'caption': c} for i, c in captions.items()], indent=0) + '\n')
        if result is not None:
            console.print(f'plot: {plot_sweep(result, args.out / "quality_vs_bits.png")}')
    return 0


class _SweepProgress:
    """Context manager yielding ``report(message)``: a rich progress bar, or a no-op."""

    def __init__(self, total: int, enabled: bool):
        self._total = total
        self._bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import Progress
            self._bar = Progress(console=Console(stderr=True), transient=True)

    def __enter__(self) -> Callable[[str], None]:
        if self._bar is None:
            return lambda _message: None
        self._bar.__enter__()
        task = self._bar.add_task('sweep', total=self._total)
        started = []

        def report(message: str) -> None:
            self._bar.update(task, advance=1 if started else 0, description=f'sweep: {message}')
            started.append(message)
        return report

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
