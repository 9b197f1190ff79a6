"""Pure monitor helpers: dashboard model, caption pairing, markers, annotation, RViz file."""

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
import yaml

from qcoinf_ros.core.codec.plan import encode_profile, ProfileMessage
from qcoinf_ros.core.monitor import annotate, CaptionPairer, KEYS, marker_texts, MonitorState
from qcoinf_ros.core.monitor.annotate import wrap
from qcoinf_ros.core.monitor.dashboard import render_dashboard
from qcoinf_ros.core.monitor.markers import RED, WHITE, YELLOW

ROOT = Path(__file__).resolve().parents[3]


def _profile(bits=6, feasible=True, joules=0.3):
    return encode_profile(ProfileMessage('continuous', 1.2e9, 4e9, bits, feasible,
                                         predicted_delay_s=0.4, predicted_energy_j=joules))


def _state():
    state = MonitorState(window_s=2.0, latency_window=4)
    state.on_bit_width(6, 0.0)
    assert state.on_profile(_profile(), 0.0)
    state.on_deadline(2.5, 0.0)
    state.on_battery(0.42, 0.0)
    state.on_status('qcoinf: planner', 0, 'plan feasible', {'E0_J': '0.5'}, 0.0)
    for i, x in enumerate((0.1, 0.2, 0.3, 0.4, 0.5)):
        state.on_latency(x, 0.01, 0.05, float(i))
    state.on_caption('a small red circle', 5.0)
    return state


def test_rates_over_the_window():
    state = MonitorState(window_s=2.0)
    for k in range(21):
        state.tick('camera/image_raw', 10.0 + 0.1 * k)  # 10 Hz for 2 s
    assert state.rate('camera/image_raw', 12.0) == pytest.approx(10.0)
    assert state.rate('camera/image_raw', 20.0) == 0.0  # nothing in the last 2 s
    assert state.rate('nothing', 12.0) == 0.0
    assert state.counts['camera/image_raw'] == 21 and state.last_seen['camera/image_raw'] == 12.0


def test_latency_window_budgets_and_rejected_inputs():
    state = _state()
    stats = state.latency_stats()
    assert stats.count == 4 and stats.p50 == pytest.approx(0.35)  # last 4 of 5
    assert state.latency_stats(2).max == pytest.approx(0.05)
    assert state.energy_budget == 0.5
    assert state.energy_per_inference == (0.3, 'predicted (plan)')
    state.on_status('qcoinf: frequency actuator', 0, 'ok',
                    {'energy_per_inference_J': '0.25', 'energy_source': 'measured (rapl)'}, 6.0)
    assert state.energy_per_inference == (0.25, 'measured (rapl)')
    rejected = state.rejected
    assert not state.on_profile('{not json', 6.0)
    state.on_deadline(float('nan'), 6.0)
    state.on_deadline(-1.0, 6.0)
    state.on_battery(1.5, 6.0)
    state.on_latency(float('inf'), 0.0, 0.0, 6.0)
    assert state.rejected == rejected + 5
    assert state.deadline == 2.5 and state.battery == 0.42 and state.plan.bit_width == 6
    assert state.operating_point() == 'b = 6  f = 1.2 GHz  f~ = 4 GHz  T0 = 2.5 s  E0 = 0.5 J'
    with pytest.raises(ValueError, match='window_s'):
        MonitorState(window_s=0)
    with pytest.raises(ValueError, match='latency_window'):
        MonitorState(latency_window=0)


def test_pairer_matches_captions_to_frames_in_either_order():
    pairer = CaptionPairer(window_s=1.0)
    assert pairer.caption('first', 0.0) == []
    assert pairer.latency('stamp1', 0.01) == [('stamp1', 'first')]
    assert pairer.latency('stamp2', 0.5) == []  # latency before its caption
    assert pairer.caption('second', 0.52) == [('stamp2', 'second')]
    # a monitor that missed a caption: the orphan latency expires, the pairing is not shifted
    assert pairer.latency('orphan', 1.0) == []
    assert pairer.caption('third', 2.5) == []
    assert pairer.latency('stamp3', 2.51) == [('stamp3', 'third')]
    assert pairer.dropped == 1


def test_marker_texts_content_and_colours():
    empty = marker_texts(MonitorState())
    assert [m.key for m in empty] == list(KEYS)
    assert empty[0].text == 'caption: (none yet)' and 'no plan yet' in empty[1].text
    lines = {m.key: m for m in marker_texts(_state())}
    assert lines['caption'].text == 'caption: "a small red circle"'
    assert lines['bit_width'].text == 'bit-width b = 6'
    assert lines['profile'].text == ('profile continuous: f = 1.2 GHz, f~ = 4 GHz, T0 = 2.5 s, '
                                     'feasible')
    assert lines['latency'].text == 'latency p50 350.0 ms, p95 485.0 ms (n = 4)'
    assert lines['energy'].text == ('energy budget E0 = 0.5 J, E = 0.3 J/inference, predicted '
                                    '(plan), battery 42%')
    assert all(m.rgba == WHITE for m in lines.values())
    state = _state()
    state.on_profile(_profile(bits=1, feasible=False, joules=0.9), 6.0)
    state.on_deadline(0.2, 6.0)
    state.on_frame_bit_width(6, 6.0)
    lines = {m.key: m for m in marker_texts(state)}
    assert lines['profile'].rgba == RED and 'INFEASIBLE' in lines['profile'].text
    assert lines['latency'].rgba == YELLOW  # p95 over T0
    assert lines['energy'].rgba == YELLOW  # 0.9 J over E0 0.5 J
    assert lines['bit_width'].text == 'bit-width b = 6'
    state.on_bit_width(1, 6.0)
    assert marker_texts(state)[1].text == 'bit-width b = 1 (last frame encoded at 6)'


def test_annotate_keeps_every_pixel_and_draws_the_text_below():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (48, 64, 3), np.uint8)
    out = annotate(frame, ['a small red circle', 'b = 6  f = 1.2 GHz'], min_width=480)
    k = 8  # smallest integer with 64 k >= 480
    assert out.dtype == np.uint8 and out.shape[1] == 64 * k and out.shape[0] > 48 * k
    assert np.array_equal(out[:48 * k:k, ::k], frame)  # enlarged, exact
    panel = out[48 * k:]
    assert (panel > 100).any() and (panel == 32).mean() > 0.5  # text on the dark panel
    other = annotate(frame, ['another caption', 'b = 6  f = 1.2 GHz'], min_width=480)
    assert not np.array_equal(other[48 * k:], panel)
    assert annotate(frame, ['x'], min_width=32).shape[1] == 64  # wide enough: not enlarged


def test_annotate_wraps_long_text_and_validates_input():
    lines = wrap('word ' * 60, 200, 0.5)
    assert len(lines) > 3 and all(len(line) < 40 for line in lines)
    assert wrap('x' * 300, 100, 0.5)[0] and len(wrap('x' * 300, 100, 0.5)) > 2
    assert wrap('caf\u00e9', 500, 0.5) == ['caf?']
    one = annotate(np.zeros((10, 10, 3), np.uint8), ['short'], min_width=100)
    many = annotate(np.zeros((10, 10, 3), np.uint8), ['word ' * 60], min_width=100)
    assert many.shape[0] > one.shape[0]
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32),
                np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ValueError, match='uint8 image'):
            annotate(bad, ['x'])
    with pytest.raises(ValueError, match='min_width'):
        annotate(np.zeros((4, 4, 3), np.uint8), ['x'], min_width=0)


def test_budget_and_energy_are_this_namespaces_never_another_robots():
    """Two robots' planners on one /diagnostics: each monitor shows its own; none, neither."""
    statuses = [('/robot1/planner_node: planner', {'E0_J': '0.5'}),
                ('/robot2/planner_node: planner', {'E0_J': '9.0'}),
                ('/robot1/frequency_actuator_node: frequency actuator',
                 {'energy_per_inference_J': '0.25', 'energy_source': 'measured (rapl)'}),
                ('/robot2/frequency_actuator_node: frequency actuator',
                 {'energy_per_inference_J': '7.0', 'energy_source': 'robot2'})]
    states = {ns: MonitorState(namespace=ns) for ns in ('/robot1', 'robot2', '/', None)}
    for state in states.values():
        for name, values in statuses:
            state.on_status(name, 0, 'ok', values, 0.0)
    assert states['/robot1'].energy_budget == 0.5
    assert states['/robot1'].energy_per_inference == (0.25, 'measured (rapl)')
    assert states['robot2'].energy_budget == 9.0
    assert states['robot2'].energy_per_inference == (7.0, 'robot2')
    for ns in ('/', None):  # the root graph has no planner; every namespace has two
        assert states[ns].energy_budget is None and states[ns].energy_per_inference is None
        assert len(states[ns].statuses) == 4  # all still listed, by their full names
    # a bag recorded before the fleet-readable names: its planner counts in any namespace
    old = MonitorState(namespace='/robot1')
    old.on_status('qcoinf: planner', 0, 'plan feasible', {'E0_J': '0.7'}, 0.0)
    assert old.energy_budget == 0.7
    with pytest.raises(ValueError, match="'a: b'"):
        MonitorState(namespace='a: b')


def test_dashboard_renders_rates_latency_plan_captions_and_statuses():
    state = _state()
    state.tick('qcoinf/caption', 5.0)
    state.on_caption('caption with [brackets]', 5.5)
    console = Console(width=120, record=True, force_terminal=False)
    console.print(render_dashboard(state, ['qcoinf/caption', 'camera/image_raw'], 6.0))
    text = console.export_text()
    for needle in ('qcoinf/caption', 'camera/image_raw', 'end to end', '350.0',
                   'bit-width b = 6', 'a small red circle', 'caption with [brackets]',
                   'qcoinf: planner', 'plan feasible', 'battery 42%'):
        assert needle in text, needle


def test_rviz_config_is_rviz2_yaml_with_markers_and_annotated_image():
    config = yaml.safe_load((ROOT / 'rviz' / 'qcoinf.rviz').read_text())
    manager = config['Visualization Manager']
    displays = {d['Class']: d for d in manager['Displays']}
    markers = displays['rviz_default_plugins/MarkerArray']
    # relative names: they follow RViz's namespace (rviz2 ... --ros-args -r __ns:=/robot1)
    assert markers['Topic']['Value'] == 'qcoinf/markers' and markers['Enabled']
    assert markers['Namespaces'] == {'qcoinf': True}
    image = displays['rviz_default_plugins/Image']
    assert image['Topic']['Value'] == 'qcoinf/annotated_image'
    assert image['Topic']['Reliability Policy'] == 'Best Effort'  # the image is sensor data
    assert manager['Global Options']['Fixed Frame'] == 'base_link'
    assert {p['Class'] for p in config['Panels']} == {
        'rviz_common/Displays', 'rviz_common/Views', 'rviz_common/Time'}
    assert not any('diagnostic' in str(d).lower() for d in manager['Displays'])


def test_pure_modules_import_no_rclpy():
    import subprocess
    import sys

    code = ('import sys, qcoinf_ros.core.bags, qcoinf_ros.core.bags.report, '
            'qcoinf_ros.core.bags.sample, qcoinf_ros.core.monitor, '
            'qcoinf_ros.core.monitor.dashboard; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("rclpy", "std_msgs", "sensor_msgs", "torch")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == '[]', out.stdout + out.stderr


@pytest.mark.parametrize('latencies', [
    (-1.0, 0.01, 0.05), (1e308, 0.01, 0.05), (0.5, -1e-9, 0.05), (0.5, 0.01, 3600.001),
    (float('nan'), 0.0, 0.0), (float('-inf'), 0.0, 0.0), ('0.5', None, 0.0)])
def test_latencies_outside_zero_to_an_hour_are_rejected_with_the_reason(latencies):
    """Issue 29: -1 s and 1e308 s were taken as latencies (and swamped the percentiles)."""
    from qcoinf_ros.core.monitor.state import MAX_LATENCY_S
    state = _state()
    before = list(state.latency)
    state.on_latency(*latencies, 6.0)
    assert state.rejected == 1 and list(state.latency) == before
    assert f'in [0, {MAX_LATENCY_S:g}]' in state.last_rejection
    assert repr(latencies[0]) in state.last_rejection


def test_latencies_at_the_bounds_are_taken():
    from qcoinf_ros.core.monitor.state import MAX_LATENCY_S
    state = MonitorState(latency_window=4)
    state.on_latency(0.0, 0.0, 0.0, 0.0)
    state.on_latency(MAX_LATENCY_S, MAX_LATENCY_S, MAX_LATENCY_S, 1.0)
    assert state.rejected == 0 and state.latency_stats().max == MAX_LATENCY_S
