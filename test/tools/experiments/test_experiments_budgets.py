"""Figs. 5-8 analogs at the small size: files, the qualitative shape, the scaling and caches."""

import csv
import dataclasses
import math

import pytest

from qcoinf_ros.core.captioner.model import build_processor
from qcoinf_ros.core.captioner.tokenizer import scene_tokenizer
from qcoinf_ros.core.models.tiny import tiny_git
from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.tools.experiments import budgets, quality

FIGURES = tuple(budgets.FIGURES)


def _read(path):
    with open(path, newline='', encoding='utf-8') as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope='module')
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('budgets')


@pytest.fixture(scope='module')
def results(out_dir):
    """Run the four figures once, sharing the quality table and the PPO policies."""
    quality.clear_cache()
    budgets.clear_cache()
    calls = []
    done = {name: getattr(budgets, name)(out_dir, size='small',
                                         progress=lambda *a: calls.append(a))
            for name in FIGURES}
    done['progress'] = calls
    return done


def _panels(rows):
    """{(panel, solver): [row, ...] sorted by the swept budget}."""
    out = {}
    for row in rows:
        out.setdefault((row['panel'], row['solver']), []).append(row)
    for (panel, _), series in out.items():
        series.sort(key=lambda r: float(r['t0_s' if panel == 'T0' else 'e0_j']))
    return out


def _bits(row):
    return float(row['bit_width']) if row['feasible'] != '0' else 0.0


@pytest.mark.parametrize('name', FIGURES)
def test_figure_writes_its_csv_plot_and_findings(results, name):
    result = results[name]
    assert result.name == name and result.seconds > 0.0
    png, = result.figures
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    rows = _read(result.csv[0])
    assert {r['solver'] for r in rows} == set(budgets.SOLVERS)
    panels = {r['panel'] for r in rows}
    assert panels == {'T0', 'E0'}
    assert len(rows) % len(budgets.SOLVERS) == 0 and len(rows) >= 2 * 7 * 5
    assert result.csv[1].name == 'quality_vs_bits_default.csv'
    assert [f.what for f in result.findings][:2] == [
        'proposed (exact) vs baselines', 'proposed (SCA, Algorithm 1) vs baselines and exact']
    for finding in result.findings:
        assert finding.sentence.endswith('.') and finding.paper and finding.ours
    assert any('workload x' in note for note in result.notes)
    assert any(task == 'budget points' and done == total for task, done, total
               in results['progress'])


@pytest.mark.parametrize('name', FIGURES)
def test_exact_design_quality_never_falls_as_a_budget_grows(results, name):
    model, scheme = budgets.FIGURES[name]
    table = quality.quality_table(results[name].csv[1].parent, size='small')
    dip = table.dip(scheme)
    system = budgets.figure_system(model, table.b_max)
    for panel in ('T0', 'E0'):
        series = _panels(_read(results[name].csv[0]))[(panel, 'exact')]
        bits = [_bits(r) for r in series]
        cider = [float(r['cider']) for r in series]
        assert bits == sorted(bits), (panel, bits)
        assert all(b >= a - dip - 1e-6 for a, b in zip(cider, cider[1:])), (panel, cider)
        # the sweep starts below feasibility and reaches B_max at the paper's fixed budget
        assert bits[0] == 0.0 and cider[0] == 0.0 and bits[-1] == table.b_max
        budget = 't0_s' if panel == 'T0' else 'e0_j'
        fixed = system.t0 if panel == 'T0' else system.e0
        at_fixed = [r for r in series if math.isclose(float(r[budget]), fixed, rel_tol=1e-5)]
        assert len(at_fixed) == 1 and _bits(at_fixed[0]) == table.b_max
        assert len(set(bits)) > 2  # the budget binds over the panel


@pytest.mark.parametrize('name', FIGURES)
def test_exact_design_is_at_least_every_baseline_at_every_point(results, name):
    _, scheme = budgets.FIGURES[name]
    table = quality.quality_table(results[name].csv[1].parent, size='small')
    dip = table.dip(scheme)
    points = {}
    for row in _read(results[name].csv[0]):
        points.setdefault((row['panel'], row['t0_s'], row['e0_j']), {})[row['solver']] = row
    for point in points.values():
        exact = point['exact']
        for name_ in ('sca', 'ppo', 'fixed', 'random'):
            other = point[name_]
            assert _bits(exact) >= _bits(other) - 1e-9, (exact, other)
            assert float(exact['cider']) >= float(other['cider']) - dip - 1e-6, (exact, other)
            if exact['feasible'] == '0':
                assert other['feasible'] in ('0', '0.0') and float(other['cider']) == 0.0
    verdicts = {f.what: f.agrees for f in results[name].findings}
    assert verdicts['proposed (exact) vs baselines'] is True
    assert verdicts['quality vs budget'] is True
    assert verdicts['budget regime'] is True


def test_workload_scale_puts_b_max_exactly_at_the_edge_of_the_fixed_budgets():
    for model in ('blip2', 'git'):
        system = budgets.figure_system(model, 8)
        assert 0.5 < system.kappa < 10.0
        exact = make_solver('exact')
        assert exact.solve(system.problem(system.t0, system.e0)).bit_width == 8
        heavier = dataclasses.replace(system.params, n_flop=system.params.n_flop * 1.01)
        plan = exact.solve(PlanningProblem(heavier, system.lam, system.t0, system.e0))
        assert not plan.feasible or plan.bit_width < 8
        t_grid, e_grid = budgets.budget_grids(system, 5)
        assert system.t0 in t_grid and system.e0 in e_grid and len(t_grid) == 6
        assert not exact.solve(system.problem(t_grid[0], system.e0)).feasible
    with pytest.raises(ValueError, match='workload scale'):
        budgets.workload_scale(system.params, system.lam, 1e-12, system.e0)


def test_bad_size_and_unknown_options_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="size must be one of .* 'tiny'"):
        budgets.fig5(tmp_path, size='tiny')
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['gti'\]"):
        budgets.fig7(tmp_path, size='small', gti='/nowhere')
    with pytest.raises(ValueError, match='annotations and images go together'):
        budgets.fig7(tmp_path, size='small', annotations=tmp_path / 'a.json')


def test_quality_table_and_ppo_policy_are_reused_from_out_dir(results, out_dir, tmp_path):
    assert sorted(p.name.split('_')[1] for p in out_dir.glob('ppo_*.zip')) == ['blip2', 'git']
    rows = _read(out_dir / 'quality_vs_bits_default.csv')
    assert len(rows) == 1 + 2 * 8
    # an edited CSV for the same captioner and data is read back instead of recomputed
    for row in rows:
        if row['scheme'] == 'uniform' and row['bit_width'] == '3':
            row['cider'] = '123.25'
    (tmp_path / 'fig5').mkdir()
    with open(tmp_path / 'fig5' / 'quality_vs_bits_default.csv', 'w', newline='',
              encoding='utf-8') as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    quality.clear_cache()
    # found in a sibling experiment's folder (qcoinf experiment's layout) and copied here
    table = quality.quality_table(tmp_path / 'fig6', size='small')
    assert table.at('uniform', 3) == 123.25 and table.b_max == 8
    assert table.path == tmp_path / 'fig6' / 'quality_vs_bits_default.csv'
    assert table.path.is_file()
    quality.clear_cache()
    with pytest.raises(ValueError, match='bit_width must be in'):
        table.at('uniform', 9)


def test_a_local_git_checkpoint_replaces_the_default_quality(results, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp('git_ckpt')
    tokenizer = scene_tokenizer()
    tiny_git(seed=0, vocab_size=len(tokenizer)).save_pretrained(ckpt)
    build_processor(tokenizer, 32).save_pretrained(ckpt)
    out = tmp_path_factory.mktemp('fig7_git')
    result = budgets.fig7(out, size='small', git=ckpt, blip2=None)
    table_csv = result.csv[1]
    assert table_csv.name == 'quality_vs_bits_git.csv'
    rows = _read(table_csv)
    assert {r['source'] for r in rows} == {str(ckpt.resolve())}
    assert any(str(ckpt.resolve()) in note for note in result.notes)
    # the cost model, and so every plan's bit-width, does not depend on the captioner
    default = _read(results['fig7'].csv[0])
    mine = _read(result.csv[0])
    assert [(r['solver'], r['bit_width']) for r in mine] == [
        (r['solver'], r['bit_width']) for r in default]
    assert len(list(out.glob('ppo_git_*.zip'))) == 1  # the policy trained above, saved here
