"""
Caption quality per agent bit-width, the quality axis of Figs. 5-8 and Table I (paper §VI-C).

The planner picks a bit-width ``b``; the quality of its plan is the CIDEr-D (x100, the paper's
metric, eq. (37)) of the captioner with its agent part quantized at ``b`` bits
(:func:`qcoinf_ros.core.captioner.evaluate.bit_width_sweep`: uniform and PoT-log, server fp32,
greedy captions). The table is computed once per captioner and data set, written to
``quality_vs_bits_<slug>.csv`` in the experiment's folder and read back from there, from a
sibling experiment's folder (:func:`cached_files`) or from an in-process cache by every later
experiment that asks for the same table.

A plan that breaks a budget delivers no caption within it: its quality is
:data:`INFEASIBLE_CIDER` (0). The paper reports only feasible designs for its random baseline
("only feasible trials are evaluated and reported") and says nothing about the others.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from qcoinf_ros.tools.experiments.common import check_options, OPTIONS, write_csv
from qcoinf_ros.tools.experiments.result import check_size, no_progress, ProgressFn

__all__ = ['INFEASIBLE_CIDER', 'QualityTable', 'SCENES', 'cached_files', 'clear_cache',
           'experiment_options', 'plan_cider', 'quality_for', 'quality_table']

#: CIDEr credited to a plan that breaks a budget (no caption within the budget).
INFEASIBLE_CIDER = 0.0
#: Held-out scenes scored per size (docs/reproducing.md's 500 test scenes at full size).
SCENES = {'small': 40, 'full': 500}
#: COCO images scored per size when ``annotations`` is given (``None``: every image).
COCO_IMAGES = {'small': 40, 'full': None}
#: Agent bit-widths of the table: 1..8, the range of ``qcoinf eval captioner``.
BIT_WIDTHS = tuple(range(1, 9))
SCHEMES = ('uniform', 'potlog')
_FIELDS = ('source', 'dataset', 'model_id', 'scheme', 'bit_width', 'cider', 'exact_match')
_CACHE: dict[tuple, QualityTable] = {}


@dataclass(frozen=True)
class QualityTable:
    """CIDEr (x100) of one captioner at full precision and per scheme and agent bit-width."""

    source: str  # 'default' or the checkpoint directory
    model_id: str
    dataset: str
    fp32: float
    cider: Mapping[str, tuple[float, ...]]  # scheme -> CIDEr at b = 1..b_max
    path: Path
    #: scheme -> exact-match rate at b = 1..b_max, and ``'fp32'`` -> (rate,)
    exact_match: Mapping[str, tuple[float, ...]] | None = None

    @property
    def b_max(self) -> int:
        """Largest bit-width of the table (B_max of the planning problems built on it)."""
        return len(next(iter(self.cider.values())))

    def at(self, scheme: str, bit_width: int) -> float:
        """Return the CIDEr with the agent at ``bit_width`` bits of ``scheme``."""
        if scheme not in self.cider:
            raise ValueError(f'scheme must be one of {sorted(self.cider)}, got {scheme!r}')
        if not 1 <= bit_width <= self.b_max:
            raise ValueError(f'bit_width must be in [1, {self.b_max}], got {bit_width!r}')
        return self.cider[scheme][bit_width - 1]

    def dip(self, scheme: str) -> float:
        """
        Largest drop of CIDEr when ``b`` grows: max over b' < b of CIDEr(b') - CIDEr(b), >= 0.

        The planner maximises ``b`` (its objective decreases in ``b``), so a plan with more
        bits can score up to this much less than one with fewer: measurement noise of the table,
        the tolerance of every "quality never falls" comparison of the experiments.
        """
        return self.dip_at(scheme)[0]

    def dip_at(self, scheme: str) -> tuple[float, int, int]:
        """``(dip, b_low, b_high)``: :meth:`dip` and the bit-widths where it occurs (0, 0, 0)."""
        values = self.cider[scheme]
        best = (0.0, 0, 0)
        for i in range(1, len(values)):
            j = max(range(i), key=values.__getitem__)
            if values[j] - values[i] > best[0]:
                best = (values[j] - values[i], j + 1, i + 1)
        return best


def plan_cider(table: QualityTable, scheme: str, plan) -> float:
    """Quality of a :class:`~qcoinf_ros.core.planner.Plan`: CIDEr at its b, 0 if infeasible."""
    return table.at(scheme, plan.bit_width) if plan.feasible else INFEASIBLE_CIDER


def clear_cache() -> None:
    """Forget the tables computed or read in this process (they stay in their CSV files)."""
    _CACHE.clear()


def quality_table(out_dir: Path, *, size: str = 'full', slug: str = 'default',
                  checkpoint: str | Path | None = None, annotations: str | Path | None = None,
                  images: str | Path | None = None,
                  progress: ProgressFn | None = None) -> QualityTable:
    """
    Return the CIDEr per scheme and agent bit-width of a captioner, computed or from its CSV.

    ``checkpoint`` ``None`` scores the shipped default captioner, else a local GIT / BLIP-2
    checkpoint. Data: ``annotations`` + ``images`` (a COCO captions file and its image folder)
    or, by default, the held-out test scenes (:data:`SCENES` per size). The table is written to
    ``out_dir/quality_vs_bits_<slug>.csv``; an existing file for the same captioner and data
    (there or in a sibling folder, :func:`cached_files`) is read instead of recomputing it.
    """
    size = check_size(size)
    progress = progress or no_progress
    if (annotations is None) != (images is None):
        raise ValueError(f'annotations and images go together, got annotations={annotations!r}'
                         f' and images={images!r}')
    source = 'default' if checkpoint is None else str(Path(checkpoint).expanduser().resolve())
    if annotations is None:
        dataset = f'scenes test split, seed 0 ({SCENES[size]} images)'
    else:
        dataset = (f'{Path(annotations).resolve()} ({COCO_IMAGES[size] or "all"} images)')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f'quality_vs_bits_{slug}.csv'
    key = (source, dataset)
    table = _CACHE.get(key)
    for candidate in [] if table is not None else cached_files(out_dir, path.name):
        table = _read(candidate, source, dataset)
        if table is not None:
            break
    if table is None:
        table = _compute(path, source, dataset, size, checkpoint, annotations, images, progress)
    elif not _matches(path, source, dataset):
        _write(path, table)
    table = dataclasses.replace(table, path=path)
    _CACHE[key] = table
    return table


def _compute(path, source, dataset, size, checkpoint, annotations, images, progress):
    from qcoinf_ros.core.captioner.evaluate import bit_width_sweep, scene_dataset
    from qcoinf_ros.core.models.embedded import load_captioner
    if annotations is None:
        samples = scene_dataset('test', SCENES[size])
    else:
        from qcoinf_ros.core.scenes.coco import load_coco
        samples = load_coco(annotations, images, COCO_IMAGES[size])
    model = load_captioner('default' if checkpoint is None else checkpoint)
    total = 1 + len(SCHEMES) * len(BIT_WIDTHS)
    done = []
    progress('quality vs bit-width', 0, total)

    def step(_message):
        done.append(_message)
        progress('quality vs bit-width', len(done), total)

    sweep = bit_width_sweep(model, samples, SCHEMES, BIT_WIDTHS, dataset=dataset,
                            progress=step)
    cider = {scheme: tuple(r.cider for r in sorted(
        (r for r in sweep.rows if r.scheme == scheme), key=lambda r: r.bit_width))
        for scheme in SCHEMES}
    exact = {scheme: tuple(r.exact_match for r in sorted(
        (r for r in sweep.rows if r.scheme == scheme), key=lambda r: r.bit_width))
        for scheme in SCHEMES}
    exact['fp32'] = (sweep.fp32.exact_match,)
    table = QualityTable(source, sweep.model_id, dataset, sweep.fp32.cider, cider, path, exact)
    _write(path, table)
    progress('quality vs bit-width', total, total)
    return table


def _write(path: Path, table: QualityTable):
    exact = table.exact_match or {}
    nan = float('nan')
    base = (table.source, table.dataset, table.model_id)
    rows = [base + ('fp32', 32, table.fp32, exact.get('fp32', (nan,))[0])]
    for scheme, values in table.cider.items():
        rates = exact.get(scheme, (nan,) * len(values))
        rows += [base + (scheme, b, value, rate)
                 for b, (value, rate) in enumerate(zip(values, rates), start=1)]
    write_csv(path, _FIELDS, rows)


def _rows(path: Path) -> list[dict] | None:
    if not path.is_file():
        return None
    try:
        with path.open(newline='', encoding='utf-8') as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    return rows if rows and set(_FIELDS) <= set(rows[0]) else None


def _matches(path: Path, source: str, dataset: str) -> bool:
    rows = _rows(path)
    return bool(rows) and all(r['source'] == source and r['dataset'] == dataset for r in rows)


def _read(path: Path, source: str, dataset: str) -> QualityTable | None:
    """Return the table in ``path`` if complete and for the same captioner and data, else None."""
    if not _matches(path, source, dataset):
        return None
    rows = _rows(path)
    try:
        values = {(r['scheme'], int(r['bit_width'])): (float(r['cider']),
                                                       float(r['exact_match'])) for r in rows}
        cider = {s: tuple(values[(s, b)][0] for b in BIT_WIDTHS) for s in SCHEMES}
        exact = {s: tuple(values[(s, b)][1] for b in BIT_WIDTHS) for s in SCHEMES}
        fp32, exact['fp32'] = values[('fp32', 32)][0], (values[('fp32', 32)][1],)
    except (KeyError, ValueError):
        return None
    return QualityTable(source, rows[0]['model_id'], dataset, fp32, cider, path, exact)


def cached_files(out_dir: Path, name: str) -> list[Path]:
    """
    Files called ``name`` in ``out_dir``, then in its sibling folders (other experiments).

    ``qcoinf experiment`` gives each experiment its own folder under one output folder, so a
    table or policy computed by one experiment is found by the next, also in a later run.
    """
    out_dir = Path(out_dir)
    siblings = sorted(p for p in out_dir.parent.glob(f'*/{name}') if p.parent != out_dir)
    return [out_dir / name, *siblings]


def experiment_options(name: str, options: Mapping) -> dict:
    """
    Check ``options`` of experiment ``name``; return them with every known key (``None``).

    ``git`` / ``blip2``: a local checkpoint directory whose quality replaces the default
    captioner's for that model's cost model; ``annotations`` + ``images``: a COCO captions file
    and its image folder to score on instead of the test scenes. An unknown option raises
    ``ValueError`` naming it.
    """
    check_options(name, options)
    return {key: options.get(key) for key in OPTIONS}


def quality_for(model: str, out_dir: Path, size: str, options: Mapping,
                progress: ProgressFn | None = None) -> QualityTable:
    """Return the quality table for cost model ``model``: its checkpoint if given, else default."""
    checkpoint = options.get(model)
    return quality_table(out_dir, size=size, slug='default' if checkpoint is None else model,
                         checkpoint=checkpoint, annotations=options.get('annotations'),
                         images=options.get('images'), progress=progress)
