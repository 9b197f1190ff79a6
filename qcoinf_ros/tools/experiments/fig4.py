"""
Fig. 4: the bounds D^L(R), eq. (24), and D^U(R), eq. (26), against a Blahut-Arimoto D(R).

The source is the weight magnitude theta ~ Exp(lam), eq. (3), under |theta - theta_hat|,
eq. (15). Everything is computed at lam = 1: every distortion scales exactly as 1/lam at a fixed
rate (for the bounds, the BA problem and the closed form alike), so ``lam * D`` is the
model-independent picture and the ratios below hold for every model. D(R) is estimated by the
Blahut-Arimoto procedure of section VI-B (:mod:`qcoinf_ros.core.theory.blahut_arimoto`) and, beside
it, by the closed form D(R) = -ln(1 - 2^-(R+1)) / lam
(:mod:`qcoinf_ros.core.theory.exact_rate_distortion`), which the BA points are checked against.

What "tight" means numerically here:

- **absolute** (the paper's "gap ... becomes increasingly tight"): ``D^U(R) - D(R)`` is at most
  ``TIGHT_ABS = 10 %`` of ``D(0) = ln 2 / lam``, the distortion at zero rate (the scale of the
  whole curve). The first rate on a 0.05-bit grid from which this holds is compared with the
  paper's "larger than 2 bits": agreement when it is at most 3 bits;
- **relative**: ``D^U(R) / D(R)``, which the paper does not quantify. It tends to 2 (one bit of
  rate: D^U(R) ~ D(R - 1)), so in relative terms D^U never gets tighter than a factor of two;
- ``D^L`` "captures the correct scaling law": ``D^L(R) / D(R) -> 1`` (its log-slope is -1 bit
  per bit, as D(R)'s); reported as ``D^L / D`` at R = 2, 4, 6.
"""

from __future__ import annotations

from pathlib import Path
import time

import numpy as np

from qcoinf_ros.tools.experiments.common import pyplot, save_figure, start_run, write_csv
from qcoinf_ros.tools.experiments.result import (
    ExperimentResult, Finding, ProgressFn)

__all__ = ['run', 'GAP_RATES', 'TIGHT_ABS', 'tight_rate']

#: Rates (bits) at which the gaps are reported, as the issue asks.
GAP_RATES = (2.0, 4.0, 6.0)
#: Absolute tightness threshold, as a fraction of D(0) = ln 2 / lam.
TIGHT_ABS = 0.10
_TABLE_RATES = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
_LAM = 1.0


def tight_rate(lam: float = _LAM, fraction: float = TIGHT_ABS, step: float = 0.05,
               r_max: float = 16.0) -> float:
    """Smallest R on a ``step`` grid from which D^U(R) - D(R) <= ``fraction`` * ln 2 / lam."""
    from qcoinf_ros.core.theory.exact_rate_distortion import exact_distortion_rate
    from qcoinf_ros.core.theory.rate_distortion import distortion_upper_bound
    if not 0.0 < fraction < 1.0:
        raise ValueError(f'fraction must be in (0, 1), got {fraction!r}')
    rates = np.arange(step, r_max + step / 2, step)
    gap = distortion_upper_bound(rates, lam) - exact_distortion_rate(rates, lam)
    ok = gap <= fraction * np.log(2.0) / lam
    bad = np.flatnonzero(~ok)
    if bad.size == len(rates):
        raise ValueError(f'D^U - D stays above {fraction} D(0) up to R = {r_max}')
    return float(rates[0] if bad.size == 0 else rates[bad[-1] + 1])


def run(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
        **options) -> ExperimentResult:
    """Trace D^L, D^U, BA and exact D(R); write three CSV files and ``fig4.png``."""
    from qcoinf_ros.core.theory.blahut_arimoto import blahut_arimoto_curve, DEFAULT_SLOPES
    from qcoinf_ros.core.theory.exact_rate_distortion import exact_distortion_rate
    from qcoinf_ros.core.theory.rate_distortion import (
        distortion_lower_bound, distortion_upper_bound)
    out_dir, progress, result, start = start_run(
        'fig4', 'Fig. 4: rate-distortion bounds and the Blahut-Arimoto D(R)',
        out_dir, size, options, progress)
    slopes = DEFAULT_SLOPES if size == 'full' else tuple(np.geomspace(1.1, 300.0, 12))
    progress('fig4: Blahut-Arimoto', 0, 3)
    ba = blahut_arimoto_curve(_LAM, slopes)
    exact_at_ba = exact_distortion_rate(ba.rate, _LAM)
    lower_at_ba = distortion_lower_bound(ba.rate, _LAM)
    upper_at_ba = distortion_upper_bound(ba.rate, _LAM)
    progress('fig4: tables', 1, 3)
    result.csv.append(write_csv(
        out_dir / 'fig4_blahut_arimoto.csv',
        ('rate_bits', 'D_ba', 'error_bound', 'accurate', 'D_exact', 'D_L', 'D_U',
         'iterations'),
        [(float(r), float(d), float(e), bool(a), float(x), float(lo), float(up), int(i))
         for r, d, e, a, x, lo, up, i in zip(
             ba.rate, ba.distortion, ba.error_bound, ba.accurate, exact_at_ba, lower_at_ba,
             upper_at_ba, ba.iterations)]))
    grid = np.linspace(0.02, 8.0, 400)
    curves = {'D_L': distortion_lower_bound(grid, _LAM),
              'D_U': distortion_upper_bound(grid, _LAM),
              'D_exact': exact_distortion_rate(grid, _LAM)}
    result.csv.append(write_csv(out_dir / 'fig4_curves.csv', ('rate_bits', *curves),
                                [(float(r), *(float(c[i]) for c in curves.values()))
                                 for i, r in enumerate(grid)]))
    table = []
    for r in _TABLE_RATES:
        d_ba = float(ba.distortion_at(r))
        d = float(exact_distortion_rate(r, _LAM))
        lo, up = float(distortion_lower_bound(r, _LAM)), float(distortion_upper_bound(r, _LAM))
        table.append({'rate_bits': r, 'D_L': lo, 'D_ba': d_ba, 'D_exact': d, 'D_U': up,
                      'gap_U_abs': up - d_ba, 'gap_U_over_D0': (up - d_ba) / np.log(2.0),
                      'ratio_U': up / d_ba, 'ratio_L': lo / d_ba})
    header = list(table[0])
    result.csv.append(write_csv(out_dir / 'fig4_gaps.csv', header,
                                [[row[c] for c in header] for row in table]))
    progress('fig4: plotting', 2, 3)
    result.figures.append(_plot(ba, grid, curves, out_dir / 'fig4.png'))
    _findings(result, ba, exact_at_ba, lower_at_ba, upper_at_ba,
              {row['rate_bits']: row for row in table})
    result.notes.append(
        f'size={size}; lambda = 1 (every D scales as 1/lambda); BA with {len(slopes)} '
        f"slopes, per-slope grids (step fraction 0.03), stopping at Blahut's certificate "
        f'1e-3 nats; BA interpolated in log D between its points; tight (absolute) means '
        f'D^U - D <= {TIGHT_ABS:.0%} of D(0) = ln 2 / lambda.')
    progress('fig4: done', 3, 3)
    result.seconds = time.perf_counter() - start
    return result


def _findings(result, ba, exact, lower, upper, at) -> None:
    ok = ba.accurate
    slack = ba.error_bound[ok]
    ordered = bool(np.all(lower[ok] <= ba.distortion[ok] + slack)
                   and np.all(ba.distortion[ok] - slack <= upper[ok]))
    rel_err = float(np.max(np.abs(ba.distortion[ok] / exact[ok] - 1.0)))
    result.findings.append(Finding(
        what='ordering D^L <= D(R) <= D^U at every BA point',
        paper='[D^L(R), D^U(R)] brackets the simulated D(R) (Fig. 4)',
        ours=(f'holds at {int(ok.sum())} BA points, R = {ba.rate[ok][0]:.2f}..'
              f'{ba.rate[ok][-1]:.2f} bits' if ordered else 'violated'),
        agrees=ordered,
        sentence=(f'The Blahut-Arimoto D(R) lies between D^L and D^U at all {int(ok.sum())} '
                  f'converged points from {ba.rate[ok][0]:.2f} to {ba.rate[ok][-1]:.2f} bits.'
                  if ordered else 'The Blahut-Arimoto D(R) leaves [D^L, D^U] at some rate.')))
    result.findings.append(Finding(
        what='BA vs the closed form D(R) = -ln(1 - 2^-(R+1))/lambda',
        paper='(no closed form in the paper: "obtaining the exact D(R) ... is generally '
              'difficult")',
        ours=f'max relative difference {rel_err:.1e} over the converged BA points',
        agrees=None,
        sentence=(f'The BA estimate matches the closed-form D(R) of this source to '
                  f'{rel_err:.1e} relative, so the gaps below are those of the true D(R).')))
    r_tight = tight_rate()
    gaps = ', '.join(f'R={r:g}: {at[r]["gap_U_over_D0"]:.1%} of D(0)' for r in GAP_RATES)
    result.findings.append(Finding(
        what='D^U - D(R) (absolute gap) at R = 2, 4, 6',
        paper='D^U loose at very low rate; "larger than 2 bits" the gap "becomes increasingly '
              'tight"',
        ours=f'{gaps}; within {TIGHT_ABS:.0%} of D(0) from R = {r_tight:.2f} bits',
        agrees=r_tight <= 3.0,
        sentence=(f'The absolute gap D^U - D falls from {at[0.25]["gap_U_over_D0"]:.0%} of '
                  f'D(0) at R = 0.25 to {at[2.0]["gap_U_over_D0"]:.1%} at R = 2 and '
                  f'{at[6.0]["gap_U_over_D0"]:.2%} at R = 6, and is within '
                  f'{TIGHT_ABS:.0%} of D(0) from R = {r_tight:.2f} bits, '
                  f'{"as" if r_tight <= 3.0 else "later than"} the paper says.')))
    ratios = ', '.join(f'R={r:g}: {at[r]["ratio_U"]:.3f}' for r in GAP_RATES)
    result.findings.append(Finding(
        what='D^U / D(R) (relative gap) at R = 2, 4, 6',
        paper='(not quantified in the paper)',
        ours=f'{ratios}; tends to 2 as R grows (D^U(R) ~ D(R - 1))',
        agrees=None,
        sentence=(f'Relative to D(R), D^U stays a factor ~2 above it for R >= 2 ({ratios}): '
                  f'it is tight in absolute terms, but costs one bit of rate however large '
                  f'R is.')))
    ratios_l = ', '.join(f'R={r:g}: {at[r]["ratio_L"]:.3f}' for r in GAP_RATES)
    scaling = all(at[r]['ratio_L'] <= 1.0 + 1e-3 for r in GAP_RATES) and (
        at[6.0]['ratio_L'] >= at[2.0]['ratio_L'])
    result.findings.append(Finding(
        what='D^L / D(R) at R = 2, 4, 6',
        paper='"D^L(R) captures the correct scaling law of distortion reduction w.r.t. the '
              'rate"',
        ours=f'{ratios_l}; -> 1 as R grows',
        agrees=scaling,
        sentence=(f"D^L is below D(R) and approaches it ({ratios_l}), so it has D(R)'s "
                  f'scaling of one halving per bit, and more: it is asymptotically exact.')))


def _plot(ba, grid, curves, path: Path) -> Path:
    plt = pyplot()
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    ax.semilogy(grid, curves['D_U'], 'r-', label='D^U(R), eq. (26)')
    ax.semilogy(grid, curves['D_exact'], 'k-', lw=0.8, label='D(R), closed form')
    ax.semilogy(grid, curves['D_L'], 'b-', label='D^L(R), eq. (24)')
    ok = ba.accurate
    ax.semilogy(ba.rate[ok], ba.distortion[ok], 'ko', ms=3, mfc='none',
                label='D(R), Blahut-Arimoto')
    ax.set_xlabel('rate R (bits per parameter)')
    ax.set_ylabel('lambda D')
    ax.set_ylim(1e-3, 3.0)
    ax.legend(fontsize=7)
    ax.set_title('distortion-rate, lambda = 1', fontsize=9)
    ax_ratio.plot(grid, curves['D_U'] / curves['D_exact'], 'r-', label='D^U / D')
    ax_ratio.plot(grid, curves['D_L'] / curves['D_exact'], 'b-', label='D^L / D')
    ax_ratio.axhline(2.0, color='grey', lw=0.8, ls='--')
    ax_ratio.axhline(1.0, color='grey', lw=0.8, ls=':')
    ax_ratio.set_ylim(0.5, 4.0)
    ax_ratio.set_xlabel('rate R (bits per parameter)')
    ax_ratio.set_title('bounds relative to D(R)', fontsize=9)
    ax_ratio.legend(fontsize=7)
    return save_figure(fig, path)
