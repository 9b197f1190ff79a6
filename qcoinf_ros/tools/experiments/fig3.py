"""
Fig. 3: output distortion vs the parameter-distortion bound vs bit-width, uniform and PoT-log.

Eq. (17) bounds the output distortion of the quantized agent by its parameter distortion:
``||f(x, W_hat) - f(x, W)||_1 <= H ||W - W_hat||_1``, with ``H`` estimated "in a data-driven
manner as an empirical upper-bound constant" (section VI-A). Measurements come from
:func:`qcoinf_ros.tools.bench.distortion.measure_distortion` (nested codes, b = 1..8, per-tensor).

How ``H`` is estimated and checked here:

- the inputs are split in two disjoint halves; ``H`` is the largest ratio worst-input output
  distortion / parameter distortion over b = 2..8 on the *calibration* half, per scheme.
  b = 1 is left out: it is R = b - 1 = 0, where D^U of eq. (26) is infinite and the planner
  never goes, and sign-only weights wreck some models (FCDNN-16's ReLU stack), which would
  inflate ``H`` for every other b;
- "the bound upper-bounds the output distortion" is then *checked* on the held-out half:
  ``max_x ||f(x, W_hat) - f(x, W)||_1 <= H ||W - W_hat||_1`` at every b = 2..8; the count of
  points where it holds strictly is reported, and the claim counts as reproduced when no
  held-out input exceeds the bound by more than 10 % (an empirical constant fitted on some
  inputs is never exact on others);
- tightness at b is ``rho(b) = H ||W - W_hat||_1 / max_x ||f(x, W_hat) - f(x, W)||_1`` on the
  calibration half (>= 1 by construction). The bound is called **tight at b** when
  ``rho <= 2`` (the bound over-estimates the worst-input distortion by at most a factor of
  two), and "tight from b*" when it is tight at every b >= b* that was measured. The paper
  reports tightness for b > 3 (PoT-log, non-uniform) and b > 4 (uniform); ours agrees when
  b* is no larger than the paper's threshold (4 and 5).
"""

from __future__ import annotations

from pathlib import Path
import time

from qcoinf_ros.tools.experiments.common import (
    offline_models, pyplot, save_figure, start_run, write_csv)
from qcoinf_ros.tools.experiments.result import (
    ExperimentResult, Finding, ProgressFn)

__all__ = ['run', 'TIGHT_FACTOR', 'PAPER_TIGHT_FROM', 'tight_from']

#: rho(b) <= TIGHT_FACTOR counts as tight (see the module docstring).
TIGHT_FACTOR = 2.0
#: The paper's "tight when b > 3 (nonuniform) and > 4 (uniform)", as the first tight b.
PAPER_TIGHT_FROM = {'potlog': 4, 'uniform': 5}
#: The bound "holds" on held-out inputs when they exceed it by at most this factor.
HELD_OUT_SLACK = 1.10
_SCHEME_LABEL = {'uniform': 'uniform', 'potlog': 'PoT-log (non-uniform)'}
_MIN_B = 2
_B_MAX = 8


def tight_from(rho: dict[int, float], factor: float = TIGHT_FACTOR) -> int | None:
    """Smallest b such that ``rho[b'] <= factor`` for every measured ``b' >= b`` (None: none)."""
    if not rho:
        raise ValueError('rho must hold at least one bit-width')
    first = None
    for b in sorted(rho, reverse=True):
        if rho[b] > factor:
            break
        first = b
    return first


def _rows(case, report_cal, report_ho, scheme):
    """Per-bit-width rows of one model and scheme, and ``H``."""
    h = report_cal.empirical_h(scheme, _MIN_B)
    held = {p.bit_width: p for p in report_ho.for_scheme(scheme)}
    rows = []
    for p in report_cal.for_scheme(scheme):
        q = held[p.bit_width]
        bound = h * p.param_distortion
        rho = bound / p.output_distortion_max if p.output_distortion_max > 0 else float('inf')
        rows.append({
            'model': case.key, 'scheme': scheme, 'b': p.bit_width, 'H': h,
            'param_l1': p.param_distortion, 'param_per_weight': p.param_distortion_per_weight,
            'D_L_per_weight': p.distortion_lower_bound,
            'D_U_per_weight': p.distortion_upper_bound, 'bound': bound,
            'out_mean_cal': p.output_distortion, 'out_max_cal': p.output_distortion_max,
            'out_max_held_out': q.output_distortion_max, 'rho': rho,
            'holds_held_out': q.output_distortion_max <= bound * (1.0 + 1e-9)})
    return h, rows


def _plot(panels, path: Path) -> Path:
    plt = pyplot()
    schemes = list(_SCHEME_LABEL)
    fig, axes = plt.subplots(len(panels), len(schemes), figsize=(9.0, 2.9 * len(panels)),
                             squeeze=False)
    for row_axes, (label, by_scheme) in zip(axes, panels):
        for ax, scheme in zip(row_axes, schemes):
            rows = by_scheme[scheme]
            b = [r['b'] for r in rows]
            ax.semilogy(b, [r['bound'] for r in rows], 'o-',
                        label=f'bound H||W-W^||_1 (H={rows[0]["H"]:.3g})')
            ax.semilogy(b, [r['out_max_cal'] for r in rows], 's-', label='output, worst (calib.)')
            ax.semilogy(b, [r['out_max_held_out'] for r in rows], 'x--',
                        label='output, worst (held-out)')
            ax.semilogy(b, [r['out_mean_cal'] for r in rows], '^:', label='output, mean')
            ax.axvline(PAPER_TIGHT_FROM[scheme] - 0.5, color='grey', lw=0.8, ls='--')
            ax.set_title(f'{label}: {_SCHEME_LABEL[scheme]}', fontsize=9)
            ax.set_xlabel('bit-width b')
            ax.set_ylabel('L1 distortion')
            ax.legend(fontsize=6)
    return save_figure(fig, path)


def run(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
        git: str | Path | None = None, blip2: str | Path | None = None,
        **options) -> ExperimentResult:
    """
    Measure output vs parameter distortion per bit-width and scheme for each offline model.

    Writes ``fig3.csv`` (one row per model, scheme and b) and ``fig3.png``.
    """
    from qcoinf_ros.tools.bench.distortion import measure_distortion
    out_dir, progress, result, start = start_run(
        'fig3', 'Fig. 3: output distortion vs the parameter-distortion bound vs bit-width',
        out_dir, size, options, progress)
    cases = offline_models(size, git=git, blip2=blip2)
    all_rows, panels, total = [], [], 2 * len(cases)
    for k, case in enumerate(cases):
        progress(f'fig3: {case.label} (calibration)', 2 * k, total)
        loaded = case.load(case.inputs(size))
        kwargs = {'bit_widths': range(1, _B_MAX + 1), 'b_max': _B_MAX,
                  'filter_fn': loaded.filter_fn, 'name': case.label}
        report_cal = measure_distortion(loaded.module, loaded.forward, loaded.calibration,
                                        **kwargs)
        progress(f'fig3: {case.label} (held-out)', 2 * k + 1, total)
        report_ho = measure_distortion(loaded.module, loaded.forward, loaded.held_out, **kwargs)
        by_scheme = {}
        for scheme in _SCHEME_LABEL:
            _, rows = _rows(case, report_cal, report_ho, scheme)
            by_scheme[scheme] = rows
            all_rows += rows
        panels.append((case.label, by_scheme))
        _findings(result, case, loaded.num_inputs, report_cal.num_weights, by_scheme)
    progress('fig3: plotting', total, total)
    header = list(all_rows[0])
    result.csv.append(write_csv(out_dir / 'fig3.csv', header,
                                [[r[c] for c in header] for r in all_rows]))
    result.figures.append(_plot(panels, out_dir / 'fig3.png'))
    result.notes.append(
        f'size={size}; b = 1..{_B_MAX}, per-tensor scales, nested codes; H = max over '
        f'b = {_MIN_B}..{_B_MAX} of worst-input output / parameter L1 distortion on the '
        f'calibration half of the inputs, checked on the held-out half; tight at b means '
        f'rho(b) = H||W-W^||_1 / worst output <= {TIGHT_FACTOR:g}. Dashed grey line: the '
        f"paper's threshold.")
    result.seconds = time.perf_counter() - start
    return result


def _findings(result: ExperimentResult, case, num_inputs: int, num_weights: int,
              by_scheme: dict) -> None:
    checked = [r for rows in by_scheme.values() for r in rows if r['b'] >= _MIN_B]
    held = sum(r['holds_held_out'] for r in checked)
    worst = max(r['out_max_held_out'] / r['bound'] for r in checked)
    holds = worst <= HELD_OUT_SLACK
    result.findings.append(Finding(
        what=f'{case.label}: H||W-W^||_1 bounds the output distortion',
        paper='"the parameter distortion consistently upper bounds the output distortion"',
        ours=(f'holds on held-out inputs at {held}/{len(checked)} (scheme, b >= {_MIN_B}); '
              f'worst held-out output / bound = {worst:.3f}'),
        agrees=holds,
        sentence=(f'{case.label} ({num_weights:,} quantized weights, {num_inputs} inputs): '
                  f'the bound with H fitted on half of the inputs holds on the other half at '
                  f'{held} of {len(checked)} points and the worst held-out output reaches '
                  f'{100 * worst:.1f} % of it, so the empirical constant '
                  f'{"carries over" if holds else "does not carry over"} to unseen inputs '
                  f'(within {100 * (HELD_OUT_SLACK - 1):.0f} %).')))
    for scheme, rows in by_scheme.items():
        rho = {r['b']: r['rho'] for r in rows if r['b'] >= _MIN_B}
        first = tight_from(rho)
        paper_first = PAPER_TIGHT_FROM[scheme]
        agrees = first is not None and first <= paper_first
        where = f'from b = {first}' if first is not None else 'at no b'
        rho_text = ', '.join(f'{b}: {rho[b]:.2g}' for b in sorted(rho))
        result.findings.append(Finding(
            what=f'{case.label}, {_SCHEME_LABEL[scheme]}: bound tight from b',
            paper=f'tight for b > {paper_first - 1}',
            ours=f'tight (rho <= {TIGHT_FACTOR:g}) {where}; rho(b) = {rho_text}',
            agrees=agrees,
            sentence=(f'{case.label}, {_SCHEME_LABEL[scheme]}: the bound is within a factor '
                      f'{TIGHT_FACTOR:g} of the worst-input output distortion {where} '
                      f'(paper: b > {paper_first - 1}), '
                      f'{"consistent with" if agrees else "unlike"} the paper.')))
