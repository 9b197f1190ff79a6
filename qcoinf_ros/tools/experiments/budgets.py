"""
Figs. 5-8 of the paper (§VI-C): caption quality against the delay and energy budgets.

Each figure has two panels: CIDEr against T0 at the paper's fixed E0 (left) and against E0 at
its fixed T0 (right), for the proposed design -- the exact solver and the paper's SCA
(Algorithm 1) -- and the baselines PPO, fixed frequency and feasible random.

=========  ==================  =========  ==========================
figure     cost model          scheme     fixed budgets (captions)
=========  ==================  =========  ==========================
``fig5``   BLIP-2 (533.66 GF)  uniform    E0 = 2.00 J, T0 = 3.50 s
``fig6``   BLIP-2              PoT-log    E0 = 2.00 J, T0 = 3.50 s
``fig7``   GIT (212.27 GF)     uniform    E0 = 2.00 J, T0 = 2.00 s
``fig8``   GIT                 PoT-log    E0 = 2.00 J, T0 = 2.00 s
=========  ==================  =========  ==========================

**Quality.** A plan's quality is the CIDEr of the captioner with its agent quantized at the
plan's bit-width (:mod:`.quality`; 0 for a plan that breaks a budget): the shipped default
captioner, or the real checkpoint given as ``git=DIR`` / ``blip2=DIR``.

**Cost model and its scaling.** Delay and energy are eqs. (4)-(9) with the paper's constants
(§VI-C: f^max = 2 GHz, f~^max = 10 GHz, c = 32, c~ = 128, eta = 1, eta~ = 2, psi = 2e-29,
psi~ = 1e-28) and the paper's FLOP counts split into agent and server as in the ``paper``
preset (BLIP-2 381.6 + 152.06 GFLOPs, GIT 135.85 + 76.42 GFLOPs). Only the agent workload is
scaled: the quality table spans b = 1..8, so B_max = 8, and the agent FLOPs are multiplied by
the largest factor kappa (rounded down to 3 significant digits) at which B_max is still
feasible at the paper's fixed budgets (:func:`workload_scale`). So the fixed budgets of the
figures are exactly where the budgets start to bind -- every tighter budget costs bits -- as
the paper's rising curves show they bind; T0 is in seconds and E0 in joules as in the paper.

**Sweeps.** T0 runs linearly from 0.9x the least T0 with any feasible plan to 1.2x the fixed
T0; E0 geometrically from 0.9x the least E0 with a feasible plan to 1.2x the fixed E0, or on to
1.1x the energy the fixed-frequency baseline spends at the fixed T0 when that is within 20x the
fixed E0 (with both clocks at their maxima the server alone spends far more than the fixed E0,
so only that extension shows where it becomes feasible). The fixed value is always a point.

**Baselines.** PPO: :func:`~qcoinf_ros.core.planner.ppo.train_ppo` on this system, budgets drawn
over the ranges of both panels, trained once per cost model (cached in ``out_dir``; small
size: a token training budget). Fixed frequency: clocks at their maxima, b optimised. Feasible
random: 400 trials, each one random bit-width with optimised clocks (one seeded
:class:`~qcoinf_ros.core.planner.random_search.RandomSolver` with ``trials=1`` called 400 times),
and the figure shows the mean quality over the feasible trials ("only feasible trials are evaluated
and reported"); reporting the best feasible trial instead would give the exact design's answer
whenever one of the 400 draws hits it. A PPO decision that breaks a budget scores 0 like every
infeasible plan; the CSV keeps its delay, energy and relative violation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import hashlib
import math
from pathlib import Path
import statistics
import time

import numpy as np

from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.core import evaluate_point, worst_relative_violation
from qcoinf_ros.core.planner.presets import load_preset
from qcoinf_ros.core.system.model import SystemParams
from qcoinf_ros.tools.experiments.common import pyplot, save_figure, write_csv
from qcoinf_ros.tools.experiments.quality import (
    cached_files,
    experiment_options,
    INFEASIBLE_CIDER,
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

__all__ = ['FIGURES', 'SOLVERS', 'BudgetSystem', 'budget_grids', 'clear_cache', 'fig5', 'fig6',
           'fig7', 'fig8', 'figure_system', 'workload_scale']

#: figure -> (cost model of the ``paper`` preset, quantization scheme)
FIGURES = {'fig5': ('blip2', 'uniform'), 'fig6': ('blip2', 'potlog'),
           'fig7': ('git', 'uniform'), 'fig8': ('git', 'potlog')}
SOLVERS = ('exact', 'sca', 'ppo', 'fixed', 'random')
BASELINES = ('ppo', 'fixed', 'random')
LABELS = {'exact': 'proposed, exact', 'sca': 'proposed, SCA (Alg. 1)', 'ppo': 'PPO',
          'fixed': 'fixed frequency', 'random': 'feasible random'}
_MODEL_NAMES = {'blip2': 'BLIP-2', 'git': 'GIT'}
_SCHEME_NAMES = {'uniform': 'uniform', 'potlog': 'nonuniform (PoT-log)'}
_PAPER_DATA = {'blip2': 'BLIP-2 on MS-COCO', 'git': 'GIT on VaTeX'}
RANDOM_TRIALS = 400


@dataclass(frozen=True)
class _Size:
    points: int  # budget points per panel (plus the fixed value)
    ppo_timesteps: int


_SIZES = {'small': _Size(points=6, ppo_timesteps=1024),
          'full': _Size(points=25, ppo_timesteps=50_000)}
_PPO_CACHE: dict[str, object] = {}


@dataclass(frozen=True)
class BudgetSystem:
    """The scaled cost model of one figure: params (B_max, kappa-scaled N_FLOP) and budgets."""

    model: str
    params: SystemParams
    lam: float
    t0: float  # the paper's fixed T0 (s)
    e0: float  # the paper's fixed E0 (J)
    kappa: float  # agent workload scale applied to the preset's N_FLOP

    def problem(self, t0: float, e0: float) -> PlanningProblem:
        """(P1) on this system with budgets ``t0`` (s) and ``e0`` (J)."""
        return PlanningProblem(self.params, self.lam, t0, e0)


def _top_feasible(params: SystemParams, lam: float, t0: float, e0: float) -> bool:
    plan = make_solver('exact').solve(PlanningProblem(params, lam, t0, e0))
    return plan.feasible and plan.bit_width == params.b_max


def workload_scale(params: SystemParams, lam: float, t0: float, e0: float) -> float:
    """
    Largest kappa with b = B_max feasible at (t0, e0) when the agent's N_FLOP is x kappa.

    Feasibility of B_max only gets harder as the agent's workload W_a(b) = kappa b N_FLOP /
    (b_orig c) (eq. (4)) grows, so kappa is found by bisection (on log kappa, in [1e-3, 1e3])
    and rounded *down* to 3 significant digits, which keeps B_max feasible. Raise
    ``ValueError`` if no kappa in that range puts the boundary at (t0, e0).
    """
    def top(kappa):
        return _top_feasible(dataclasses.replace(params, n_flop=kappa * params.n_flop), lam,
                             t0, e0)

    lo, hi = 1e-3, 1e3
    if not top(lo) or top(hi):
        raise ValueError(f'no agent workload scale in [{lo}, {hi}] puts B_max = {params.b_max} '
                         f'at the edge of T0 = {t0!r} s, E0 = {e0!r} J')
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if top(mid) else (lo, mid)
    step = 10.0 ** (math.floor(math.log10(lo)) - 2)
    kappa = math.floor(lo / step) * step
    return float(f'{kappa:.3g}')


def figure_system(model: str, b_max: int) -> BudgetSystem:
    """Build the ``paper`` preset's ``model`` with B_max = ``b_max`` and the workload scaled."""
    params, _, defaults = load_preset('paper', model)
    params = dataclasses.replace(params, b_max=b_max)
    lam, t0, e0 = (float(defaults[k]) for k in ('lam', 't0', 'e0'))
    kappa = workload_scale(params, lam, t0, e0)
    return BudgetSystem(model, dataclasses.replace(params, n_flop=kappa * params.n_flop), lam,
                        t0, e0, kappa)


def _least_budget(feasible, hi: float) -> float:
    """Smallest budget in (0, hi] for which ``feasible`` holds (it holds at ``hi``)."""
    lo = 0.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if feasible(mid) else (mid, hi)
        if hi - lo <= 1e-12 * hi:
            break
    return hi


def budget_grids(system: BudgetSystem, points: int) -> tuple[list[float], list[float]]:
    """T0 values (s) of the left panel and E0 values (J) of the right one (module docstring)."""
    exact = make_solver('exact')
    t_feas = _least_budget(lambda t: exact.solve(system.problem(t, system.e0)).feasible,
                           system.t0)
    e_feas = _least_budget(lambda e: exact.solve(system.problem(system.t0, e)).feasible,
                           system.e0)
    e_hi = 1.2 * system.e0
    fixed = make_solver('fixed').solve(system.problem(system.t0, math.inf))
    if fixed.feasible:
        e_fixed = 1.1 * fixed.energy
        if e_hi < e_fixed <= 20.0 * system.e0:
            e_hi = e_fixed
    t_grid = sorted({*np.linspace(0.9 * t_feas, 1.2 * system.t0, points).tolist(), system.t0})
    e_grid = sorted({*np.geomspace(0.9 * e_feas, e_hi, points).tolist(), system.e0})
    return t_grid, e_grid


def _ppo(system: BudgetSystem, t_grid, e_grid, timesteps: int, out_dir: Path, notes: list):
    """Return the PPO baseline for ``system``, trained once (cached in memory and out_dir)."""
    try:
        from qcoinf_ros.core.planner import rl_env
        from qcoinf_ros.core.planner.ppo import PpoSolver, train_ppo
    except ImportError as exc:
        notes.append(f'PPO baseline left out: {exc}')
        return None
    probe = rl_env.PlanningEnv(system.params, lam=system.lam)
    t_lo, t_hi = min(t_grid), max(t_grid)
    e_lo, e_hi = min(e_grid), max(e_grid)
    env_kwargs = {'lam': system.lam, 'lam_range': (1.0, 1.0),
                  't0_range': (t_lo / probe.t_ref, t_hi / probe.t_ref),
                  'e0_range': (e_lo / probe.e_ref, e_hi / probe.e_ref)}
    key = hashlib.sha1(repr((system.params, sorted(env_kwargs.items()), timesteps)).encode())
    key = key.hexdigest()[:12]
    path = Path(out_dir) / f'ppo_{system.model}_{key}.zip'
    solver = _PPO_CACHE.get(key)
    for candidate in [] if solver is not None else cached_files(out_dir, path.name):
        if candidate.is_file():
            solver = PpoSolver.load(candidate, system.params, **env_kwargs)
            break
    if solver is None:
        solver = train_ppo(system.params, timesteps=timesteps, seed=0, **env_kwargs)
    if not path.is_file():
        solver.save(path)
    _PPO_CACHE[key] = solver
    notes.append(f'PPO: stable-baselines3 PPO, {timesteps} single-step episodes, seed 0, '
                 f'budgets drawn log-uniformly over T0 in [{t_lo:.3g}, {t_hi:.3g}] s x E0 in '
                 f'[{e_lo:.3g}, {e_hi:.3g}] J (policy cached as {path.name})')
    return solver


def clear_cache() -> None:
    """Forget the PPO policies trained in this process (their files stay in ``out_dir``)."""
    _PPO_CACHE.clear()


def _random_row(problem, table: QualityTable, scheme) -> dict:
    """Run the paper's feasible random baseline: mean over the feasible ones of 400 trials."""
    solver = make_solver('random', trials=1, seed=0)
    ok = [plan for plan in (solver.solve(problem) for _ in range(RANDOM_TRIALS))
          if plan.feasible]
    nan = math.nan
    if not ok:
        return {'feasible': 0.0, 'bit_width': nan, 'cider': INFEASIBLE_CIDER}
    return {'feasible': len(ok) / RANDOM_TRIALS,
            'bit_width': statistics.fmean(p.bit_width for p in ok),
            'cider': statistics.fmean(plan_cider(table, scheme, p) for p in ok),
            'delay_s': statistics.fmean(p.delay for p in ok),
            'energy_j': statistics.fmean(p.energy for p in ok)}


def _decision(solver, problem):
    """Return the operating point a PPO policy chose, also when it breaks a budget."""
    action, _ = solver.model.predict(solver.env.observe(problem), deterministic=True)
    return evaluate_point(problem, *solver.env.decode(action))


def _point_rows(panel, problem, solvers, table: QualityTable, scheme) -> list[dict]:
    rows = []
    for name, solver in solvers.items():
        row = {'panel': panel, 't0_s': problem.t0, 'e0_j': problem.e0, 'solver': name,
               'violation': 0.0}
        if name == 'random':
            rows.append({**row, **_random_row(problem, table, scheme)})
            continue
        plan = solver.solve(problem)
        row.update({'feasible': float(plan.feasible),
                    'bit_width': plan.bit_width if plan.feasible else math.nan,
                    'cider': plan_cider(table, scheme, plan), 'delay_s': plan.delay,
                    'energy_j': plan.energy, 'f_ghz': plan.f / 1e9,
                    'f_server_ghz': plan.f_server / 1e9})
        if not plan.feasible:
            row['violation'] = math.nan
            if name == 'ppo':
                point = _decision(solver, problem)
                row.update({'delay_s': point.delay, 'energy_j': point.energy,
                            'f_ghz': point.f / 1e9, 'f_server_ghz': point.f_server / 1e9,
                            'violation': worst_relative_violation(problem, point) - 1.0})
        rows.append(row)
    return rows


_CSV_FIELDS = ('panel', 't0_s', 'e0_j', 'solver', 'feasible', 'bit_width', 'cider', 'delay_s',
               'energy_j', 'f_ghz', 'f_server_ghz', 'violation')


def _series(rows, panel, solver, key='cider'):
    picked = [r for r in rows if r['panel'] == panel and r['solver'] == solver]
    budget = 't0_s' if panel == 'T0' else 'e0_j'
    picked.sort(key=lambda r: r[budget])
    return [r[budget] for r in picked], [r[key] for r in picked]


def _plot(path: Path, rows, system: BudgetSystem, title: str, solvers):
    figure, axes = pyplot().subplots(1, 2, figsize=(11, 4.2))
    styles = {'exact': ('C0', 'o', '-'), 'sca': ('C1', 'x', '--'), 'ppo': ('C2', 's', '-'),
              'fixed': ('C3', '^', '-'), 'random': ('C4', 'v', '-')}
    for axis, panel, fixed, label in ((axes[0], 'T0', system.t0, 'delay budget T0 (s)'),
                                      (axes[1], 'E0', system.e0, 'energy budget E0 (J)')):
        for name in solvers:
            colour, marker, line = styles[name]
            x, y = _series(rows, panel, name)
            axis.plot(x, y, color=colour, marker=marker, linestyle=line, markersize=4,
                      label=LABELS[name])
        axis.axvline(fixed, color='gray', linestyle=':', linewidth=1)
        axis.set_xlabel(label)
        axis.set_ylabel('CIDEr (x100)')
        axis.grid(alpha=0.3)
    axes[1].set_xscale('log')
    axes[0].set_title(f'E0 = {system.e0:.2f} J', fontsize=10)
    axes[1].set_title(f'T0 = {system.t0:.2f} s', fontsize=10)
    axes[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    save_figure(figure, path, dpi=120)


def _monotone(values, tol):
    return all(b >= a - tol - 1e-9 for a, b in zip(values, values[1:]))


def _by_point(rows) -> list[dict]:
    points = {}
    for row in rows:
        points.setdefault((row['panel'], row['t0_s'], row['e0_j']), {})[row['solver']] = row
    return list(points.values())


def _mean_gap(points, proposed: str, baseline: str) -> float:
    return statistics.fmean(p[proposed]['cider'] - p[baseline]['cider'] for p in points)


def _comparison(points, proposed, baselines, tol):
    """(strict wins, wins up to ``tol``, mean margin text) of ``proposed`` over ``baselines``."""
    def at_least(p, slack):
        return all(p[proposed]['cider'] >= p[b]['cider'] - slack - 1e-9 for b in baselines)
    strict = sum(at_least(p, 0.0) for p in points)
    within = sum(at_least(p, tol) for p in points)
    margins = ', '.join(
        f'{LABELS[b]} {_mean_gap(points, proposed, b):+.0f}' for b in baselines)
    return strict, within, margins


def _findings(rows, system: BudgetSystem, table: QualityTable, scheme: str,
              solvers) -> list[Finding]:
    tol, b_low, b_high = table.dip_at(scheme)
    points = _by_point(rows)
    n = len(points)
    baselines = [b for b in BASELINES if b in solvers]
    claim = ('the proposed design consistently achieves the highest CIDEr score (against PPO, '
             'fixed frequency and feasible random)')

    def versus(proposed):
        strict, within, margins = _comparison(points, proposed, baselines, tol)
        text = f'{strict}/{n} budget points'
        if within > strict:
            text += (f', and no more than {tol:.1f} points below at {within - strict} more (the '
                     f"table's CIDEr at b = {b_high} is {tol:.1f} below b = {b_low})")
        return within == n, text, margins

    agrees, text, margins = versus('exact')
    findings = [Finding(
        'proposed (exact) vs baselines', claim,
        f'exact >= every baseline at {text}; mean CIDEr margin: {margins}', agrees,
        f'The exact design scores at least as high as every baseline at {text}, on average '
        f'{margins} CIDEr points above them.')]
    if 'sca' in solvers:
        same = sum(p['sca']['feasible'] == p['exact']['feasible']
                   and (not p['exact']['feasible']
                        or p['sca']['bit_width'] == p['exact']['bit_width']) for p in points)
        agrees, text, _ = versus('sca')
        findings.append(Finding(
            'proposed (SCA, Algorithm 1) vs baselines and exact', claim,
            f'SCA >= every baseline at {text}; rounded b = exact b at {same}/{n}', agrees,
            f"The SCA (Algorithm 1) picks the exact design's bit-width at {same} of {n} points "
            f'and scores at least as high as every baseline at {text}.'))
    parts = []
    if 'ppo' in solvers:
        broken = [p['ppo']['violation'] for p in points
                  if not p['ppo']['feasible'] and p['exact']['feasible']]
        feasible = sum(p['exact']['feasible'] > 0 for p in points)
        parts.append(f'PPO breaks a budget at {len(broken)} of the {feasible} feasible points'
                     + (f' (by {100 * statistics.median(broken):.2g} % median, '
                        f'{100 * max(broken):.2g} % at most)' if broken else ''))
    if 'fixed' in solvers:
        p = system.params
        e_server = p.k_server * p.server_cycles * p.f_max_server ** 2
        parts.append(f'fixed frequency meets both budgets at '
                     f'{sum(q["fixed"]["feasible"] > 0 for q in points)} of {n} points (at '
                     f'f~max the server alone spends {e_server:.3g} J)')
    if 'random' in solvers:
        gaps = [q['exact']['bit_width'] - q['random']['bit_width'] for q in points
                if q['random']['feasible']]
        parts.append(f'the feasible random trials use {statistics.fmean(gaps):.1f} bits fewer '
                     'than the exact design on average' if gaps else
                     'feasible random finds no feasible trial')
    if parts:
        findings.append(Finding(
            'why the baselines fall short', 'DRL relies on initialization, exploration and '
            'penalty-driven constraint handling; fixed frequency and random search exploit '
            'fewer degrees of freedom', '; '.join(parts), None,
            'In these runs ' + '; '.join(parts) + '.'))
    rising, texts, ranges = [], [], []
    for panel, unit in (('T0', 's'), ('E0', 'J')):
        x, cider = _series(rows, panel, 'exact')
        _, bits = _series(rows, panel, 'exact', 'bit_width')
        bits = [0 if math.isnan(b) else int(b) for b in bits]
        rising.append(_monotone(cider, tol) and _monotone(bits, 0.0))
        strict_rise = _monotone(cider, 0.0)
        texts.append(f'{cider[0]:.0f} -> {cider[-1]:.0f} over {panel} = {x[0]:.3g}..{x[-1]:.3g} '
                     f'{unit}' + ('' if strict_rise else f' (dips <= {tol:.1f})'))
        ranges.append(sorted({b for b in bits if b}))
    findings.append(Finding(
        'quality vs budget', 'as the delay or energy constraints become more relaxed, the CIDEr '
        'score generally increases',
        f'exact CIDEr {texts[0]} and {texts[1]}; bit-width non-decreasing in both: '
        f'{rising[0] and rising[1]}', all(rising),
        (f"The exact design's bit-width never falls as a budget grows, and its CIDEr rises "
         f'{texts[0]} and {texts[1]}.') if all(rising) else
        f"The exact design's quality falls somewhere as a budget grows: {texts[0]}, {texts[1]}."))
    top = next(p['exact'] for p in points
               if p['exact']['t0_s'] == system.t0 and p['exact']['e0_j'] == system.e0)
    bind = all(len(r) > 1 for r in ranges)
    spans = [f'{r[0]}..{r[-1]}' if r else 'none' for r in ranges]
    findings.append(Finding(
        'budget regime', f'{_PAPER_DATA[system.model]}: E0 = {system.e0:.2f} J (left), '
        f'T0 = {system.t0:.2f} s (right); the curves rise with both budgets',
        f'same fixed budgets; agent workload x {system.kappa:g} puts B_max = '
        f'{system.params.b_max} at their edge (CIDEr {top["cider"]:.0f} there, fp32 '
        f'{table.fp32:.0f}); exact b spans {spans[0]} over T0 and {spans[1]} over E0', bind,
        f"At the paper's fixed budgets (E0 = {system.e0:.2f} J, T0 = {system.t0:.2f} s), with "
        f'the agent workload scaled by {system.kappa:g}, both budgets bind: the chosen '
        f'bit-width spans {spans[0]} along T0 and {spans[1]} along E0.'))
    return findings


def _figure(fig: str, out_dir, size: str, progress: ProgressFn | None,
            options) -> ExperimentResult:
    start = time.perf_counter()
    size = check_size(size)
    options = experiment_options(fig, options)
    progress = progress or no_progress
    cfg = _SIZES[size]
    model, scheme = FIGURES[fig]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = quality_for(model, out_dir, size, options, progress)
    system = figure_system(model, table.b_max)
    t_grid, e_grid = budget_grids(system, cfg.points)
    origin = ('the shipped default captioner' if table.source == 'default'
              else f'checkpoint {table.source}')
    notes = [
        f'quality: {table.model_id} ({origin}) on {table.dataset}, agent quantized '
        f'{scheme} per tensor at b = 1..{table.b_max}, fp32 CIDEr {table.fp32:.1f}; a plan that '
        f'breaks a budget scores {INFEASIBLE_CIDER:g}',
        f'cost: paper preset "{model}" (eqs. (4)-(9), constants of section VI-C, N_FLOP '
        f'{system.params.n_flop / system.kappa / 1e9:.2f} + N~_FLOP '
        f'{system.params.n_flop_server / 1e9:.2f} GFLOPs), B_max = {table.b_max}, agent '
        f'workload x {system.kappa:g}: the largest scale at which B_max is feasible at '
        f'T0 = {system.t0:g} s, E0 = {system.e0:g} J',
        f'size {size}: {len(t_grid)} T0 points, {len(e_grid)} E0 points; feasible random: '
        f'mean over the feasible ones of {RANDOM_TRIALS} trials (seed 0)']
    solvers = {'exact': make_solver('exact'), 'sca': make_solver('sca')}
    progress('PPO training', 0, 1)
    ppo = _ppo(system, t_grid, e_grid, cfg.ppo_timesteps, out_dir, notes)
    progress('PPO training', 1, 1)
    if ppo is not None:
        solvers['ppo'] = ppo
    solvers['fixed'] = make_solver('fixed')
    solvers['random'] = None  # a fresh seeded solver per draw (see _point_rows)
    rows = []
    jobs = [('T0', t, system.e0) for t in t_grid] + [('E0', system.t0, e) for e in e_grid]
    for done, (panel, t0, e0) in enumerate(jobs):
        progress('budget points', done, len(jobs))
        rows += _point_rows(panel, system.problem(t0, e0), solvers, table, scheme)
    progress('budget points', len(jobs), len(jobs))
    csv_path = out_dir / f'{fig}.csv'
    png_path = out_dir / f'{fig}.png'
    write_csv(csv_path, _CSV_FIELDS, ([row.get(k, math.nan) for k in _CSV_FIELDS]
                                      for row in rows))
    title = (f'{fig.replace("fig", "Fig. ")} analog: {_MODEL_NAMES[model]} cost model '
             f'(agent x {system.kappa:g}), {_SCHEME_NAMES[scheme]} quantization, quality of '
             f'{table.model_id}')
    _plot(png_path, rows, system, title, list(solvers))
    findings = _findings(rows, system, table, scheme, list(solvers))
    return ExperimentResult(
        fig, f'{fig.replace("fig", "Fig. ")}: CIDEr vs T0 at E0 = {system.e0:.2f} J and vs E0 '
        f'at T0 = {system.t0:.2f} s, {_MODEL_NAMES[model]} cost model, '
        f'{_SCHEME_NAMES[scheme]} quantization', csv=[csv_path, table.path],
        figures=[png_path], findings=findings, seconds=time.perf_counter() - start, notes=notes)


def fig5(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
         **options) -> ExperimentResult:
    """Fig. 5: BLIP-2 cost model, uniform quantization (E0 = 2 J left, T0 = 3.5 s right)."""
    return _figure('fig5', out_dir, size, progress, options)


def fig6(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
         **options) -> ExperimentResult:
    """Fig. 6: BLIP-2 cost model, PoT-log quantization (E0 = 2 J left, T0 = 3.5 s right)."""
    return _figure('fig6', out_dir, size, progress, options)


def fig7(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
         **options) -> ExperimentResult:
    """Fig. 7: GIT cost model, uniform quantization (E0 = 2 J left, T0 = 2 s right)."""
    return _figure('fig7', out_dir, size, progress, options)


def fig8(out_dir: Path, *, size: str = 'full', progress: ProgressFn | None = None,
         **options) -> ExperimentResult:
    """Fig. 8: GIT cost model, PoT-log quantization (E0 = 2 J left, T0 = 2 s right)."""
    return _figure('fig8', out_dir, size, progress, options)
