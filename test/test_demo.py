"""`qcoinf demo` end to end, on a shortened scenario: the graph runs and the report is written."""

import pytest
import yaml

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def test_demo_runs_the_graph_and_reports_predicted_against_measured(tmp_path, ros_env):
    from qcoinf_ros.cli.demo import main
    from qcoinf_ros.resources import share_file

    params = yaml.safe_load(share_file('config/demo.yaml').read_text())
    scenario = params['/**/scenario_node']['ros__parameters']
    scenario.update(duration=12.0, deadline_times=[0.0, 4.0, 8.0], drain_per_second=0.06)
    short = tmp_path / 'demo.yaml'
    short.write_text(yaml.safe_dump(params))
    out = tmp_path / 'report'
    assert main(['--params-file', str(short), '--out', str(out), '--timeout', '150']) == 0
    report = (out / 'report.md').read_text()
    assert (out / 'report.png').stat().st_size > 10000
    assert "agent's measured cost: t(b) =" in report  # the planner had the agent's cost
    assert '## Plans: predicted agent delay vs measured encode time' in report
    rows = [line for line in report.splitlines() if line.startswith('| ') and
            line[2].isdigit()]
    assert rows and all(len(r.split('|')) == 10 for r in rows)
    measured = [r for r in rows if r.split('|')[6].strip() != '0']
    assert measured, report  # frames were encoded while plans were in force


def test_plan_checks_pair_each_plan_with_the_encodes_at_its_bit_width():
    from qcoinf_ros.cli.demo import plan_checks
    from qcoinf_ros.codec.plan import ProfileMessage

    def plan(b, agent):
        return ProfileMessage('continuous', 1e9, 1e9, b, True, None, 0.1, 0.1, agent)

    profiles = [(0.0, plan(8, 0.010)), (1.0, plan(8, 0.010)), (5.0, plan(4, 0.006))]
    encodes = [(0.5, 8, 0.011), (2.0, 8, 0.013), (5.1, 8, 0.050), (5.5, 4, 0.0065),
               (6.0, 4, 0.0070)]
    checks = plan_checks(profiles, encodes, end=9.0)
    assert [(c.start, c.end, c.bit_width, c.frames) for c in checks] == [
        (0.0, 5.0, 8, 2), (5.0, 9.0, 4, 2)]  # the repeated plan merged; b=8 after 5 s ignored
    assert checks[0].measured_s == pytest.approx(0.012) and checks[0].within()
    assert checks[1].ratio == pytest.approx(0.006 / 0.00675) and checks[1].within()
    late = plan_checks([(0.0, plan(8, 0.020))], encodes[:2], end=3.0)[0]
    assert not late.within() and late.ratio > 1.25
