"""
The agent detects a lost edge server (issue 27, item 1) through the real graph.

Agent encoder and edge decoder run as processes over DDS on the tiny captioner; this process
sends frames and reads the agent's latched ``qcoinf/link_state``. The decoder is stopped cleanly
with no frame in flight (its readers and writers leave the graph: the matched count tells at
once), restarted (the link comes back after the answers), then killed with SIGKILL (no goodbye
on the graph, which keeps its readers until the participant's lease ends: only the missed
answers tell). The measured detection times are printed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

NODE = ['-p', 'model:=tiny', '-p', 'threads:=1', '-p', 'calibrate:=never']
DECODER = NODE + ['-p', 'max_new_tokens:=8']
AGENT = NODE + ['-p', 'answer_timeout:=1.0', '-p', 'loss_after_missed:=3',
                '-p', 'recover_after_answers:=3']
RATE_HZ = 4.0
WAIT = 90.0


def _log(*procs) -> str:
    return '\n'.join(f'--- {p.name}\n{p.output[-3000:]}' for p in procs)


def test_a_killed_decoder_is_lost_within_a_bounded_time_and_found_again(
        rclpy_node, spin_until, start_node):
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from qcoinf_ros.core.codec.link_state import decode_link_state
    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.qos import LATCHED, SENSOR

    states = []  # (monotonic time received, message)
    rclpy_node.create_subscription(
        String, 'qcoinf/link_state',
        lambda m: states.append((time.monotonic(), decode_link_state(m.data))), LATCHED)
    images = rclpy_node.create_publisher(Image, 'camera/image_raw', SENSOR)
    frame = make_scene('test', 0).as_tuple()[0]

    def publish():
        msg = array_to_image_msg(frame, 'rgb8')
        msg.header.stamp = rclpy_node.get_clock().now().to_msg()
        msg.header.frame_id = 'camera'
        images.publish(msg)

    def state():
        return states[-1][1].state if states else None

    def reached(name, after):
        return next((t for t, m in states if t >= after and m.state == name), None)

    decoder = start_node('edge_decoder_node', DECODER, name='decoder')
    agent = start_node('agent_encoder_node', AGENT, name='agent')
    procs = [decoder, agent]
    assert spin_until(lambda: states and images.get_subscription_count() >= 1, WAIT), \
        _log(*procs)
    assert state() == 'LOST'  # no decoder has answered yet
    timer = rclpy_node.create_timer(1.0 / RATE_HZ, publish)
    assert spin_until(lambda: state() == 'SPLIT', WAIT), _log(*procs) + str(states[-3:])
    spin_until(lambda: False, 2.0)  # steady: no false alarm while the server answers
    assert state() == 'SPLIT', states[-3:]

    # a clean stop with nothing in flight: the matched count says it, not a timeout
    timer.cancel()
    assert spin_until(lambda: states[-1][1].in_flight == 0, 10.0), states[-1]
    stopped = time.monotonic()
    assert decoder.stop() == 0, _log(decoder)
    assert spin_until(lambda: reached('LOST', stopped), 10.0), _log(*procs)
    message = next(m for t, m in states if t >= stopped and m.state == 'LOST')
    print(f'\nclean stop -> LOST in {reached("LOST", stopped) - stopped:.2f} s '
          f'({message.reason})')
    assert 'no decoder matched' in message.reason, message

    restarted = time.monotonic()
    decoder = start_node('edge_decoder_node', DECODER, name='decoder again')
    procs.append(decoder)
    timer = rclpy_node.create_timer(1.0 / RATE_HZ, publish)
    assert spin_until(lambda: reached('SPLIT', restarted), WAIT), _log(*procs)
    back = next(m for t, m in states if t >= restarted and m.state == 'SPLIT')
    print(f'restart -> SPLIT in {reached("SPLIT", restarted) - restarted:.2f} s '
          f'({back.reason})')
    spin_until(lambda: False, 2.0)
    assert state() == 'SPLIT', states[-3:]

    # SIGKILL: the graph keeps the dead decoder's readers (lease); the misses tell
    killed = time.monotonic()
    decoder.send(signal.SIGKILL)
    assert decoder.wait(timeout=10) == -signal.SIGKILL
    assert spin_until(lambda: reached('LOST', killed), 30.0), _log(*procs)
    lost = reached('LOST', killed) - killed
    message = next(m for t, m in states if t >= killed and m.state == 'LOST')
    print(f'SIGKILL -> LOST in {lost:.2f} s ({message.reason})')
    assert 'answers missed in a row' in message.reason, message
    # answer_timeout 1 s, 3 misses at 4 Hz: ~1.5 s; bounded with room for a shared machine
    assert lost < 6.0, message
    timer.cancel()
    assert agent.returncode is None, _log(agent)
    # each transition logged once, never per frame; the log line reaches this process by
    # another path than the message (the node's pipe), so it may trail it: waited for (once, a
    # CI run read 4 lines for 5 transitions)

    def logged():
        return agent.output.count('link to the edge server:')

    def transitions():
        return len({(m.transitions, m.state) for _, m in states if m.transitions})

    spin_until(lambda: logged() >= transitions(), 5.0)
    assert logged() == transitions(), agent.output


@pytest.mark.parametrize('fault', ['kill', 'freeze', 'cut'])
def test_local_mode_captions_every_frame_once_across_a_fault_and_a_return(fault, ros_env,
                                                                          tmp_path):
    """
    Local mode (issue 27, items 2-4): the server lost, the robot captions; back, split again.

    One cycle of ``qcoinf bench failover`` per fault, in its own process (a fault ``cut`` puts
    the decoder in a network namespace, and a process's DDS profile is read once): SIGKILL and
    a new decoder, SIGSTOP/SIGCONT, the veth link down and up. Every frame sent is captioned
    once (by the server or on the robot) or counted missed by the agent; the planner plans for
    local mode while the robot captions alone: its delay is the encode and local decode
    times the agent published, with no upload.
    """
    if fault == 'cut':
        from qcoinf_ros.tools.bench.netns import netns_unavailable
        reason = netns_unavailable()
        if reason:
            pytest.skip(f'cut: {reason}')
    out = tmp_path / 'failover.json'
    # the planner's arithmetic is checked exactly (its T is the t(b) + t_local the agent
    # published); how close that comes to the delay measured is the bench's figure (25 % over
    # ten cycles), not this test's: one cycle's costs, measured while the graph's other nodes
    # start beside it on a 2-core CI machine, were +59 %, +95 % and +81 % off in three runs. A
    # prediction 4x off still fails. The costs are measured by this graph at its start, as on
    # a robot's first run, not taken from the session's cache
    proc = subprocess.run(
        [sys.executable, '-m', 'qcoinf_ros.tools.cli.main', 'bench', 'failover', '--fault', fault,
         '--cycles', '1', '--prediction-tolerance', '3', '--json', str(out)],
        env=dict(ros_env, XDG_CACHE_HOME=str(tmp_path / 'cache')), capture_output=True,
        text=True, timeout=300)
    print(proc.stdout)
    assert out.is_file(), proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any((tmp_path / 'cache' / 'qcoinf_ros' / 'cost').glob('*.json'))  # measured here
    assert result['accounted'] and result['twice'] == 0, proc.stdout
    assert len(result['to_local_s']) == len(result['to_split_s']) == 1
    # answer_timeout 1 s and 3 misses at 4 frames/s: ~2.2 s; bounded for a shared machine
    assert 0 < result['to_local_s'][0] < 10.0, result['to_local_s']
    assert result['edge'] and result['local'], proc.stdout
    agent = result['agent']
    assert int(agent['local_captions']) == len(result['local']), agent
    assert int(agent['frames_probe']) >= int(agent['probes_answered']) >= 1, agent
    assert agent['local_mode'] == 'ready', agent
    assert len(result['prediction_errors']) == 1, proc.stdout
    assert result['predictions_from_costs'] == [True], proc.stdout
    assert result['plan_bits'] == [8], proc.stdout  # T0 10 s, E0 1000 J: the finest b
    assert result['agent_costs_s'] and result['local_costs_s'], proc.stdout
    # every frame reached the agent and was encoded (or dropped on arrival, with its class),
    # and every frame encoded went one of three ways
    arrival = sum(n for cls, n in result['dropped'].items() if cls.startswith('image.'))
    assert int(agent['frames']) + arrival == len(result['offered'])
    assert int(agent['frames']) == \
        int(agent['frames_edge']) + int(agent['frames_local']) + int(agent['frames_probe'])
