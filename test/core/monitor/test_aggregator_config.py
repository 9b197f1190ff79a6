"""
``config/diagnostic_aggregator.yaml`` groups every robot's statuses by task, one group each.

No aggregator runs here: the file is read as ``aggregator_node`` reads its parameters, and the
GenericAnalyzer rules are applied as ros/diagnostics (jazzy) defines them:

- the node is ``analyzers`` (``aggregator.cpp``: ``rclcpp::Node("analyzers", ...)``), its
  ``path`` the base path and ``pub_rate`` the rate; every other parameter namespace with a
  ``type`` and a ``path`` is an analyzer (``analyzer_group.cpp``);
- ``GenericAnalyzer::match`` (``generic_analyzer.cpp``): true when a ``regex`` matches the
  whole name (``std::regex_match``), the name equals one of ``expected``, it starts with one of
  ``startswith`` (``name.find(s) == 0``; ``find_and_remove_prefix`` adds to these) or contains
  one of ``contains`` (``name.find(s) != npos``). ``name`` is not read by that version; an
  analyzer with none of these fails to initialize. A status matched by several analyzers is
  reported by each, so "exactly one group" is checked here.
"""

from pathlib import Path
import re

import pytest
import yaml

from qcoinf_ros.core.status_names import (
    AGENT_ENCODER, EDGE_DECODER, FREQUENCY_ACTUATOR, MONITOR, PLANNER, status_name)

CONFIG = Path(__file__).resolve().parents[3] / 'config' / 'diagnostic_aggregator.yaml'
#: The nodes that publish a status and their tasks (qcoinf_ros/ros/nodes).
NODES = {'agent_encoder_node': AGENT_ENCODER, 'edge_decoder_node': EDGE_DECODER,
         'planner_node': PLANNER, 'frequency_actuator_node': FREQUENCY_ACTUATOR,
         'monitor_node': MONITOR}
#: The group (analyzer path) each task must land in.
GROUPS = {AGENT_ENCODER: 'Agent encoders', EDGE_DECODER: 'Edge decoders', PLANNER: 'Planners',
          FREQUENCY_ACTUATOR: 'Frequency actuators', MONITOR: 'Monitors'}
CRITERIA = ('regex', 'expected', 'startswith', 'contains', 'find_and_remove_prefix')


class GenericAnalyzer:
    """The matching of diagnostic_aggregator's GenericAnalyzer, from its parameters."""

    def __init__(self, params: dict):
        assert params['type'] == 'diagnostic_aggregator/GenericAnalyzer', params
        for key in CRITERIA:
            values = params.get(key, [])
            # as_string_array(): a list of strings (a scalar would throw in the aggregator)
            assert isinstance(values, list) and all(isinstance(v, str) for v in values), key
        assert any(params.get(k) for k in CRITERIA), 'no way of checking diagnostics'
        for pattern in params.get('regex', []):
            # std::regex (ECMAScript) and Python re agree on this subset: literals and .*
            assert re.fullmatch(r'(\.\*)?[A-Za-z0-9 :_/-]*', pattern), pattern
        self.path = params['path']
        self.regex = [re.compile(p) for p in params.get('regex', [])]
        self.expected = params.get('expected', [])
        self.startswith = params.get('startswith', []) + params.get('find_and_remove_prefix', [])
        self.contains = params.get('contains', [])
        timeout = params.get('timeout', 5.0)
        assert isinstance(timeout, float) and timeout > 0, timeout  # as_double()

    def match(self, name: str) -> bool:
        return (any(r.fullmatch(name) for r in self.regex) or name in self.expected or
                any(name.startswith(s) for s in self.startswith) or
                any(s in name for s in self.contains))


@pytest.fixture(scope='module')
def analyzers():
    node = yaml.safe_load(CONFIG.read_text())
    assert list(node) == ['analyzers'], 'the aggregator node is named analyzers'
    params = node['analyzers']['ros__parameters']
    assert isinstance(params['path'], str) and params['path']
    assert isinstance(params['pub_rate'], float) and params['pub_rate'] > 0
    out = [GenericAnalyzer(v) for k, v in params.items() if isinstance(v, dict)]
    assert len(out) == len(params) - 2  # nothing else at the top but path and pub_rate
    return out


def _groups(analyzers, name):
    return [a.path for a in analyzers if a.match(name)]


@pytest.mark.parametrize('namespace', ['/robot1', '/robot2', '', '/fleet/robot3'])
@pytest.mark.parametrize('node', sorted(NODES))
def test_each_robots_status_falls_in_exactly_its_tasks_group(analyzers, namespace, node):
    name = status_name(f'{namespace}/{node}', NODES[node])
    assert _groups(analyzers, name) == [GROUPS[NODES[node]]], name


@pytest.mark.parametrize('task', sorted(GROUPS))
def test_the_legacy_names_of_old_bags_fall_in_the_same_groups(analyzers, task):
    assert _groups(analyzers, f'qcoinf: {task}') == [GROUPS[task]]


def test_two_robots_give_two_items_of_one_group(analyzers):
    names = {status_name(f'/robot{k}/planner_node', PLANNER) for k in (1, 2)}
    assert len(names) == 2 and all(_groups(analyzers, n) == ['Planners'] for n in names)


@pytest.mark.parametrize('name', ['toplevel_state', '/robot1/camera_node: camera',
                                  '/robot1/planner_node: planners',
                                  '/robot1/monitor_node: monitor rate',
                                  '/robot1/planner_node planner', 'planner'])
def test_other_statuses_are_left_to_the_other_group(analyzers, name):
    assert _groups(analyzers, name) == []


def test_every_task_has_a_group_and_the_file_is_installed(analyzers):
    assert sorted(a.path for a in analyzers) == sorted(GROUPS.values())
    setup = (CONFIG.parents[1] / 'setup.py').read_text()
    assert "_files('config/*')" in setup  # installed to share/qcoinf_ros/config
