"""
What one experiment (a figure or table of the paper, §VI) hands back: files and findings.

Every experiment module of :mod:`qcoinf_ros.tools.experiments` exposes::

    run(out_dir: Path, *, size: str = 'full', progress: Callable[[str, int, int], None] | None
        = None, **options) -> ExperimentResult

``size`` is ``'small'`` (the test size: seconds) or ``'full'`` (the documented size);
``progress(task, done, total)`` is called as work advances (the command line draws a bar from
it). ``run`` writes its CSV files and plots under ``out_dir`` and returns where they are with
its findings: the paper's number or claim beside ours, and whether they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

#: ``progress(task, done, total)``
ProgressFn = Callable[[str, int, int], None]
SIZES = ('small', 'full')


def no_progress(task: str, done: int, total: int) -> None:
    """Progress callback that does nothing."""


@dataclass(frozen=True)
class Finding:
    """One comparison with the paper: what, the paper's figure or claim, ours, and a verdict."""

    what: str
    paper: str
    ours: str
    agrees: bool | None  # None: nothing in the paper to compare with (a new measurement)
    sentence: str  # one sentence, from the data, for docs/results.md


@dataclass
class ExperimentResult:
    """Files an experiment wrote (relative to its ``out_dir`` or absolute) and its findings."""

    name: str  # e.g. 'fig4'
    title: str  # e.g. 'Fig. 4: rate-distortion bounds and the Blahut-Arimoto D(R)'
    csv: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # how it was run: sizes, scaling, models


def check_size(size: str) -> str:
    """Return ``size`` if it is one of :data:`SIZES`, else raise ``ValueError`` naming it."""
    if size not in SIZES:
        raise ValueError(f'size must be one of {SIZES}, got {size!r}')
    return size
