"""Tests of ``qcoinf experiment``: list, one experiment, all, report, bad input."""

import json

import pytest

import qcoinf_ros.tools.cli.experiment as cli
from qcoinf_ros.tools.cli.main import main as qcoinf_main
import qcoinf_ros.tools.experiments as experiments


@pytest.fixture
def registry(monkeypatch):
    """Registry limited to fig4 (seconds) and one experiment whose module does not exist."""
    reduced = {'fig4': experiments.EXPERIMENTS['fig4'],
               'ghost': ('qcoinf_ros.tools.experiments.no_such_module:run', 'not written yet')}
    monkeypatch.setattr(experiments, 'EXPERIMENTS', reduced)
    monkeypatch.setattr(cli, 'EXPERIMENTS', reduced)
    return reduced


def test_every_registered_experiment_is_available():
    assert list(experiments.EXPERIMENTS)[:3] == ['fig2', 'fig3', 'fig4']
    status = experiments.availability()
    for name in ('fig2', 'fig3', 'fig4', 'reality'):
        assert status[name] is None
    with pytest.raises(ValueError, match='unknown experiment'):
        experiments.load_experiment('fig99')


def test_list_names_unavailable_experiments(registry, capsys):
    assert qcoinf_main(['experiment', 'list']) == 0
    out = capsys.readouterr().out
    assert 'fig4' in out and 'available' in out
    assert 'not available' in out and 'no_such_module' in out


def test_run_one_and_all_and_report(registry, tmp_path, capsys):
    out = tmp_path / 'res'
    assert cli.main(['fig4', '--size', 'small', '--out', str(out)]) == 0
    saved = json.loads((out / 'fig4' / 'result.json').read_text())
    assert saved['name'] == 'fig4' and saved['size'] == 'small'
    assert (out / 'fig4' / 'fig4.png').is_file()
    printed = capsys.readouterr().out
    assert 'ordering D^L <= D(R) <= D^U' in printed and 'total time' in printed

    report = tmp_path / 'page.md'
    assert cli.main(['all', '--size', 'small', '--out', str(out), '--report', str(report)]) == 0
    text = report.read_text()
    assert '![fig4](res/fig4/fig4.png)' in text
    assert 'not available: ModuleNotFoundError' in text
    assert 'Total run time' in text
    printed = capsys.readouterr().out
    assert 'ghost: not available' in printed and 'results page' in printed

    report.unlink()
    assert cli.main(['report', '--out', str(out), '--report', str(report)]) == 0
    assert '![fig4](res/fig4/fig4.png)' in report.read_text()


def test_bad_input_exits_2(registry, tmp_path, capsys):
    assert cli.main(['fig99', '--out', str(tmp_path)]) == 2
    assert 'unknown experiment' in capsys.readouterr().err
    assert cli.main(['report', '--out', str(tmp_path / 'empty')]) == 2
    assert 'no saved results' in capsys.readouterr().err
    assert cli.main(['fig4', '--threads', '0', '--out', str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        cli.main(['fig4', '--size', 'huge'])
    # an unavailable experiment asked for by name is an error (in `all` it is only reported)
    assert cli.main(['ghost', '--out', str(tmp_path)]) == 1
