"""
The agent encoder's kernels and measured cost, and the decoder's, through real node processes.

The agent runs an embedded captioner on ``kernel`` (lut by default where the library is built),
measures its encode time per bit-width at configure and publishes it latched on
``qcoinf/agent_cost``; the decoder publishes its caption time on ``qcoinf/server_cost``. The
default captioner (its agent stored as 8-bit codes, run as stored) is the product path; the
kernel choices, which do not depend on the model, run the tiny one.
"""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


@pytest.fixture
def costs(rclpy_node):
    from qcoinf_ros.ros.messages import AgentCost, cost_from_msg
    from qcoinf_ros.ros.qos import LATCHED

    got = {'agent': [], 'server': []}
    for part in got:
        rclpy_node.create_subscription(
            AgentCost, f'qcoinf/{part}_cost', lambda m, p=part: got[p].append(cost_from_msg(m)),
            LATCHED)
    return got


AGENT = ['-p', 'threads:=1', '-p', 'calibration_repeats:=2']
TINY = AGENT + ['-p', 'model:=tiny']


def test_agent_runs_the_lut_kernels_and_publishes_its_measured_cost(
        start_node, rclpy_node, spin_until, costs, tmp_path):
    from std_msgs.msg import UInt8

    from qcoinf_ros.core.lut.library import load_library
    from qcoinf_ros.core.models.embedded import DEFAULT_MODEL_ID
    from qcoinf_ros.ros.qos import LATCHED

    lib = load_library()
    assert lib is not None, 'the kernel library is not built'
    bits = rclpy_node.create_publisher(UInt8, 'qcoinf/bit_width', LATCHED)
    # a cache of its own: the session's is shared with the benchmarks' agents of this model
    args = AGENT + ['-p', f'cost_cache_dir:={tmp_path / "cost"}']
    with start_node('agent_encoder_node', args) as agent:
        assert spin_until(lambda: costs['agent'], timeout=90), agent.output
        cost = costs['agent'][-1]
        # auto: both exact kernels measured per b, each b routed to the faster
        assert cost.kernel == 'lut+qint8' and cost.isa == lib.variant_name
        assert cost.threads == 1 and cost.b_max == 8
        assert len(cost.seconds) == 8 and all(t > 0 for t in cost.seconds)
        assert len(cost.kernels) == 8 and set(cost.kernels) <= {'lut', 'qint8'}
        assert cost.model_id == DEFAULT_MODEL_ID and not cost.cached
        assert 'kernels: lut+qint8' in agent.output and 'encode cost (measured' in agent.output
        assert f'{cost.kernel_summary()})' in agent.output
        assert '26 weights run on the 8-bit codes the checkpoint stores' in agent.output
        bits.publish(UInt8(data=3))
        assert spin_until(lambda: 'bit-width -> 3 (switched in' in agent.output), agent.output
        switch_us = float(agent.output.split('bit-width -> 3 (switched in ')[1].split(' us')[0])
        assert switch_us < 1000.0  # one assignment; the benchmark prints the real figure
    # a restart reads the cache: same numbers, instantly
    costs['agent'].clear()
    with start_node('agent_encoder_node', args) as agent:
        assert spin_until(lambda: costs['agent'], timeout=90), agent.output
        assert costs['agent'][-1].cached and costs['agent'][-1].seconds == cost.seconds
        assert costs['agent'][-1].kernels == cost.kernels  # routed as measured, no sweep
        assert 'encode cost (cached' in agent.output


@pytest.mark.parametrize('extra, kernel, logged', [
    (['-p', 'kernel:=int8'], 'int8', 'kernels: int8'),
    (['-p', 'kernel:=qint8'], 'qint8', 'kernels: qint8'),
    (['-p', 'kernel:=reference'], 'reference', 'kernels: reference'),
    (['-p', 'scheme:=potlog'], 'reference', 'no linear bit-plane or integer form'),
])
def test_agent_kernel_choices_and_the_potlog_path(start_node, spin_until, costs, extra, kernel,
                                                  logged):

    with start_node('agent_encoder_node', TINY + extra) as agent:
        assert spin_until(lambda: costs['agent'], timeout=90), agent.output
        cost = costs['agent'][-1]
        assert cost.kernel == kernel and cost.kernels == (kernel,) * 8
        assert (cost.isa == 'torch') == (kernel != 'qint8')
        # the line was logged before the cost went out; its pipe can lag behind DDS
        assert spin_until(lambda: logged in agent.output, timeout=10), agent.output
        assert agent.returncode is None


def test_without_the_library_auto_runs_the_reference_path_and_says_why(
        ros_env, spin_until, start_node, costs, tmp_path):
    env = {**ros_env, 'QCOINF_LUT_LIBRARY': str(tmp_path / 'missing' / '_qlut.so')}
    with start_node('agent_encoder_node', TINY, env=env) as agent:
        assert spin_until(lambda: costs['agent'], timeout=90), agent.output
        assert costs['agent'][-1].kernel == 'reference'
        assert 'the kernel library is unavailable' in agent.output
        # the kernels line names the OpenMP wait policy the process runs under
        assert f"OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'unset')}" in agent.output, \
            agent.output
        assert '[WARN]' in agent.output
    # asking for a library kernel explicitly is an error: configure fails with the reason
    agent = start_node('agent_encoder_node', TINY + ['-p', 'kernel:=qint8'], env=env)
    assert agent.wait(timeout=90) == 2, agent.output
    assert 'kernel "qint8" requested but' in agent.output


def test_calibration_never_publishes_no_cost_and_the_decoder_publishes_its_own(
        start_node, rclpy_node, spin_until, costs, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray

    from qcoinf_ros.core.status_names import AGENT_ENCODER, status_task

    status = []  # the agent's diagnostics: published after configuration, cost keys if any
    rclpy_node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: status.extend(
        s for s in m.status if status_task(s.name) == AGENT_ENCODER), 10)

    with start_node('agent_encoder_node', TINY + ['-p', 'calibrate:=never']) as a, \
            start_node('edge_decoder_node', ['-p', 'max_new_tokens:=8', '-p', 'threads:=1',
                                             '-p', 'model:=tiny', '-p',
                                             f'cost_cache_dir:={tmp_path}'],  # measured here
                       ) as decoder:
        assert spin_until(lambda: costs['server'], timeout=90), decoder.output
        server = costs['server'][-1]
        assert server.part == 'server' and server.max_new_tokens == 8 and server.seconds[0] > 0
        assert 'caption cost (measured' in decoder.output
        assert spin_until(lambda: 'configured' in a.output, timeout=90), a.output
        assert spin_until(lambda: status, timeout=30), a.output
        assert not any(kv.key.startswith('cost_') for s in status for kv in s.values)
        assert costs['agent'] == [] and 'encode cost' not in a.output
