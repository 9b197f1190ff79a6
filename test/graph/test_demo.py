"""`qcoinf demo` end to end on a shortened derived scenario, and its report (pure parts)."""

import pytest
import yaml

from qcoinf_ros.core.codec.plan import ProfileMessage
from qcoinf_ros.core.monitor.demo_report import bit_summaries, DemoRecord, Frame, plan_checks, \
    write_report


def _plan(b, agent, feasible=True):
    return ProfileMessage('continuous', 1e9, 1e9, b, feasible, None, 0.1, 0.2, agent)


def _frame(t, b, encode, e2e=0.05, t0=0.1, caption='a red circle', refs=('a red circle',)):
    return Frame(t, b, encode, e2e, t0, caption, list(refs))


@pytest.mark.ros
def test_demo_runs_the_graph_and_reports_predicted_against_measured(tmp_path, ros_env):
    pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')
    from qcoinf_ros.core.resources import share_file
    from qcoinf_ros.tools.cli.demo import main

    params = yaml.safe_load(share_file('config/demo.yaml').read_text())
    scenario = params['/scenario_node']['ros__parameters']
    scenario.update(duration=16.0, drain_per_second=0.05)
    params['/camera_node']['ros__parameters']['rate_hz'] = 4.0
    short = tmp_path / 'demo.yaml'
    short.write_text(yaml.safe_dump(params))
    out = tmp_path / 'report'
    assert main(['--params-file', str(short), '--out', str(out), '--timeout', '150']) == 0
    report = (out / 'report.md').read_text()
    assert (out / 'report.png').stat().st_size > 10000
    assert "agent's measured cost: t(b) =" in report  # the planner had the agent's cost
    assert '## Scenario (derived from the measured cost)' in report
    assert 'quality floor: b >= ' in report and 'no plan went below the quality floor' in report
    rows = [line for line in report.splitlines() if line.startswith('| ') and
            line[2].isdigit()]
    plans = [r for r in rows if len(r.split('|')) == 11]
    assert plans and any(r.split('|')[6].strip() != '0' for r in plans), report
    used = {int(r.split('|')[3]) for r in plans}
    assert len(used) >= 3, report  # B_max, the deadline phases' b and the energy phase's


@pytest.mark.ros
def test_the_demo_runs_the_coinference_launch_file_with_the_file_arguments(tmp_path):
    pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')
    from qcoinf_ros.core.resources import share_file
    from qcoinf_ros.tools.cli.demo import demo_launch

    params = yaml.safe_load(share_file('config/demo.yaml').read_text())
    params['/camera_node']['ros__parameters'].update(source='folder', path=str(tmp_path))
    edited = tmp_path / 'demo.yaml'
    edited.write_text(yaml.safe_dump(params))
    nodes = {spec.name: spec for spec in demo_launch(str(edited), 'tiny').nodes}
    assert set(nodes) == {'edge_decoder_node', 'agent_encoder_node', 'planner_node',
                          'frequency_actuator_node', 'camera_node', 'scenario_node'}
    assert nodes['agent_encoder_node'].params['model'] == 'tiny'
    assert nodes['edge_decoder_node'].params['model'] == 'tiny'
    # the launch file's <param> would override the file: it gets the file's values instead
    assert nodes['camera_node'].params['source'] == 'folder'
    assert nodes['camera_node'].params['path'] == str(tmp_path)
    assert nodes['frequency_actuator_node'].params['backend'] == 'dry_run'
    assert all(str(edited) in spec.params_files for spec in nodes.values())


def test_plan_checks_pair_each_plan_with_the_frames_at_its_bit_width():
    profiles = [(0.0, _plan(8, 0.010)), (1.0, _plan(8, 0.010)), (5.0, _plan(4, 0.006))]
    frames = [_frame(0.5, 8, 0.011), _frame(2.0, 8, 0.013, e2e=0.2), _frame(5.1, 8, 0.050),
              _frame(5.5, 4, 0.0065), _frame(6.0, 4, 0.0070)]
    checks = plan_checks(profiles, frames, end=9.0)
    assert [(c.start, c.end, c.bit_width, c.frames, c.met) for c in checks] == [
        (0.0, 5.0, 8, 2, 1), (5.0, 9.0, 4, 2, 2)]  # repeated plan merged; b=8 after 5 s: none
    assert checks[0].measured_s == pytest.approx(0.012) and checks[0].within(0.25)
    assert not checks[0].within()  # 20 % off: outside the default 15 %
    assert checks[1].ratio == pytest.approx(0.006 / 0.00675) and checks[1].within()
    late = plan_checks([(0.0, _plan(8, 0.020))], frames[:2], end=3.0)[0]
    assert not late.within() and late.ratio > 1.25
    assert plan_checks([(0.0, _plan(2, 0.01))], frames, end=9.0)[0].frames == 0


def test_frames_meet_the_deadline_in_force_and_group_by_bit_width():
    assert _frame(1.0, 8, 0.01, e2e=0.1, t0=0.1).met
    assert not _frame(1.0, 8, 0.01, e2e=0.11, t0=0.1).met
    assert not _frame(1.0, 8, 0.01, t0=None).met
    record = DemoRecord(deadline=[(0.0, 0.5), (4.0, 0.2)])
    assert record.deadline_at(-1.0) is None and record.deadline_at(3.9) == 0.5
    assert record.deadline_at(4.0) == 0.2
    from qcoinf_ros.core.scenes.generator import make_scene
    scenes = [make_scene('test', i) for i in range(6)]
    frames = [_frame(i, 8, 0.02, caption=s.captions[0], refs=s.captions)
              for i, s in enumerate(scenes[:3])] + [
        _frame(3, 2, 0.01, caption=scenes[4].captions[0], refs=scenes[3].captions),
        _frame(4, 2, 0.012, caption=scenes[4].captions[1], refs=scenes[4].captions),
        _frame(5, 2, 0.011, caption='?', refs=())]
    summaries = bit_summaries(frames)
    assert [(s.bit_width, s.frames) for s in summaries] == [(8, 3), (2, 3)]
    assert summaries[0].exact_match == 1.0 and summaries[1].exact_match == 0.5
    assert summaries[0].cider > summaries[1].cider > 0
    assert summaries[1].encode_median_s == pytest.approx(0.011)


def test_report_states_the_floor_and_the_plans_forced_below_it(tmp_path):
    record = DemoRecord(battery=[(0.0, 0.9), (10.0, 0.5)], deadline=[(0.0, 0.1), (5.0, 0.01)],
                        profiles=[(0.0, _plan(8, 0.02)), (5.0, _plan(1, 0.005, False))],
                        e0=[(0.0, 1.0)], end=10.0,
                        frames=[_frame(1.0, 8, 0.02), _frame(2.0, 8, 0.021),
                                _frame(6.0, 1, 0.005, e2e=0.03, t0=0.01)])
    lines = write_report(record, tmp_path, floor=3, floor_source='test', scenario=['phase'])
    text = (tmp_path / 'report.md').read_text()
    assert (tmp_path / 'report.png').stat().st_size > 10000
    assert 'quality floor: b >= 3 (test)' in lines
    forced = [line for line in lines if line.startswith('b = 1 below the floor')]
    assert forced and 'T0 = 10.0 ms' in forced[0] and 'infeasible' in forced[0]
    assert 'deadline met: 2 of 3 frames' in text and '## Scenario' in text
    assert '| 0.0 | 5.0 | 8 | 20.00 | 20.50 | 2 | 0.98 | yes | 2/2 |' in text
    assert '| 1 | 1 | 5.00 |' in text
    empty = write_report(DemoRecord(), tmp_path / 'empty')
    assert 'deadline met: no frame encoded under a plan' in empty


def test_report_counts_the_plans_held_at_the_floor_that_broke_a_budget(tmp_path):
    record = DemoRecord(battery=[(0.0, 0.9)], deadline=[(0.0, 0.1)], e0=[(0.0, 1.0)], end=6.0,
                        profiles=[(0.0, _plan(8, 0.02)), (2.0, _plan(3, 0.01)),
                                  (4.0, _plan(3, 0.01, False))],
                        frames=[_frame(1.0, 8, 0.02), _frame(3.0, 3, 0.01),
                                _frame(5.0, 3, 0.01)])
    lines = write_report(record, tmp_path, floor=3, floor_source='test')
    assert 'no plan went below the quality floor b = 3' in lines
    held = [line for line in lines if line.startswith('1 plan(s) at the floor b = 3 broke')]
    assert held and 'infeasible' in held[0]
    feasible = write_report(DemoRecord(profiles=record.profiles[:2], frames=record.frames[:2],
                                       end=4.0), tmp_path / 'ok', floor=3)
    assert not any('broke a budget' in line for line in feasible)
