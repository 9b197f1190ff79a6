"""``qcoinf bag report``: latency percentiles, bit-width histograms, energy and plots."""

import json

import numpy as np
import pytest

from qcoinf_ros.bags import BagReader, TopicSpec, write_bag
from qcoinf_ros.bags import qos
from qcoinf_ros.bags.cdr import build, header, serialize
from qcoinf_ros.bags.report import analyse, Percentiles, write_plots
from qcoinf_ros.cli import bag as bag_cli
from qcoinf_ros.codec import EmbeddingMeta, encode_embedding, FORMAT
from qcoinf_ros.codec.plan import encode_profile, ProfileMessage

T0 = 3_000_000_000_000
S = 1_000_000_000
LAT, STR, U8 = 'geometry_msgs/msg/Vector3Stamped', 'std_msgs/msg/String', 'std_msgs/msg/UInt8'
EMB, DIAG = 'sensor_msgs/msg/CompressedImage', 'diagnostic_msgs/msg/DiagnosticArray'


def _plan(bits, joules):
    return encode_profile(ProfileMessage('continuous', 1e9, 5e9, bits, True,
                                         predicted_delay_s=0.5, predicted_energy_j=joules))


def _status(name, **values):
    return build('diagnostic_msgs/msg/DiagnosticStatus', name=name, message='ok',
                 values=[build('diagnostic_msgs/msg/KeyValue', key=k, value=str(v))
                         for k, v in values.items()])


def output_bag(path, namespace=''):
    """10 frames at 1 Hz: plan b=8 (0.4 J) until 5 s, then b=6 (0.3 J); E0 0.35 J from 5 s."""
    ns = f'/{namespace}' if namespace else ''
    rng = np.random.default_rng(1)
    e2e = rng.uniform(0.1, 0.3, 10)
    msgs = [(f'{ns}/qcoinf/bit_width', T0, serialize(build(U8, data=8), U8)),
            (f'{ns}/qcoinf/frequency_profile', T0,
             serialize(build(STR, data=_plan(8, 0.4)), STR)),
            (f'{ns}/qcoinf/bit_width', T0 + 5 * S, serialize(build(U8, data=6), U8)),
            (f'{ns}/qcoinf/frequency_profile', T0 + 5 * S,
             serialize(build(STR, data=_plan(6, 0.3)), STR)),
            ('/diagnostics', T0 + 1, serialize(build(DIAG, status=[
                _status('qcoinf: planner', E0_J=1.0)]), DIAG)),
            ('/diagnostics', T0 + 5 * S + 1, serialize(build(DIAG, status=[
                _status('qcoinf: planner', E0_J=0.35),
                _status('qcoinf: frequency actuator', energy_per_inference_J=0.31,
                        energy_source='measured (rapl)')]), DIAG))]
    for k in range(10):
        t = T0 + k * S + S // 2
        bits = 8 if k < 5 else 6
        payload = encode_embedding(np.ones((4, 8), np.float32), EmbeddingMeta('m', bits))
        msgs.append((f'{ns}/qcoinf/embedding', t, serialize(
            build(EMB, header=header(t), format=FORMAT, data=np.frombuffer(payload, np.uint8)),
            EMB)))
        msgs.append((f'{ns}/qcoinf/caption', t + 10, serialize(build(STR, data=f'c{k}'), STR)))
        vector = build('geometry_msgs/msg/Vector3', x=float(e2e[k]), y=0.01, z=0.05)
        msgs.append((f'{ns}/qcoinf/latency', t + 11, serialize(
            build(LAT, header=header(t), vector=vector), LAT)))
    types = {'bit_width': U8, 'frequency_profile': STR, 'embedding': EMB, 'caption': STR,
             'latency': LAT}
    topics = [TopicSpec(f'{ns}/qcoinf/{k}', v, (qos.LATCHED,)) for k, v in types.items()]
    topics.append(TopicSpec('/diagnostics', DIAG, (qos.DEFAULT,)))
    write_bag(path, topics, sorted(msgs, key=lambda m: m[1]))
    return e2e


def test_report_numbers(tmp_path):
    e2e = output_bag(tmp_path / 'out')
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


def test_report_of_a_namespaced_graph(tmp_path):
    output_bag(tmp_path / 'ns', namespace='robot1')
    assert analyse(BagReader(tmp_path / 'ns')).latency['end_to_end'] is None
    report = analyse(BagReader(tmp_path / 'ns'), namespace='robot1')
    assert report.latency['end_to_end'].count == 10 and report.bit_width_frames == {6: 5, 8: 5}


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


def test_percentiles_of_nothing_and_of_non_finite_values():
    assert Percentiles.of([]) is None and Percentiles.of([float('nan')]) is None
    p = Percentiles.of([1.0, float('inf'), 3.0])
    assert p.count == 2 and p.mean == 2.0 and p.max == 3.0
