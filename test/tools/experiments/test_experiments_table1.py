"""Table I analog at the small size: which clock profile wins under delay-only / energy-only."""

import csv

import pytest

from qcoinf_ros.tools.experiments import quality, table1


@pytest.fixture(scope='module')
def result(tmp_path_factory):
    return table1.run(tmp_path_factory.mktemp('table1'), size='small')


@pytest.fixture(scope='module')
def rows(result):
    with open(result.csv[0], newline='', encoding='utf-8') as stream:
        return list(csv.DictReader(stream))


def _cell(rows, model, regime, profile):
    return [r for r in rows if (r['model'], r['regime'], r['profile']) == (model, regime, profile)]


def _bits(row):
    return int(row['bit_width']) if row['feasible'] == '1' else 0


def test_table_has_every_cell_with_the_papers_numbers_beside(result, rows):
    assert len(rows) == 2 * 2 * 3 * 4  # models x regimes x budgets x (3 profiles + planner)
    assert result.figures[0].read_bytes()[:4] == b'\x89PNG'
    for model, regimes in table1.PAPER_TABLE.items():
        for regime, (budgets, cider) in regimes.items():
            for profile in table1.PROFILES:
                cells = _cell(rows, model, regime, profile)
                assert [float(c['paper_budget']) for c in cells] == list(budgets)
                assert [float(c['paper_cider']) for c in cells] == list(cider[profile])
                ours = [float(c['budget']) for c in cells]
                assert ours == sorted(ours) and len(set(ours)) == 3
            medium = _cell(rows, model, regime, 'medium')
            assert [_bits(c) for c in medium] == list(table1.MEDIUM_BITS)


@pytest.mark.parametrize('regime, winner, loser', [('delay', 'high', 'low'),
                                                   ('energy', 'low', 'high')])
def test_high_profile_wins_delay_limited_and_low_wins_energy_limited(result, rows, regime,
                                                                     winner, loser):
    dip = quality.quality_table(result.csv[1].parent, size='small').dip(table1.SCHEME)
    for model in table1.PAPER_TABLE:
        best = _cell(rows, model, regime, winner)
        middle = _cell(rows, model, regime, 'medium')
        worst = _cell(rows, model, regime, loser)
        for b, m, w in zip(best, middle, worst):
            assert _bits(b) >= _bits(m) >= _bits(w), (b, m, w)
            assert float(b['cider']) >= max(float(m['cider']), float(w['cider'])) - dip - 1e-6
        assert any(_bits(b) > _bits(w) for b, w in zip(best, worst))
        for cell in _cell(rows, model, regime, 'planner'):
            assert cell['chosen_profile'] == winner
        spent = 'delay_s' if regime == 'delay' else 'energy_j'
        assert all(float(r[spent]) <= float(r['budget']) * (1 + 1e-9)
                   for r in best + middle + worst if r['feasible'] == '1')
    verdicts = [f.agrees for f in result.findings if regime + '-limited' in f.what]
    assert verdicts == [True, True]


def test_findings_quote_the_paper_and_options_are_checked(result, tmp_path):
    assert result.findings[-1].what == 'choosing among the three profiles'
    assert result.findings[-1].agrees is True
    assert all(f.sentence.endswith('.') for f in result.findings)
    assert '100.8' in result.findings[0].paper  # BLIP-2, delay 2.50 s, high profile
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['profile'\]"):
        table1.run(tmp_path, size='small', profile='x')
    with pytest.raises(ValueError, match='size must be one of'):
        table1.run(tmp_path, size='huge')
