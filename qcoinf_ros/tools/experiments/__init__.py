"""
The paper's evaluation (§VI): one module per figure or table, each writing CSV and plots.

:data:`EXPERIMENTS` maps a name (``qcoinf experiment <name>``) to ``'module:function'`` and a
one-line description; every function has the signature documented in
:mod:`qcoinf_ros.tools.experiments.result`. Modules are imported only when an experiment is loaded,
so listing the experiments is cheap and works while one of them cannot be imported.
"""

from __future__ import annotations

import importlib
from typing import Callable

from qcoinf_ros.tools.experiments.result import ExperimentResult, Finding

__all__ = ['EXPERIMENTS', 'ExperimentResult', 'Finding', 'availability', 'load_experiment']

#: name -> ('module:function', description), in the order of the paper (and of ``all``).
EXPERIMENTS: dict[str, tuple[str, str]] = {
    'fig2': ('qcoinf_ros.tools.experiments.fig2:run',
             'weight-magnitude histograms with the fitted exponential, lambda and KS'),
    'fig3': ('qcoinf_ros.tools.experiments.fig3:run',
             'output distortion vs parameter-distortion bound vs bit-width'),
    'fig4': ('qcoinf_ros.tools.experiments.fig4:run',
             'D^L(R), D^U(R) and the Blahut-Arimoto D(R); gaps at R = 2, 4, 6'),
    'fig5': ('qcoinf_ros.tools.experiments.budgets:fig5',
             'BLIP-2 quality vs delay / energy budgets, uniform'),
    'fig6': ('qcoinf_ros.tools.experiments.budgets:fig6',
             'BLIP-2 quality vs delay / energy budgets, PoT-log'),
    'fig7': ('qcoinf_ros.tools.experiments.budgets:fig7',
             'GIT quality vs delay / energy budgets, uniform'),
    'fig8': ('qcoinf_ros.tools.experiments.budgets:fig8',
             'GIT quality vs delay / energy budgets, PoT-log'),
    'table1': ('qcoinf_ros.tools.experiments.table1:run',
               'co-inference quality per frequency profile and budget regime'),
    'reality': ('qcoinf_ros.tools.experiments.reality:run',
                'measured agent latency vs bit-width against eq. (4); planner nominal vs '
                'calibrated'),
    'kernels': ('qcoinf_ros.tools.experiments.kernels:run',
                'each bit-width on its fastest exact kernel (ViT-B block) against eq. (4), fp32 '
                'and torch int8, one and two threads'),
}


def load_experiment(name: str) -> Callable[..., ExperimentResult]:
    """
    Import and return the function of experiment ``name``.

    Raises ``ValueError`` for an unknown name and ``ImportError`` when its module or function
    cannot be imported (the message names the target).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f'unknown experiment {name!r}; known: {list(EXPERIMENTS)}')
    target = EXPERIMENTS[name][0]
    module_name, _, function = target.partition(':')
    module = importlib.import_module(module_name)
    try:
        return getattr(module, function)
    except AttributeError:
        raise ImportError(f'{module_name} has no function {function!r} ({target})') from None


def availability() -> dict[str, str | None]:
    """Return name -> ``None`` when the experiment imports, else the reason it does not."""
    out: dict[str, str | None] = {}
    for name in EXPERIMENTS:
        try:
            load_experiment(name)
            out[name] = None
        except ImportError as exc:
            out[name] = f'{type(exc).__name__}: {exc}'
    return out
