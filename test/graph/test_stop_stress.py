"""
Stopping is behaviour: every node, stopped by SIGINT or SIGTERM at any moment, under load.

Both cores are kept busy by a load generator (one busy process per core) while the whole graph
runs as processes. Each round starts every node of the package and stops each one with a signal
drawn at random (SIGINT or SIGTERM) at one moment of the round's kind:

* ``start`` — a random instant within 1.5 s of the entry point's first line (importing
  rclpy/torch, declaring; before that line the kernel's default action applies, see
  :func:`_handles_stop_signals`);
* ``configure`` — on the node's first log line (the lifecycle nodes are then configuring), or
  once it is in the graph for a node that logs nothing at start;
* ``active`` — once the node is up (its name in the graph, ``configured`` logged);
* ``frames`` — with frames flowing: after the first captions, at a random offset;
* ``param`` — right after a ``set_parameters`` request to the node was sent.

Each stop must end with exit code 0, no traceback and no "context is invalid" in the output,
and its effect: the lifecycle nodes pass through ``shutdown`` (when the node existed), the
frequency actuator leaves the mimicked cpufreq tree as it found it. Then each launch file run
by ``qcoinf launch`` is stopped (SIGINT, and SIGTERM): every child exits 0, the launcher too.

The default is one round of each kind (the seed is printed; ``QCOINF_STOP_STRESS_SEED`` replays
it); ``QCOINF_STOP_STRESS_ROUNDS=N`` runs N rounds of each kind.
"""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

MODEL = ['-p', 'model:=tiny', '-p', 'calibrate:=never', '-p', 'threads:=1']
ROUNDS = int(os.environ.get('QCOINF_STOP_STRESS_ROUNDS', '1'))
SEED = int(os.environ.get('QCOINF_STOP_STRESS_SEED',
                          str(random.SystemRandom().randrange(1 << 30))))
MOMENTS = ('start', 'configure', 'active', 'frames', 'param')
LIFECYCLE = ('agent_encoder_node', 'edge_decoder_node', 'frequency_actuator_node')
#: A run-time parameter change per node (the actuator's are read-only: a refused request).
CHANGES = {
    'agent_encoder_node': ('initial_bit_width', 6), 'edge_decoder_node': ('max_new_tokens', 12),
    'planner_node': ('battery_reserve', 0.2), 'monitor_node': ('text_height', 0.2),
    'camera_node': ('rate_hz', 3.0), 'scenario_node': ('rate_hz', 3.0),
    'frequency_actuator_node': ('max_agent_hz', 1.0e9),
}


@pytest.fixture
def cpu_load():
    """Keep every core busy for the length of the test (bounded: killed at its end)."""
    procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
             for _ in range(os.cpu_count() or 2)]
    try:
        yield len(procs)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _handles_stop_signals(pid: int) -> bool:
    """
    Return whether the process catches SIGINT and SIGTERM yet (``SigCgt`` in /proc).

    Before its entry point's first line (about 65 ms after exec here, interpreter start-up) a
    process has the kernel's default actions, as any program has before its own code runs: the
    ``start`` moments are drawn from then on.
    """
    try:
        with open(f'/proc/{pid}/status') as status:
            line = next(x for x in status if x.startswith('SigCgt:'))
    except (OSError, StopIteration):
        return False
    caught = int(line.split()[1], 16)
    return all(caught >> (sig - 1) & 1 for sig in (signal.SIGINT, signal.SIGTERM))


def _nodes(tree):
    return {
        'agent_encoder_node': MODEL,
        'edge_decoder_node': MODEL,
        'camera_node': ['-p', 'source:=scenes', '-p', 'scene_count:=4', '-p', 'rate_hz:=4.0'],
        'planner_node': [], 'monitor_node': [], 'scenario_node': [],
        'frequency_actuator_node': ['-p', 'backend:=cpufreq', '-p', f'sysfs_root:={tree}',
                                    '-p', f'restore_record:={tree}/record.json'],
    }


def _request_change(node, name):
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    param, value = CHANGES[name]
    client = node.create_client(SetParameters, f'/{name}/set_parameters')
    client.call_async(SetParameters.Request(parameters=[Parameter(param, value=value)
                                                        .to_parameter_msg()]))
    return client


def _round(moment, rng, start_node, rclpy_node, spin_until, tree, found, cpu_state, log):
    from qcoinf_ros.msg import Caption
    from qcoinf_ros.ros.qos import reliable

    captions = []
    sub = rclpy_node.create_subscription(Caption, 'qcoinf/caption',
                                         lambda m: captions.append(m.text), reliable(10))
    nodes = _nodes(tree)
    procs = {name: start_node(name, args) for name, args in nodes.items()}
    sigs = {name: rng.choice((signal.SIGINT, signal.SIGTERM)) for name in nodes}
    sent = {}
    clients = []

    def stop(name):
        if name not in sent:
            procs[name].send(sigs[name])
            sent[name] = time.monotonic()

    try:
        if moment == 'start':
            at = {}
            while len(sent) < len(nodes):
                for name in nodes:
                    if name not in at and _handles_stop_signals(procs[name].pid):
                        at[name] = time.monotonic() + rng.uniform(0.0, 1.5)
                    if name in at and time.monotonic() >= at[name]:
                        stop(name)
                time.sleep(0.001)
        elif moment == 'configure':
            deadline = time.monotonic() + 120
            while len(sent) < len(nodes) and time.monotonic() < deadline:
                seen = set(rclpy_node.get_node_names())  # for nodes that log nothing at start
                for name, proc in procs.items():  # (the graph may still list the last round's)
                    if (proc.output.strip() or name in seen) and _handles_stop_signals(proc.pid):
                        stop(name)
                time.sleep(0.005)
        else:
            def up():
                return set(nodes) <= set(rclpy_node.get_node_names())
            assert spin_until(up, timeout=120), {n: p.output[-1500:] for n, p in procs.items()}
            if moment == 'frames':
                assert spin_until(lambda: len(captions) >= 2, timeout=120), {
                    n: p.output[-1500:] for n, p in procs.items()}
                spin_until(lambda: False, timeout=rng.uniform(0.0, 1.0))
            if moment == 'param':
                clients = [_request_change(rclpy_node, name) for name in nodes]
                spin_until(lambda: False, timeout=rng.uniform(0.0, 0.05))
            for name in rng.sample(sorted(nodes), len(nodes)):
                stop(name)
        ended = {}
        deadline = time.monotonic() + 30
        while len(ended) < len(procs) and time.monotonic() < deadline:
            for name, proc in procs.items():
                if name not in ended and proc.returncode is not None:
                    ended[name] = time.monotonic()
            time.sleep(0.01)
        codes = {name: proc.returncode for name, proc in procs.items()}
    finally:
        for proc in procs.values():  # this round's, before the next (their exit codes: above)
            proc.stop()
        for client in clients:
            rclpy_node.destroy_client(client)
        rclpy_node.destroy_subscription(sub)
    took = {name: ended[name] - sent[name] for name in sent if name in ended}
    for name, proc in procs.items():
        out = proc.output
        log.append(f'{moment:9s} {name:24s} {signal.Signals(sigs[name]).name:7s} '
                   f'exit {codes[name]} in {took.get(name, float("nan")):.2f} s')
        assert codes[name] == 0, (moment, name, sigs[name], out[-3000:])
        assert 'Traceback' not in out and 'context is invalid' not in out, (moment, name, out)
        assert 'still busy' not in out, (moment, name, out)  # workers joined within bound
        if name in LIFECYCLE and 'configured' in out:
            assert '-> finalized' in out, (moment, name, out[-3000:])
    assert cpu_state(tree) == found, (moment, procs['frequency_actuator_node'].output)
    assert not (tree / 'record.json').exists()


def test_every_node_exits_0_on_sigint_or_sigterm_at_any_moment_under_load(
        start_node, rclpy_node, spin_until, tmp_path, cpu_tree, cpu_state, cpu_load):
    rng = random.Random(SEED)
    tree = cpu_tree(tmp_path / 'cpu', cpus=2)
    found = cpu_state(tree)
    log = [f'seed {SEED}, {ROUNDS} round(s) of each moment, {cpu_load} busy processes']
    try:
        for _ in range(ROUNDS):
            for moment in MOMENTS:
                _round(moment, rng, start_node, rclpy_node, spin_until, tree, found, cpu_state,
                       log)
    finally:
        print('\n'.join(log))
    stops = len(log) - 1
    print(f'{stops} stops, all exit code 0')


LAUNCHES = {
    'agent.launch.xml': ['model:=tiny', 'camera_source:=scenes'],
    'server.launch.xml': ['model:=tiny'],
    'coinference.launch.xml': ['model:=tiny', 'camera_source:=scenes'],
    'multi_agent.launch.xml': ['model:=tiny'],  # + camera_path (a folder of frames)
    'scenario.launch.xml': [],
}


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize('launch_file', sorted(LAUNCHES))
def test_qcoinf_launch_stops_every_child_with_exit_0(ros_env, rclpy_node, spin_until, tmp_path,
                                                     launch_file, sig):
    from qcoinf_ros.core.launching import parse_launch_file
    from qcoinf_ros.core.resources import share_file

    args = list(LAUNCHES[launch_file])
    if launch_file == 'multi_agent.launch.xml':
        import cv2
        import numpy as np
        frames = tmp_path / 'frames'
        frames.mkdir()
        cv2.imwrite(str(frames / 'a.png'), np.full((96, 96, 3), 128, np.uint8))
        args.append(f'camera_path:={frames}')
    description = parse_launch_file(share_file(f'launch/{launch_file}'),
                                    dict(a.split(':=', 1) for a in args))
    names = {spec.name or spec.executable for spec in description.nodes}
    proc = subprocess.Popen(
        [sys.executable, '-m', 'qcoinf_ros.tools.cli.main', 'launch', launch_file, *args],
        env=ros_env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert spin_until(lambda: names <= set(rclpy_node.get_node_names()), timeout=120)
        spin_until(lambda: False, timeout=1.0)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-4000:]
    assert 'has died' not in out and 'exited with code' not in out, out[-4000:]
    assert 'Traceback' not in out, out[-4000:]
