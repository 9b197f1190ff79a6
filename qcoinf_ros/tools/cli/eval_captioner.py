"""``qcoinf eval captioner``: CIDEr and exact match of a captioner, and quality vs bit-width."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Callable

import torch

from qcoinf_ros.core.captioner.evaluate import bit_width_sweep, DEFAULT_MAX_NEW_TOKENS, \
    evaluate_captioner, plot_sweep, scene_dataset, SweepResult
from qcoinf_ros.core.captioner.metrics import CaptionScores
from qcoinf_ros.core.models.base import CaptionerSplit
from qcoinf_ros.core.quant.config import SCHEMES
from qcoinf_ros.core.scenes.coco import load_coco, Sample
from qcoinf_ros.core.scenes.generator import SceneConfig, SPLITS
from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative


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
    from qcoinf_ros.core.models.embedded import EMBEDDED, embedded_name
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
    from qcoinf_ros.core.models.embedded import DEFAULT_MODEL_ID, load_captioner
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


if __name__ == '__main__':
    sys.exit(main())
