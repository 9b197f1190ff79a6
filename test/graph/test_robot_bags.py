"""
A robot's own bags, replayed as a robot engineer does it.

That is: ``--clock``, ``use_sim_time``, the agent on the camera driver's topic.

Bags of the package's sample scenario (:mod:`qcoinf_ros.core.bags.sample`) written as a robot's
recorder leaves them: a usb_cam-style ``/usb_cam/image_raw`` in ``yuv422_yuy2`` and in
``bayer_rggb8``, and ``/usb_cam/image_raw/compressed`` (jpeg, as image_transport's compressed
plugin writes it), stamped 2026-01-01 — months before any run. They are played with
``qcoinf bag play --clock`` into the agent encoder and the edge decoder, both on
``use_sim_time`` with the decoder's default stamp window, the agent remapped
(``camera/image_raw:=/usb_cam/image_raw``) and, for the compressed bag, on
``image_transport:=compressed``: every frame gets a caption, none is dropped.
"""

from pathlib import Path
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

DRIVER_TOPIC = '/usb_cam/image_raw'
MODEL = ['-p', 'model:=tiny', '-p', 'threads:=1', '-p', 'calibrate:=never',
         '-p', 'use_sim_time:=true']


def _bag(tmp_path: Path, camera_format: str) -> tuple[Path, int]:
    from qcoinf_ros.core.bags.sample import SampleScenario, write_sample_bag
    # all three start at the same time: the decoder, kept running, may read a bag's first
    # frame before it hears the next player's /clock; then it is 8 s in its past, not hours
    # ahead of it. Each is its own camera (frame_id): the same stamps from another camera are
    # not a replay
    scenario = SampleScenario(camera_format=camera_format, camera_base=DRIVER_TOPIC,
                              camera_frame_id=f'usb_cam_{camera_format}')
    path = tmp_path / camera_format
    write_sample_bag(path, scenario=scenario)
    return path, scenario.frames


def _play(bag: Path, topic: str, env) -> str:
    play = [sys.executable, '-m', 'qcoinf_ros.tools.cli.bag', 'play', str(bag), '--topics', topic,
            '--wait-for-subscribers', '30', '--delay', '1', '--clock']
    done = subprocess.run(play, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    return done.stdout


def test_driver_bags_from_long_ago_caption_every_frame(ros_env, rclpy_node, spin_until,
                                                       start_node, tmp_path):
    from qcoinf_ros.core.bags.sample import START_NS
    from qcoinf_ros.msg import Caption
    from qcoinf_ros.ros.qos import reliable

    age_days = (time.time_ns() - START_NS) / 86400e9
    assert age_days > 60  # months old: stale for any node on the system clock
    captions = []
    rclpy_node.create_subscription(Caption, 'qcoinf/caption', lambda m: captions.append(m.text),
                                   reliable(50))
    decoder = start_node('edge_decoder_node', MODEL)
    results = {}
    for camera_format, transport in [('yuv422_yuy2', 'raw'), ('bayer_rggb8', 'raw'),
                                     ('jpeg', 'compressed')]:
        bag, frames = _bag(tmp_path, camera_format)
        agent = start_node('agent_encoder_node', MODEL + [
            '-p', f'image_transport:={transport}',
            '-r', f'camera/image_raw:={DRIVER_TOPIC}'])
        assert spin_until(lambda: 'configured' in agent.output
                          and 'configured' in decoder.output, timeout=120), \
            (agent.output, decoder.output)
        before = len(captions)
        topic = DRIVER_TOPIC + ('/compressed' if transport == 'compressed' else '')
        _play(bag, topic, ros_env)
        spin_until(lambda: len(captions) - before >= frames, timeout=30)
        results[camera_format] = (len(captions) - before, frames)
        assert agent.stop() == 0, agent.output
        assert 'dropped' not in agent.output, agent.output
    print(f'bags stamped {age_days:.0f} days ago, played with --clock: captions/frames '
          + ', '.join(f'{k} {n}/{f}' for k, (n, f) in results.items()))
    assert all(n == f for n, f in results.values()), (results, decoder.output)
    assert 'in the past' not in decoder.output and 'dropped' not in decoder.output, \
        decoder.output
    assert decoder.stop() == 0, decoder.output
