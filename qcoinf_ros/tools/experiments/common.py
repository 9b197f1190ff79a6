"""
Helpers shared by the experiment modules: CSV files, figures, and the models available offline.

:func:`offline_models` lists the models the paper's Figs. 2-3 are run on here: FCDNN-16 (shipped
weights, digits inputs), all-MiniLM-L6-v2 (real pretrained weights, real sentences), the
default captioner (the shipped GIT, scene images), and a real GIT / BLIP-2 checkpoint when the
user gives its local directory. Each comes as a :class:`ModelCase` that loads lazily: the
quantized agent module, its forward function and two disjoint input sets (one to estimate a
constant on, one to check it on).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

__all__ = ['ModelCase', 'LoadedCase', 'offline_models', 'write_csv', 'pyplot', 'save_figure',
           'OPTIONS', 'check_options', 'start_run']

#: Options ``qcoinf experiment`` passes to every experiment (each uses those it needs).
OPTIONS = ('git', 'blip2', 'annotations', 'images')


def check_options(name: str, options) -> None:
    """Raise ``ValueError`` naming any key of ``options`` that is not in :data:`OPTIONS`."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f'{name}: unknown option(s) {unknown}; known: {list(OPTIONS)}')


def start_run(name: str, title: str, out_dir, size: str, options, progress):
    """
    Check the arguments of an experiment's ``run`` and make its folder.

    Return ``(out_dir as a Path, progress or a no-op, an empty ExperimentResult, start time)``;
    the experiment sets ``result.seconds = time.perf_counter() - start`` when done.
    """
    import time

    from qcoinf_ros.tools.experiments.result import check_size, ExperimentResult, no_progress
    check_size(size)
    check_options(name, options)
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir, progress or no_progress, ExperimentResult(name, title), start


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write ``rows`` under ``header`` to ``path`` (floats with 6 significant digits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open('w', newline='', encoding='utf-8') as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for row in rows:
            if len(row) != len(header):
                raise ValueError(f'row {row!r} has {len(row)} values, header has {len(header)}')
            writer.writerow([f'{v:.6g}' if isinstance(v, float) else v for v in row])
    return path


def pyplot():
    """Return ``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as a PNG at ``path`` (parents created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path


@dataclass
class LoadedCase:
    """A loaded model: the quantized module, how to run it, and two disjoint input sets."""

    module: Any  # torch.nn.Module: the part that gets quantized
    forward: Callable[[Any], Any]  # inputs -> tensor whose first dimension indexes inputs
    calibration: Any  # inputs to estimate H of eq. (17) on
    held_out: Any  # inputs to check the estimated bound on
    filter_fn: Callable | None = None  # which weights are quantized (None: the default)
    num_inputs: int = 0


@dataclass(frozen=True)
class ModelCase:
    """A model of the evaluation, loaded on demand by ``load(num_inputs)``."""

    key: str  # short id used in file names, e.g. 'fcdnn16'
    label: str  # what figures and tables call it
    load: Callable[[int], LoadedCase]
    inputs_full: int  # number of inputs at size 'full'
    inputs_small: int  # number of inputs at size 'small'

    def inputs(self, size: str) -> int:
        """Return the number of inputs for ``size``."""
        return self.inputs_small if size == 'small' else self.inputs_full


def _halves(n: int) -> tuple[slice, slice]:
    return slice(0, n // 2), slice(n // 2, n)


def _fcdnn(n: int) -> LoadedCase:
    from qcoinf_ros.core.models.fcdnn import digits_split, FcdnnSplit
    split = FcdnnSplit.from_pretrained()
    test = digits_split()[1][:n]
    first, second = _halves(test.shape[0])
    return LoadedCase(split.agent_module, split.encode, test[first], test[second],
                      num_inputs=test.shape[0])


def _minilm(n: int) -> LoadedCase:
    from qcoinf_ros.core.models.minilm import MiniLM, quantizable_filter, SENTENCES
    minilm = MiniLM.load()
    sentences = list(SENTENCES[:n])
    first, second = _halves(len(sentences))
    return LoadedCase(minilm.model, minilm.forward, minilm.tokenize(sentences[first]),
                      minilm.tokenize(sentences[second]), quantizable_filter, len(sentences))


def _scene_pixels(split, n: int):
    from qcoinf_ros.core.captioner.evaluate import preprocess_dataset, scene_dataset
    return preprocess_dataset(split, scene_dataset('test', n))


def _captioner(spec: str) -> Callable[[int], LoadedCase]:
    def load(n: int) -> LoadedCase:
        from qcoinf_ros.core.models.registry import load_split
        split = load_split(spec, parts='agent')
        pixels = _scene_pixels(split, n)
        first, second = _halves(pixels.shape[0])
        return LoadedCase(split.agent_module, split.encode, pixels[first], pixels[second],
                          num_inputs=pixels.shape[0])
    return load


def offline_models(size: str = 'full', git: str | Path | None = None,
                   blip2: str | Path | None = None) -> list[ModelCase]:
    """
    Return the models of Figs. 2-3 available here, in the order they are reported.

    ``size='small'`` leaves out all-MiniLM-L6-v2 (10.6 M weights: seconds, not a test's
    budget). ``git`` / ``blip2``: local checkpoint directories of real GIT / BLIP-2 models
    (agent part only is loaded; inputs are the package's scene images in the model's own
    preprocessing).
    """
    cases = [ModelCase('fcdnn16', 'FCDNN-16 encoder (digits)', _fcdnn, 360, 120)]
    if size != 'small':
        cases.append(ModelCase('minilm', 'all-MiniLM-L6-v2', _minilm, 40, 40))
    cases.append(ModelCase('captioner', 'default captioner (GIT, agent)',
                           _captioner('default'), 128, 32))
    for family, path in (('git', git), ('blip2', blip2)):
        if path is not None:
            if not Path(path).expanduser().is_dir():
                raise ValueError(f'{family} checkpoint directory {str(path)!r} does not exist')
            label = 'GIT' if family == 'git' else 'BLIP-2'
            cases.append(ModelCase(family, f'{label} ({Path(path).name}, agent)',
                                   _captioner(f'{family}:{path}'), 32, 8))
    return cases
