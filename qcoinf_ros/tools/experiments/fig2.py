"""
Fig. 2: weight-magnitude histograms with the fitted exponential, eq. (3), for every offline model.

For each model of :func:`~qcoinf_ros.tools.experiments.common.offline_models` the magnitudes of the
weights its agent quantizes are histogrammed and Exp(lam) is fitted (MLE ``lam = 1 / mean|w|``,
:func:`qcoinf_ros.tools.bench.distortion.weight_histogram`). Goodness of fit is the
Kolmogorov-Smirnov
distance ``KS = sup |F_emp - F_fit|`` (a p-value says nothing with millions of weights). To give
the number a scale, the other one-parameter model of magnitudes, the half-normal (|w| of a
zero-mean Gaussian, MLE ``sigma^2 = mean w^2``), is fitted to the same magnitudes.

"Fits closely" (the paper's words) is read here as: ``KS <= 0.1`` (the fitted CDF is within ten
percentage points of the empirical one everywhere) **and** the exponential is closer than the
half-normal (the model the paper picked is the better one-parameter description).
"""

from __future__ import annotations

from pathlib import Path
import time

import numpy as np

from qcoinf_ros.tools.experiments.common import offline_models, start_run, write_csv
from qcoinf_ros.tools.experiments.result import (
    ExperimentResult, Finding, ProgressFn)

__all__ = ['run', 'KS_CLOSE', 'halfnormal_ks']

#: KS distance up to which a fit counts as close (see the module docstring).
KS_CLOSE = 0.1
_KS_SAMPLES = 200_000


def halfnormal_ks(magnitudes: np.ndarray, seed: int = 0,
                  max_samples: int = _KS_SAMPLES) -> float:
    """KS distance of ``magnitudes`` to the half-normal with MLE scale sqrt(mean theta^2)."""
    from scipy import stats
    theta = np.abs(np.asarray(magnitudes, dtype=np.float64).reshape(-1))
    if theta.size == 0 or not np.any(theta > 0):
        raise ValueError('magnitudes must hold at least one non-zero value')
    sample = theta
    if theta.size > max_samples:
        sample = theta[np.random.default_rng(seed).integers(0, theta.size, size=max_samples)]
    scale = float(np.sqrt(np.mean(theta ** 2)))
    return float(stats.ks_1samp(sample, stats.halfnorm(scale=scale).cdf).statistic)


def _magnitudes(module, filter_fn) -> np.ndarray:
    import torch
    from qcoinf_ros.core.quant.quantizers import quantizable_weights
    weights = [w.detach().reshape(-1).abs() for _, w in quantizable_weights(module, filter_fn)]
    return torch.cat(weights).double().numpy()


def run(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
        git: str | Path | None = None, blip2: str | Path | None = None,
        **options) -> ExperimentResult:
    """
    Histogram and fit eq. (3) for each offline model; write ``fig2.png`` and two CSV files.

    ``git`` / ``blip2``: local checkpoint directories of real models to include.
    """
    from qcoinf_ros.tools.bench.distortion import plot_weight_histograms, weight_histogram
    out_dir, progress, result, start = start_run(
        'fig2', 'Fig. 2: weight magnitudes and the fitted exponential',
        out_dir, size, options, progress)
    cases = offline_models(size, git=git, blip2=blip2)
    histograms, fits, hist_rows = [], [], []
    for k, case in enumerate(cases):
        progress(f'fig2: {case.label}', k, len(cases))
        loaded = case.load(2)
        hist = weight_histogram(loaded.module, case.label, bins=80, filter_fn=loaded.filter_fn)
        ks_half = halfnormal_ks(_magnitudes(loaded.module, loaded.filter_fn))
        histograms.append(hist)
        fits.append((case, hist, ks_half))
        pdf = hist.fitted_pdf()
        hist_rows += [(case.key, float(lo), float(hi), float(d), float(p)) for lo, hi, d, p
                      in zip(hist.edges[:-1], hist.edges[1:], hist.density, pdf)]
    progress('fig2: plotting', len(cases), len(cases))
    result.csv.append(write_csv(
        out_dir / 'fig2_fits.csv',
        ('model', 'label', 'num_weights', 'lam', 'mean_abs', 'ks_exponential', 'ks_halfnormal',
         'fraction_shown'),
        [(c.key, c.label, h.num_weights, h.lam, h.fit.mean_abs, h.fit.ks_statistic, ks,
          h.fraction_shown) for c, h, ks in fits]))
    result.csv.append(write_csv(out_dir / 'fig2_histograms.csv',
                                ('model', 'bin_low', 'bin_high', 'density', 'exp_pdf'),
                                hist_rows))
    result.figures.append(plot_weight_histograms(histograms, out_dir / 'fig2.png'))
    for case, hist, ks_half in fits:
        ks = hist.fit.ks_statistic
        close = ks <= KS_CLOSE
        better = ks < ks_half
        if close and better:
            verdict = 'fits closely, and closer than a half-normal'
        elif close:
            verdict = 'is within the KS threshold, but a half-normal fits better'
        else:
            verdict = 'does not fit closely'
        result.findings.append(Finding(
            what=f'{case.label}: Exp(lambda) fit of |w|',
            paper='the magnitudes "closely match the exponential distribution" (Fig. 2)',
            ours=(f'lambda = {hist.lam:.4g}, KS = {ks:.3f} (half-normal {ks_half:.3f}), '
                  f'{hist.num_weights:,} weights'),
            agrees=close and better,
            sentence=(f'For {case.label} ({hist.num_weights:,} weights) the exponential '
                      f'{verdict}: KS {ks:.3f} vs {ks_half:.3f} for the half-normal '
                      f'(close means KS <= {KS_CLOSE} and better than the half-normal).')))
    result.notes.append(
        f'size={size}; weights = those the agent quantizes (Linear/Conv weight matrices); '
        f'lambda = 1/mean|w| over all of them, KS on a seeded subsample of at most '
        f'{_KS_SAMPLES:,}; histograms show |w| up to the 99.9 % quantile.')
    result.seconds = time.perf_counter() - start
    return result
