"""The nodes' entry points: the environment a node's process starts with (``PROCESS_ENV``)."""

import pytest

from qcoinf_ros.ros.entry import apply_process_env, NODE_EXECUTABLES, PROCESS_ENV

pytestmark = pytest.mark.check


def test_the_agent_sleeps_torchs_openmp_workers_unless_the_user_said_otherwise():
    environ = {'PATH': '/usr/bin'}
    assert apply_process_env('agent_encoder_node', environ) == {'OMP_WAIT_POLICY': 'PASSIVE'}
    assert environ == {'PATH': '/usr/bin', 'OMP_WAIT_POLICY': 'PASSIVE'}
    mine = {'OMP_WAIT_POLICY': 'ACTIVE'}
    assert apply_process_env('agent_encoder_node', mine) == {} and mine == {
        'OMP_WAIT_POLICY': 'ACTIVE'}


def test_other_nodes_keep_torchs_default():
    # the decoder is torch through and through: spinning workers serve it
    for executable in set(NODE_EXECUTABLES) - set(PROCESS_ENV):
        environ = {}
        assert apply_process_env(executable, environ) == {} and environ == {}
    assert set(PROCESS_ENV) <= set(NODE_EXECUTABLES)
