"""Reading a node's parameters from a ROS 2 parameters file, with rcl's name patterns."""

from pathlib import Path

import pytest

from qcoinf_ros.launching.params_file import matches, node_parameters

ROOT = Path(__file__).resolve().parents[2]


def test_name_patterns_as_rcl_reads_them():
    assert matches('/**', 'planner_node') and matches('/**', 'planner_node', '/robot1')
    assert matches('/**/planner_node', 'planner_node')
    assert matches('/**/planner_node', 'planner_node', '/a/b')
    assert matches('planner_node', 'planner_node') and matches('/planner_node', 'planner_node')
    assert not matches('planner_node', 'planner_node', '/robot1')
    assert matches('/robot1/planner_node', 'planner_node', 'robot1')
    assert matches('/*/planner_node', 'planner_node', '/robot1')
    assert not matches('/*/planner_node', 'planner_node', '/a/b')
    assert matches('/robot1/*', 'camera_node', '/robot1')
    assert not matches('/**/planner_node', 'planner_node_2')
    assert not matches('/**/scenario_node', 'planner_node')


def test_matching_entries_merge_in_file_order_and_nest_with_dots(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text(
        '/**:\n  ros__parameters:\n    use_sim_time: false\n    b_max: 4\n'
        '/**/planner_node:\n  ros__parameters:\n    b_max: 8\n    link: {rate: 1.0e9}\n'
        'camera_node:\n  ros__parameters:\n    rate_hz: 2.0\n')
    assert node_parameters(path, 'planner_node') == {'use_sim_time': False, 'b_max': 8,
                                                     'link.rate': 1e9}
    assert node_parameters(path, 'camera_node') == {'use_sim_time': False, 'b_max': 4,
                                                    'rate_hz': 2.0}
    assert node_parameters(path, 'camera_node', '/robot1') == {'use_sim_time': False,
                                                               'b_max': 4}


def test_the_shipped_demo_file_reads(tmp_path):
    from qcoinf_ros.resources import share_file
    values = node_parameters(share_file('config/demo.yaml'), 'scenario_node')
    assert values['duration'] > 0 and values['wait_for_subscribers'] == 2


def test_bad_files_raise_value_errors(tmp_path):
    with pytest.raises(ValueError, match='cannot read'):
        node_parameters(tmp_path / 'missing.yaml', 'n')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('- a list\n')
    with pytest.raises(ValueError, match='not a parameters file'):
        node_parameters(bad, 'n')
    bad.write_text('n:\n  parameters: {}\n')
    with pytest.raises(ValueError, match="entry 'n' has no ros__parameters"):
        node_parameters(bad, 'n')
    bad.write_text('n: [unclosed\n')
    with pytest.raises(ValueError, match='cannot read'):
        node_parameters(bad, 'n')


def test_numbers_read_as_rcl_reads_them(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('n:\n  ros__parameters:\n    a: 1.0e9\n    b: 1e-3\n    c: 5\n    d: "2e3"\n'
                    '    e: [0.0, 1.5e1]\n    f: 2.5\n')
    assert node_parameters(path, 'n') == {'a': 1e9, 'b': 1e-3, 'c': 5, 'd': '2e3',
                                          'e': [0.0, 15.0], 'f': 2.5}


@pytest.mark.ros
def test_ros2_param_load_reads_slash_star_star_and_exact_names_only(tmp_path):
    """
    What ``ros2 param load`` accepts, from the rclpy it uses (README, "Parameter files").

    ``rclpy.parameter.parameter_dict_from_yaml_file`` matches ``/**`` (with wildcards on, the
    ``ros2 param load`` default) and a node's exact name; the ``/**/camera_node`` keys of the
    shipped config (fine for ``--params-file`` and launch, which rcl reads) are not matched.
    """
    parameter = pytest.importorskip('rclpy.parameter', reason='rclpy missing')
    shipped = ROOT / 'config' / 'qcoinf.yaml'
    with pytest.raises(RuntimeError):
        parameter.parameter_dict_from_yaml_file(str(shipped), True, ['/camera_node'])
    exact = tmp_path / 'exact.yaml'
    exact.write_text('/robot1/camera_node:\n  ros__parameters: {rate_hz: 4.0}\n'
                     '/**:\n  ros__parameters: {use_sim_time: false}\n')
    got = parameter.parameter_dict_from_yaml_file(str(exact), True, ['/robot1/camera_node'])
    assert set(got) == {'rate_hz', 'use_sim_time'}
    assert node_parameters(shipped, 'camera_node', '/robot1')['rate_hz'] == 2.0
