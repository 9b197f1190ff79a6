"""
Table I analog (paper §VI-C, testbed): clock profiles under delay-only and energy-only budgets.

The paper runs BLIP-2 and GIT on a Jetson AGX Orin with three device clock profiles (low,
medium, high frequency) and reports CIDEr under a delay budget alone and under an energy budget
alone: the high profile wins when delay-limited (faster clocks leave time for more bits), the
low profile when energy-limited (energy grows with f^2 per cycle, eq. (6), so slower clocks
leave energy for more bits).

Here each cell is the quality (:mod:`.quality`; 0 when no bit-width meets the budget) of the
largest bit-width feasible at the profile's clocks
(:class:`~qcoinf_ros.core.planner.profiles.ProfileSolver` with that one profile), on the cost model
of the ``jetson_orin`` preset (the testbed's hardware: AGX Orin GPU clocks of the 15W / 30W /
MAXN power modes, RTX 3090 server, Wi-Fi upload; illustrative constants, see the preset) with
B_max = 8 (the quality table's range); a last row is the planner's own choice among the three
profiles. Budgets: delay-only means E0 = inf; energy-only means T0 = :data:`NO_DEADLINE`. The
three values of each regime are the delay (energy) of the medium profile at b = 2, 3, 4, so
that they sit where the budget binds, a few per cent apart like the paper's (2.50 / 2.55 /
2.60 s). The absolute budgets differ from the paper's (its testbed's measured delays and
energies include static power and software overheads that the preset does not model); the
comparison is about which profile wins. With eq. (4) (agent cycles proportional to b) and one
server clock shared by the profiles, each profile's largest feasible b depends only on the
ratio of its device clock to the medium one's, so the BLIP-2 and GIT blocks come out alike.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
import time

from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.core import evaluate_point
from qcoinf_ros.core.planner.presets import load_preset
from qcoinf_ros.tools.experiments.common import pyplot, save_figure, write_csv
from qcoinf_ros.tools.experiments.quality import (
    experiment_options,
    plan_cider,
    quality_for,
    QualityTable,
)
from qcoinf_ros.tools.experiments.result import (
    check_size,
    ExperimentResult,
    Finding,
    no_progress,
    ProgressFn,
)

__all__ = ['MEDIUM_BITS', 'NO_DEADLINE', 'PAPER_TABLE', 'PROFILES', 'REGIMES', 'run']

PROFILES = ('low', 'medium', 'high')
REGIMES = ('delay', 'energy')  # delay-only (E0 = inf), energy-only (T0 = NO_DEADLINE)
#: The delay-only / energy-only budgets are the medium profile's delay / energy at these b.
MEDIUM_BITS = (2, 3, 4)
#: T0 (s) standing for "no delay constraint" (PlanningProblem needs a finite T0).
NO_DEADLINE = 1e6
SCHEME = 'uniform'
PRESET = 'jetson_orin'
#: Table I of the paper: model -> regime -> (budgets, {profile: CIDEr per budget}).
PAPER_TABLE = {
    'blip2': {'delay': ((2.50, 2.55, 2.60), {'low': (8.2, 61.4, 109.2),
                                             'medium': (43.6, 102.7, 127.5),
                                             'high': (100.8, 118.9, 132.4)}),
              'energy': ((164.8, 165.0, 165.2), {'low': (133.4, 134.6, 138.8),
                                                 'medium': (115.3, 128.1, 131.7),
                                                 'high': (8.2, 43.9, 101.9)})},
    'git': {'delay': ((1.38, 1.40, 1.42), {'low': (5.4, 7.5, 18.2),
                                           'medium': (38.5, 43.7, 48.6),
                                           'high': (54.3, 55.9, 57.1)}),
            'energy': ((19.8, 20.0, 20.2), {'low': (46.2, 50.4, 53.7),
                                            'medium': (26.7, 38.9, 48.8),
                                            'high': (5.8, 21.3, 38.6)})},
}
_WINNER = {'delay': 'high', 'energy': 'low'}
_UNIT = {'delay': 's', 'energy': 'J'}
_MODEL_NAMES = {'blip2': 'BLIP-2', 'git': 'GIT'}
_CSV_FIELDS = ('model', 'regime', 'budget', 'unit', 'profile', 'feasible', 'bit_width', 'cider',
               'delay_s', 'energy_j', 'chosen_profile', 'paper_budget', 'paper_cider')


def _budgets(params, profiles, regime: str) -> list[float]:
    medium = profiles['medium']
    probe = PlanningProblem(params, 1.0, NO_DEADLINE, math.inf)
    return [getattr(evaluate_point(probe, b, medium.f, medium.f_server), regime)
            for b in MEDIUM_BITS]


def _model_rows(model: str, table: QualityTable) -> tuple[list[dict], str]:
    params, profiles, defaults = load_preset(PRESET, model)
    params = dataclasses.replace(params, b_max=table.b_max)
    profiles = {p.name: p for p in profiles}
    missing = set(PROFILES) - set(profiles)
    if missing:
        raise ValueError(f'preset {PRESET!r} lacks the profile(s) {sorted(missing)}')
    lam = float(defaults.get('lam', 40.0))
    chooser = make_solver('profiles', profiles=[profiles[name] for name in PROFILES])
    rows = []
    for regime in REGIMES:
        paper_budgets, paper_cider = PAPER_TABLE[model][regime]
        for i, budget in enumerate(_budgets(params, profiles, regime)):
            t0, e0 = (budget, math.inf) if regime == 'delay' else (NO_DEADLINE, budget)
            problem = PlanningProblem(params, lam, t0, e0)
            chosen = chooser.solve(problem)
            for name in (*PROFILES, 'planner'):
                plan = chosen if name == 'planner' else make_solver(
                    'profiles', profiles=[profiles[name]]).solve(problem)
                rows.append({
                    'model': model, 'regime': regime, 'budget': budget,
                    'unit': _UNIT[regime], 'profile': name, 'feasible': int(plan.feasible),
                    'bit_width': plan.bit_width if plan.feasible else '',
                    'cider': plan_cider(table, SCHEME, plan), 'delay_s': plan.delay,
                    'energy_j': plan.energy, 'chosen_profile': chosen.profile or '',
                    'paper_budget': paper_budgets[i],
                    'paper_cider': paper_cider[name][i] if name in paper_cider else math.nan})
    clocks = ', '.join(f'{name} {profiles[name].f / 1e6:.0f} MHz' for name in PROFILES)
    note = (f'{_MODEL_NAMES[model]}: preset {PRESET!r} (N_FLOP {params.n_flop / 1e9:.2f} + '
            f'N~_FLOP {params.n_flop_server / 1e9:.2f} GFLOPs, upload {params.comm_delay:.3g} s), '
            f'B_max = {params.b_max}, device clocks {clocks}, server '
            f'{profiles["high"].f_server / 1e9:.3g} GHz; quality of {table.model_id} '
            f'({SCHEME}) on {table.dataset}')
    return rows, note


def _cells(rows, model, regime, profile, key='cider'):
    return [r[key] for r in rows if r['model'] == model and r['regime'] == regime
            and r['profile'] == profile]


def _fmt(values, spec='.1f'):
    return '/'.join(format(v, spec) for v in values)


def _finding(rows, model: str, regime: str, tol: float) -> Finding:
    winner = _WINNER[regime]
    loser = 'low' if winner == 'high' else 'high'
    budgets = _cells(rows, model, regime, 'low', 'budget')
    ours = {p: _cells(rows, model, regime, p) for p in PROFILES}
    bits = {p: [b or 0 for b in _cells(rows, model, regime, p, 'bit_width')] for p in PROFILES}
    shown = {p: '/'.join(str(b) if b else '-' for b in bits[p]) for p in PROFILES}
    paper_budgets, paper = PAPER_TABLE[model][regime]
    wins = sum(all(ours[winner][i] >= ours[p][i] - tol - 1e-9 for p in PROFILES)
               for i in range(len(budgets)))
    ordered = all(bits[winner][i] >= bits['medium'][i] >= bits[loser][i]
                  for i in range(len(budgets)))
    strict = sum(ours[winner][i] > ours[loser][i] for i in range(len(budgets)))
    agrees = wins == len(budgets) and ordered and strict > 0
    limited = 'delay-limited (E0 = inf)' if regime == 'delay' else 'energy-limited (no T0)'
    unit = _UNIT[regime]
    spec = '.3g'
    ours_text = (f'at {_fmt(budgets, spec)} {unit}: ' + '; '.join(
        f'{p} {_fmt(ours[p], ".0f")} (b = {shown[p]})' for p in PROFILES))
    paper_text = (f'{winner} profile best; at {_fmt(paper_budgets, ".4g")} {unit}: ' + '; '.join(
        f'{p} {_fmt(paper[p])}' for p in PROFILES))
    verdict = (f'the {winner} profile scores highest at {wins} of {len(budgets)} budgets and '
               f'beats the {loser} one at {strict}')
    return Finding(
        f'{_MODEL_NAMES[model]}, {limited}', paper_text, f'{ours_text}; {verdict}', agrees,
        f'{_MODEL_NAMES[model]} {limited}: as in the paper, {verdict} ({ours_text}).' if agrees
        else f'{_MODEL_NAMES[model]} {limited}: unlike the paper, {verdict} ({ours_text}).')


def _choice_finding(rows) -> Finding:
    picked = [r for r in rows if r['profile'] == 'planner']
    right = sum(r['chosen_profile'] == _WINNER[r['regime']] for r in picked)
    return Finding(
        'choosing among the three profiles', 'a coarse-grained selection among a small set of '
        'feasible frequency profiles remains effective',
        f'the planner (largest feasible b over the profiles) picks high when delay-limited and '
        f'low when energy-limited in {right} of {len(picked)} cells', right == len(picked),
        f'Choosing the profile with the largest feasible bit-width picks the winning profile in '
        f'{right} of {len(picked)} budget settings.')


def _plot(path: Path, rows, models):
    import numpy as np
    figure, axes = pyplot().subplots(len(models), 2, figsize=(11, 3.6 * len(models)),
                                     squeeze=False)
    width = 0.25
    for row_axes, model in zip(axes, models):
        for axis, regime in zip(row_axes, REGIMES):
            budgets = _cells(rows, model, regime, 'low', 'budget')
            x = np.arange(len(budgets))
            twin = axis.twinx()
            for k, profile in enumerate(PROFILES):
                axis.bar(x + (k - 1) * width, _cells(rows, model, regime, profile), width,
                         label=f'{profile} (ours)', color=f'C{k}')
                twin.plot(x + (k - 1) * width, _cells(rows, model, regime, profile,
                                                      'paper_cider'),
                          'o', color='black', markerfacecolor=f'C{k}', markersize=6)
            axis.set_xticks(x, [f'{b:.3g}' for b in budgets])
            axis.set_xlabel(f'{regime} budget ({_UNIT[regime]}), '
                            f'{"E0 = inf" if regime == "delay" else "no T0"}')
            axis.set_ylabel('CIDEr, ours (bars)')
            twin.set_ylabel('CIDEr, paper Table I (dots)')
            twin.set_ylim(bottom=0)
            axis.set_title(f'{_MODEL_NAMES[model]}, {regime}-limited', fontsize=10)
    axes[0][0].legend(fontsize=8, loc='upper left')
    figure.suptitle('Table I analog: clock profiles under delay-only and energy-only budgets '
                    '(jetson_orin preset)', fontsize=10)
    save_figure(figure, path, dpi=120)


def run(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
        **options) -> ExperimentResult:
    """
    Table I analog: CIDEr per profile under delay-only and energy-only budgets (see module).

    Options ``git=DIR`` / ``blip2=DIR`` take each model's quality from a real checkpoint;
    ``annotations`` + ``images`` score it on a COCO data set instead of the test scenes.
    """
    start = time.perf_counter()
    size = check_size(size)
    options = experiment_options('table1', options)
    progress = progress or no_progress
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, notes, findings, tables = [], [], [], []
    models = tuple(PAPER_TABLE)
    for model in models:
        table = quality_for(model, out_dir, size, options, progress)
        model_rows, note = _model_rows(model, table)
        rows += model_rows
        notes.append(note)
        tables.append(table)
        for regime in REGIMES:
            findings.append(_finding(rows, model, regime, table.dip(SCHEME)))
        progress('Table I', len(tables), len(models))
    findings.append(_choice_finding(rows))
    notes.append(f"budgets: the medium profile's delay (energy) at b = {MEDIUM_BITS}; "
                 f'delay-only: E0 = inf; energy-only: T0 = {NO_DEADLINE:g} s; a profile with no '
                 'feasible bit-width scores 0')
    csv_path, png_path = out_dir / 'table1.csv', out_dir / 'table1.png'
    write_csv(csv_path, _CSV_FIELDS, ([row[k] for k in _CSV_FIELDS] for row in rows))
    _plot(png_path, rows, models)
    return ExperimentResult(
        'table1', 'Table I: CIDEr of the low / medium / high clock profiles under delay-only '
        'and energy-only budgets', csv=[csv_path, *dict.fromkeys(t.path for t in tables)],
        figures=[png_path], findings=findings, seconds=time.perf_counter() - start,
        notes=notes)
