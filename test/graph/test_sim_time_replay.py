"""
A bag recorded long ago, replayed with ``qcoinf bag play --clock`` into nodes on ``use_sim_time``.

The sample bag's frames are stamped when it was made (months before any run). The agent and the
decoder run as processes with ``use_sim_time:=true`` and the decoder's default stamp window
(``max_stamp_age`` 30 s): with ``--clock`` their clock is the bag's time, so every frame is
captioned and none is dropped as stale. Without simulated time the same replay is dropped, and
the decoder says once why, naming ``--clock``.
"""

from pathlib import Path
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

ROOT = Path(__file__).resolve().parents[2]
BAG = ROOT / 'test' / 'data' / 'sample_bag'
MODEL = ['-p', 'model:=tiny', '-p', 'threads:=1', '-p', 'calibrate:=never']


def _replay(start_node, ros_env, rclpy_node, spin_until, sim_time: bool):
    from qcoinf_ros.msg import Caption
    from qcoinf_ros.ros.qos import reliable

    sim = ['-p', f'use_sim_time:={str(sim_time).lower()}']
    captions = []
    sub = rclpy_node.create_subscription(Caption, 'qcoinf/caption',
                                         lambda m: captions.append(m.text), reliable(20))
    graph = [start_node('edge_decoder_node', MODEL + sim),
             start_node('agent_encoder_node', MODEL + sim)]
    try:
        assert spin_until(lambda: all('configured' in p.output for p in graph), timeout=120), \
            [p.output for p in graph]
        play = [sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(BAG),
                '--topics', '/camera/image_raw', '--wait-for-subscribers', '30', '--delay', '1']
        player = subprocess.Popen(play + (['--clock'] if sim_time else []), env=ros_env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert spin_until(lambda: player.poll() is not None, timeout=90)
            out = player.stdout.read()
            assert player.returncode == 0, out
            spin_until(lambda: len(captions) >= 10, timeout=30)
        finally:
            player.kill()
        decoder = graph[0].output
        for proc in graph:
            assert proc.stop() == 0, proc.output
    finally:
        for proc in graph:
            proc.stop()
        rclpy_node.destroy_subscription(sub)
    return captions, decoder


def test_a_bag_from_long_ago_captions_every_frame_on_its_own_clock(
        start_node, ros_env, rclpy_node, spin_until):
    from qcoinf_ros.core.bags import BagReader

    reader = BagReader(BAG)
    age_days = (__import__('time').time_ns() - reader.info.start_ns) / 86400e9
    frames = reader.info.topic('/camera/image_raw').count
    reader.close()
    assert age_days > 1.0  # recorded long before this run: stale for the system clock
    captions, decoder = _replay(start_node, ros_env, rclpy_node, spin_until, sim_time=True)
    print(f'bag recorded {age_days:.0f} days ago, {frames} frames, with --clock and '
          f'use_sim_time: {len(captions)} captions')
    assert len(captions) == frames, decoder
    assert 'in the past' not in decoder, decoder


def test_without_simulated_time_the_old_frames_are_dropped_with_the_reason(
        start_node, ros_env, rclpy_node, spin_until):
    captions, decoder = _replay(start_node, ros_env, rclpy_node, spin_until, sim_time=False)
    assert captions == [], captions
    assert decoder.count('in the past (max_stamp_age 30 s)') == 1, decoder
    assert '--clock' in decoder, decoder
