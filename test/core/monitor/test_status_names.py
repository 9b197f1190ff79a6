"""
The ``/diagnostics`` status names: the fleet-readable rule and matching old and new names.

The rule pinned here is diagnostic_updater's with ``diagnostic_updater.use_fqn: true`` (ros/
diagnostics, ``diagnostic_updater.hpp``): ``node_name_ = get_fully_qualified_name()`` and each
status is published as ``node_name_ + ": " + name``, leading slash kept. (Its Python updater
joins ``get_namespace()`` and ``get_name()`` with ``/`` instead, which gives ``//node`` at the
root; the C++ form is the one followed.)
"""

import socket

import pytest

from qcoinf_ros.core.status_names import (
    AGENT_ENCODER, EDGE_DECODER, find_status, FREQUENCY_ACTUATOR, in_namespace, MONITOR,
    normalize_namespace, PLANNER, resolve_hardware_id, status_name, status_namespace,
    status_node, status_task, TASKS)


def test_the_name_is_the_fully_qualified_node_name_then_the_task():
    assert status_name('/robot1/agent_encoder_node', AGENT_ENCODER) == \
        '/robot1/agent_encoder_node: agent encoder'
    assert status_name('/planner_node', PLANNER) == '/planner_node: planner'
    assert status_name('/a/b/monitor_node', MONITOR) == '/a/b/monitor_node: monitor'
    # two robots, one node name: two names
    assert status_name('/robot1/planner_node', PLANNER) != \
        status_name('/robot2/planner_node', PLANNER)
    assert TASKS == ('agent encoder', 'edge decoder', 'planner', 'frequency actuator', 'monitor')


@pytest.mark.parametrize('node', ['planner_node', 'robot1/planner_node', '/', '',
                                  '/robot1/', '//planner_node', '/a: b', '/a b', None])
def test_a_name_that_is_not_fully_qualified_is_refused_naming_it(node):
    with pytest.raises(ValueError, match='node_name must be a fully qualified') as err:
        status_name(node, PLANNER)
    assert repr(node) in str(err.value)


@pytest.mark.parametrize('task', ['', ' planner', 'a: b', 3])
def test_a_bad_task_is_refused_naming_it(task):
    with pytest.raises(ValueError, match='task must be') as err:
        status_name('/planner_node', task)
    assert repr(task) in str(err.value)


@pytest.mark.parametrize('name, task, node, namespace', [
    ('/robot1/planner_node: planner', PLANNER, '/robot1/planner_node', '/robot1'),
    ('/planner_node: planner', PLANNER, '/planner_node', '/'),
    ('/fleet/robot2/edge_decoder_node: edge decoder', EDGE_DECODER,
     '/fleet/robot2/edge_decoder_node', '/fleet/robot2'),
    # the names every status had before (old bags)
    ('qcoinf: planner', PLANNER, None, None),
    ('qcoinf: frequency actuator', FREQUENCY_ACTUATOR, None, None),
    ('qcoinf: agent encoder', AGENT_ENCODER, None, None),
    # diagnostic_updater without use_fqn: a bare node name, no namespace
    ('planner_node: planner', PLANNER, None, None),
    # not of this package's form: no task
    ('toplevel_state', '', None, None),
    ('', '', None, None),
])
def test_task_node_and_namespace_of_new_and_old_names(name, task, node, namespace):
    assert status_task(name) == task
    assert status_node(name) == node
    assert status_namespace(name) == namespace


def test_the_task_is_the_whole_suffix_after_the_first_separator():
    assert status_task('/r/n: frequency actuator') == FREQUENCY_ACTUATOR
    assert status_task('/r/n: planner: extra') == 'planner: extra' != PLANNER
    assert status_task('/r/n: planners') != PLANNER
    with pytest.raises(ValueError, match='got 5'):
        status_task(5)


def test_namespaces_and_legacy_names():
    assert normalize_namespace('') == normalize_namespace('/') == '/'
    assert normalize_namespace('robot1/') == normalize_namespace('/robot1') == '/robot1'
    with pytest.raises(ValueError, match="'a: b'"):
        normalize_namespace('a: b')
    assert in_namespace('/robot1/planner_node: planner', 'robot1')
    assert not in_namespace('/robot1/planner_node: planner', '/robot2')
    assert not in_namespace('/robot1/planner_node: planner', '/')
    assert not in_namespace('/planner_node: planner', '/robot1')
    assert in_namespace('/planner_node: planner', '')
    assert in_namespace('qcoinf: planner', '/robot1') and in_namespace('qcoinf: planner', '/')
    assert in_namespace('/robot1/planner_node: planner', None)


def test_find_status_takes_the_namespaces_one_and_never_picks_among_two():
    statuses = {'/robot1/planner_node: planner': 1, '/robot2/planner_node: planner': 2,
                '/robot1/monitor_node: monitor': 3}
    assert find_status(statuses, PLANNER, '/robot1') == ('/robot1/planner_node: planner', 1)
    assert find_status(statuses, PLANNER, 'robot2') == ('/robot2/planner_node: planner', 2)
    assert find_status(statuses, PLANNER) is None  # two robots' planners: neither
    assert find_status(statuses, PLANNER, '/robot3') is None
    assert find_status(statuses, MONITOR) == ('/robot1/monitor_node: monitor', 3)
    assert find_status({'qcoinf: planner': 4}, PLANNER, '/robot1') == ('qcoinf: planner', 4)
    assert find_status({'qcoinf: planner': 4}, PLANNER) == ('qcoinf: planner', 4)


def test_the_default_hardware_id_is_the_host_name():
    assert resolve_hardware_id('') == socket.gethostname()
    assert resolve_hardware_id('jetson-7') == 'jetson-7'
    with pytest.raises(ValueError, match='got 7'):
        resolve_hardware_id(7)
