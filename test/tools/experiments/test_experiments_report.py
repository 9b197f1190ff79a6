"""Tests of the experiment result files and the results page (docs/results.md)."""

from pathlib import Path

import pytest

from qcoinf_ros.tools.experiments.report import (
    load_result, load_results, render_markdown, save_result, write_report)
from qcoinf_ros.tools.experiments.result import ExperimentResult, Finding


def _result(folder: Path) -> ExperimentResult:
    (folder / 'sub').mkdir(parents=True)
    (folder / 'fig9.png').write_bytes(b'png')
    (folder / 'sub' / 'fig9.csv').write_text('a\n1\n')
    return ExperimentResult(
        name='fig9', title='Fig. 9: a | test', seconds=1.5,
        csv=[folder / 'sub' / 'fig9.csv'], figures=[Path('fig9.png')],
        findings=[Finding('gap at R = 2', 'tight', '0.13', True, 'The gap is 0.13.'),
                  Finding('ratio', '(none)', '2.0', None, 'D^U is twice D.'),
                  Finding('bound', 'holds', 'fails', False, 'The bound fails.')],
        notes=['size=small'])


def test_save_and_load_round_trip(tmp_path):
    folder = tmp_path / 'fig9'
    result = _result(folder)
    path = save_result(result, folder, 'small')
    loaded, size = load_result(path)
    assert size == 'small'
    assert loaded.findings == result.findings and loaded.notes == result.notes
    assert loaded.csv == [Path('sub/fig9.csv')] and loaded.figures == [Path('fig9.png')]
    assert loaded.title == result.title and loaded.seconds == result.seconds
    assert set(load_results(tmp_path, ['fig9', 'fig10'])) == {'fig9'}


def test_load_result_rejects_damaged_files(tmp_path):
    bad = tmp_path / 'result.json'
    bad.write_text('{"name": "x"}')
    with pytest.raises(ValueError, match='cannot read experiment result'):
        load_result(bad)
    bad.write_text('not json')
    with pytest.raises(ValueError, match='cannot read experiment result'):
        load_result(bad)


def test_page_links_figures_and_lists_findings(tmp_path):
    folder = tmp_path / 'results' / 'fig9'
    result = _result(folder)
    save_result(result, folder, 'full')
    entries = list(load_results(tmp_path / 'results', ['fig9']).values())
    page = write_report(tmp_path / 'results.md', entries,
                        missing={'fig10': 'not available: ImportError: nope'},
                        total_seconds=90.0)
    text = page.read_text()
    assert '![fig9](results/fig9/fig9.png)' in text
    assert '[fig9.csv](results/fig9/sub/fig9.csv)' in text
    assert '| gap at R = 2 | tight | 0.13 | yes |' in text
    assert '| ratio | (none) | 2.0 | new |' in text
    assert '| bound | holds | fails | no |' in text
    assert 'Fig. 9: a \\| test' in text  # table cells escape pipes
    assert '- The gap is 0.13.' in text and '- The bound fails.' in text
    assert '1 of 2' in text  # agreeing of judged findings in the summary
    assert 'not available: ImportError: nope' in text
    assert 'Total run time: 90 s (1.5 min)' in text
    # the same page rendered for another folder links from there
    other = render_markdown(entries, tmp_path / 'results')
    assert '![fig9](fig9/fig9.png)' in other
