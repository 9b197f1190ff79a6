"""Every node, once up, exits with code 0 on SIGINT (Ctrl-C, what `ros2 launch` sends first)."""

import signal

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

MODEL = ['-p', 'model:=tiny', '-p', 'calibrate:=never', '-p', 'threads:=1']
NODES = {
    'agent_encoder_node': MODEL, 'edge_decoder_node': MODEL, 'planner_node': [],
    'monitor_node': [], 'frequency_actuator_node': [], 'scenario_node': [],
    'camera_node': ['-p', 'source:=scenes', '-p', 'scene_count:=2'],
    'foxglove_node': ['-p', 'port:=0'],
}


def test_every_node_executable_is_here():
    from qcoinf_ros.ros.entry import NODE_EXECUTABLES
    assert sorted(NODES) == sorted(NODE_EXECUTABLES)


def test_every_node_exits_cleanly_on_sigint(start_node, rclpy_node, spin_until):
    procs = {name: start_node(name, args) for name, args in NODES.items()}
    try:
        def up():
            return set(NODES) <= set(rclpy_node.get_node_names())
        assert spin_until(up, timeout=90), {n: p.output for n, p in procs.items()}
        for proc in procs.values():
            proc.send(signal.SIGINT)
        codes = {name: proc.wait(30) for name, proc in procs.items()}
        assert codes == dict.fromkeys(NODES, 0), {
            n: (codes[n], p.output[-2000:]) for n, p in procs.items() if codes[n] != 0}
        for name, proc in procs.items():
            assert 'Traceback' not in proc.output, (name, proc.output)
    finally:
        for proc in procs.values():
            proc.stop()
