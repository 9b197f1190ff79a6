"""
Many agents, one server: batching in the edge decoder, its queueing delay, and the planner.

Real processes over DDS: an ``edge_decoder_node`` serving two agent namespaces, a
``planner_node`` that takes the decoder's measured queueing delay into account, and two
agents whose ``/diagnostics`` statuses a fleet's monitor or aggregator tells apart.
"""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def test_two_agents_arriving_together_are_decoded_as_one_batch(start_node, rclpy_node, spin_until):
    from geometry_msgs.msg import Vector3Stamped
    from std_msgs.msg import Float64, Header

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.core.models.registry import load_split
    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.ros.messages import Caption, Embedding, embedding_msg
    from qcoinf_ros.ros.qos import LATCHED, reliable

    split = load_split('tiny')
    images = [make_scene('test', i).as_tuple()[0] for i in (0, 1)]
    embeddings = split.encode(split.preprocess(images))
    expected = [split.captions(split.decode(e.unsqueeze(0), max_new_tokens=20))[0].strip()
                for e in embeddings]
    assert expected[0] != expected[1]

    decoder = start_node('edge_decoder_node', [
        '-p', 'model:=tiny', '-p', 'threads:=1', '-p', 'agents:=[robot1, robot2]',
        '-p', 'max_batch:=2', '-p', 'batch_wait:=0.5'])
    node = rclpy_node
    got = {1: [], 2: []}
    latency = {1: [], 2: []}
    queue = {1: [], 2: []}
    pubs = {}
    for k in (1, 2):
        pubs[k] = node.create_publisher(Embedding, f'robot{k}/qcoinf/embedding',
                                        reliable(2))
        node.create_subscription(Caption, f'robot{k}/qcoinf/caption',
                                 lambda m, k=k: got[k].append(m.text), reliable(10))
        node.create_subscription(Vector3Stamped, f'robot{k}/qcoinf/latency',
                                 lambda m, k=k: latency[k].append(m), reliable(10))
        node.create_subscription(Float64, f'robot{k}/qcoinf/server_queue_delay',
                                 lambda m, k=k: queue[k].append(m.data), LATCHED)
    try:
        assert spin_until(lambda: all(p.get_subscription_count() for p in pubs.values()),
                          timeout=60), decoder.output
        for k in (1, 2):
            msg = embedding_msg(embeddings[k - 1].numpy(), EmbeddingMeta(split.model_id, 32),
                                Header(frame_id=f'robot{k}',
                                       stamp=node.get_clock().now().to_msg()))
            pubs[k].publish(msg)
        assert spin_until(lambda: all(got.values()) and all(latency.values()) and
                          all(queue.values()), timeout=60), decoder.output
        # each agent gets its own caption, the one a single decode gives
        assert got[1] == [expected[0]] and got[2] == [expected[1]], (got, expected)
        assert latency[1][0].header.frame_id == 'robot1'
        # one batch: both report the decode time of that same batch
        assert latency[1][0].vector.z == latency[2][0].vector.z
        # the queueing delay is published per agent, and waiting for the batch costs < 0.5 s
        assert all(0.0 <= q[-1] < 5.0 for q in queue.values()), queue
        assert decoder.returncode is None
        assert decoder.stop() == 0, decoder.output  # a stop is behaviour: exit 0
    finally:
        decoder.stop()


def test_an_invalid_agent_namespace_stops_the_decoder_with_the_reason(start_node):
    proc = start_node('edge_decoder_node', ['-p', 'agents:=[robot1, 2bad]'])
    assert proc.wait(timeout=60) == 2, proc.output
    proc.stop()
    assert "invalid agent namespace '2bad'" in proc.output


def test_the_planner_plans_with_the_servers_queueing_delay(start_node, rclpy_node, spin_until):
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64, UInt8

    from qcoinf_ros.core.status_names import PLANNER, status_task
    from qcoinf_ros.ros.qos import LATCHED

    node = rclpy_node
    bits = []
    node.create_subscription(UInt8, 'qcoinf/bit_width', lambda m: bits.append(m.data),
                             LATCHED)
    queue = node.create_publisher(Float64, 'qcoinf/server_queue_delay', LATCHED)
    base = ['-p', 'preset:=paper', '-p', 'model:=git', '-p', 'b_max:=8',
            '-p', 'default_t0:=2.0', '-p', 'e0_full:=100.0']
    planner = start_node('planner_node', base + ['-p', 'use_server_queue_delay:=true'])
    try:
        assert spin_until(lambda: bits and bits[-1] == 8, timeout=60), planner.output
        # T0 = 2 s but 1.9 s are spent waiting at the server: 0.1 s is below any delay
        queue.publish(Float64(data=1.9))
        assert spin_until(lambda: bits[-1] == 1, timeout=30), planner.output
        assert spin_until(lambda: 'server queueing delay 1900.0 ms' in planner.output and
                          'INFEASIBLE' in planner.output, timeout=30), planner.output
        queue.publish(Float64(data=0.0))
        assert spin_until(lambda: bits[-1] == 8, timeout=30), planner.output
        queue.publish(Float64(data=float('nan')))
        assert spin_until(lambda: 'dropped server_queue_delay' in planner.output, timeout=30)
        assert planner.returncode is None
        assert planner.stop() == 0, planner.output
    finally:
        planner.stop()
    # without use_server_queue_delay the same delay changes nothing
    bits.clear()
    heard = []  # the queueing delay the planner reports having (its 1 Hz diagnostics)
    node.create_subscription(
        DiagnosticArray, '/diagnostics', lambda m: heard.extend(
            kv.value for s in m.status if status_task(s.name) == PLANNER for kv in s.values
            if kv.key == 'server_queue_delay_s'), 10)
    planner = start_node('planner_node', base)
    try:
        queue.publish(Float64(data=1.9))
        assert spin_until(lambda: bits and bits[-1] == 8, timeout=60), planner.output
        # the planner has the 1.9 s (a replan would have come first, in that callback)
        assert spin_until(lambda: '1.9' in heard, timeout=30), (heard, planner.output)
        assert bits[-1] == 8 and 'server queueing delay' not in planner.output
        assert planner.stop() == 0, planner.output
    finally:
        planner.stop()


def test_bench_agents_prints_throughput_latency_and_the_batching_ratio(capsys):
    from qcoinf_ros.tools.cli.bench_agents import main

    assert main(['--agents', '1,2', '--duration', '2', '--warmup', '1',
                 '--max-new-tokens', '5', '--model', 'tiny', '--dtype', 'bfloat16']) == 0
    out = capsys.readouterr().out
    assert 'tiny on cpu, bfloat16' in out, out
    assert 'captions/s' in out and 'batched / unbatched' in out.replace('\n', ' ') or \
        'batched' in out
    rows = [ln for ln in out.splitlines() if ln.startswith('│')]
    assert len(rows) == 4, out  # N = 1, 2, batching off and on


def test_two_robots_statuses_have_distinct_names_and_hardware_ids(
        start_node, rclpy_node, spin_until):
    """Agents in robot1 and robot2 (hardware_id set) and robot1's planner (hardware_id '')."""
    import socket

    from diagnostic_msgs.msg import DiagnosticArray

    from qcoinf_ros.core.status_names import AGENT_ENCODER, PLANNER, status_task

    seen = {}  # name -> hardware_id of every status heard
    rclpy_node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: seen.update(
        (s.name, s.hardware_id) for s in m.status), 10)
    agent = ['-p', 'model:=tiny', '-p', 'threads:=1', '-p', 'calibrate:=never']
    procs = [start_node('agent_encoder_node', ['-r', f'__ns:=/robot{k}', *agent, '-p',
                                               f'hardware_id:=jetson-{k}'])
             for k in (1, 2)]
    procs.append(start_node('planner_node', [
        '-r', '__ns:=/robot1', '-p', 'preset:=paper', '-p', 'model:=git', '-p', 'b_max:=8',
        '-p', 'default_t0:=2.0', '-p', 'e0_full:=100.0']))
    expected = {'/robot1/agent_encoder_node: agent encoder': 'jetson-1',
                '/robot2/agent_encoder_node: agent encoder': 'jetson-2',
                '/robot1/planner_node: planner': socket.gethostname()}
    try:
        assert spin_until(lambda: expected.keys() <= seen.keys(), timeout=120), \
            (seen, [p.output for p in procs])
        assert {k: seen[k] for k in expected} == expected
        # no other status of these tasks (the legacy 'qcoinf: agent encoder' is gone)
        assert sorted(n for n in seen if status_task(n) in (AGENT_ENCODER, PLANNER)) == \
            sorted(expected)
        assert all(p.returncode is None for p in procs)
    finally:
        for p in procs:
            p.stop()
