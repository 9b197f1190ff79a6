"""``qcoinf bag report``: latency percentiles, bit-width histograms, energy and plots."""

import json

from bag_outputs import output_bag
import numpy as np
import pytest

from qcoinf_ros.core.bags import BagReader
from qcoinf_ros.core.bags.report import analyse, write_plots
from qcoinf_ros.tools.cli import bag as bag_cli


@pytest.mark.parametrize('legacy_names', [True, False], ids=['qcoinf-names', 'fleet-names'])
def test_report_numbers(tmp_path, legacy_names):
    """Bags before (``qcoinf: planner``) and after the fleet-readable status names read alike."""
    e2e = output_bag(tmp_path / 'out', legacy_names=legacy_names)
    report = analyse(BagReader(tmp_path / 'out'))
    lat = report.latency['end_to_end']
    assert lat.count == 10
    assert lat.p50 == pytest.approx(np.percentile(e2e, 50))
    assert lat.p95 == pytest.approx(np.percentile(e2e, 95)) and lat.max == pytest.approx(e2e.max())
    assert report.latency['server_decode'].p99 == pytest.approx(0.05)
    assert report.bit_width_frames == {6: 5, 8: 5}
    assert report.bit_width_plans == {6: 1, 8: 1}
    assert report.bit_width_time_s == {8: pytest.approx(5.0), 6: pytest.approx(4.5 + 1e-8)}
    # predicted energy of the plan in force for each captioned frame: 5 x 0.4 + 5 x 0.3
    assert report.energy_total_predicted_j == pytest.approx(3.5)
    assert report.energy_actuator == (0.31, 'measured (rapl)')
    assert report.frames_over_budget() == 0  # 0.4 J <= 1.0 J before 5 s, 0.3 <= 0.35 after
    assert report.captions == [f'c{k}' for k in range(10)] and report.problems == []
    summary = report.to_dict()
    assert summary['captions'] == 10 and summary['latency']['end_to_end']['count'] == 10
    json.dumps(summary)


@pytest.mark.parametrize('legacy_names', [True, False], ids=['qcoinf-names', 'fleet-names'])
def test_report_of_a_namespaced_graph(tmp_path, legacy_names):
    output_bag(tmp_path / 'ns', namespace='robot1', legacy_names=legacy_names)
    assert analyse(BagReader(tmp_path / 'ns')).latency['end_to_end'] is None
    report = analyse(BagReader(tmp_path / 'ns'), namespace='robot1')
    assert report.latency['end_to_end'].count == 10 and report.bit_width_frames == {6: 5, 8: 5}
    # robot1's budget and actuator only (robot9's statuses, also on /diagnostics, are not)
    assert [e0 for _, e0 in report.e0_series] == [1.0, 0.35]
    assert report.energy_actuator == (0.31, 'measured (rapl)')
    with pytest.raises(ValueError, match="'robot1: planner'"):
        analyse(BagReader(tmp_path / 'ns'), namespace='robot1: planner')


def test_plots_are_written(tmp_path):
    output_bag(tmp_path / 'out')
    written = write_plots(analyse(BagReader(tmp_path / 'out')), tmp_path / 'plots')
    assert sorted(p.name for p in written) == ['bit_width.png', 'energy.png', 'latency.png']
    for path in written:
        assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and path.stat().st_size > 5000


def test_report_command_prints_tables_and_writes_files(tmp_path, capsys):
    output_bag(tmp_path / 'out')
    assert bag_cli.main(['report', str(tmp_path / 'out'), '--out', str(tmp_path / 'r')]) == 0
    text = capsys.readouterr().out
    assert 'Latency (ms)' in text and 'end to end' in text and 'Bit-width' in text
    assert 'measured (rapl)' in text and '3.5' in text
    saved = json.loads((tmp_path / 'r' / 'report.json').read_text())
    assert saved['bit_width_frames'] == {'6': 5, '8': 5}
    assert (tmp_path / 'r' / 'latency.png').is_file()


def test_info_command_and_damaged_bag_exit_codes(tmp_path, capsys):
    output_bag(tmp_path / 'out')
    assert bag_cli.main(['info', str(tmp_path / 'out')]) == 0
    assert '/qcoinf/latency' in capsys.readouterr().out
    file = next((tmp_path / 'out').glob('*.mcap'))
    file.write_bytes(file.read_bytes()[:file.stat().st_size * 2 // 3])
    assert bag_cli.main(['info', str(tmp_path / 'out')]) == 1
    assert 'damaged' in capsys.readouterr().out
    assert bag_cli.main(['report', str(tmp_path / 'out')]) == 1
    assert bag_cli.main(['info', str(tmp_path / 'nothing')]) == 2
