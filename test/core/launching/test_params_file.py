"""Reading a node's parameters from a ROS 2 parameters file, with rcl's name patterns."""

from pathlib import Path

import pytest

from qcoinf_ros.core.launching.params_file import matches, node_parameters

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[3]


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
    from qcoinf_ros.core.resources import share_file
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


def test_the_shipped_keys_read_as_rcl_reads_them():
    """
    The shipped files' keys (docs/parameters.md, "Parameter files"), read as rcl reads them.

    ``config/qcoinf.yaml`` and ``config/demo.yaml``: ``/<node>``, the root namespace only;
    ``config/fleet.yaml``: ``/**/<node>``, any namespace, the root one too.
    """
    import yaml

    assert matches('/scenario_node', 'scenario_node')
    assert matches('/scenario_node', 'scenario_node', '/')
    assert not matches('/scenario_node', 'scenario_node', '/robot1')
    assert not matches('/scenario_node', 'planner_node')
    for namespace in ('/', '/robot1', 'robot2', '/fleet/robot1'):
        assert matches('/**/camera_node', 'camera_node', namespace)
    for name in ('qcoinf.yaml', 'demo.yaml'):
        path = ROOT / 'config' / name
        for key, entry in yaml.safe_load(path.read_text()).items():
            node, values = key[1:], entry['ros__parameters']
            assert node_parameters(path, node) == values, (name, node)
            assert node_parameters(path, node, '/robot1') == {}, (name, node)
            if name == 'qcoinf.yaml':
                for namespace in ('/', '/robot1', '/a/b'):
                    assert node_parameters(ROOT / 'config' / 'fleet.yaml', node,
                                           namespace) == values, (node, namespace)
    assert node_parameters(ROOT / 'config' / 'qcoinf.yaml', 'scenario_node') == {}


@pytest.mark.ros
def test_rclpy_reads_exact_names_and_not_any_namespace_keys(tmp_path):
    """
    What the installed rclpy's ``parameter_dict_from_yaml_file`` takes for a target node.

    The node's absolute name (the shipped root-graph files' keys) and, with wildcards on,
    ``/**``; never ``/**/camera_node`` (fleet.yaml's keys, which rcl reads for
    ``--params-file`` and launch files): Jazzy and Kilted both raise a ``RuntimeError``.
    """
    parameter = pytest.importorskip('rclpy.parameter', reason='rclpy missing')
    shipped = ROOT / 'config' / 'qcoinf.yaml'
    got = parameter.parameter_dict_from_yaml_file(str(shipped), False, ['/camera_node'])
    assert {name: parameter.parameter_value_to_python(p.value) for name, p in got.items()} \
        == node_parameters(shipped, 'camera_node')
    with pytest.raises(RuntimeError):
        parameter.parameter_dict_from_yaml_file(str(ROOT / 'config' / 'fleet.yaml'), True,
                                                ['/camera_node'])
    exact = tmp_path / 'exact.yaml'
    exact.write_text('/robot1/camera_node:\n  ros__parameters: {rate_hz: 4.0}\n'
                     '/**:\n  ros__parameters: {use_sim_time: false}\n')
    got = parameter.parameter_dict_from_yaml_file(str(exact), True, ['/robot1/camera_node'])
    assert set(got) == {'rate_hz', 'use_sim_time'}
