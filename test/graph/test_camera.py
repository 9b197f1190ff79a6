"""Frame sources (folder, video, device) and the camera node over DDS."""

import time

import cv2
import numpy as np
import pytest

from qcoinf_ros.core.imaging.sources import (
    CaptureSource, FolderSource, make_source, resize_rgb, resolve_source)


def _frames(n=3, h=24, w=32):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _folder(tmp_path, frames):
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'{i:03d}.png'), rgb[:, :, ::-1])  # OpenCV writes BGR
    return tmp_path


def test_folder_source_reads_rgb_in_order_and_loops(tmp_path):
    frames = _frames()
    source = FolderSource(_folder(tmp_path, frames), loop=True)
    got = [source.read() for _ in range(4)]
    for a, b in zip(got, frames + frames[:1]):
        np.testing.assert_array_equal(a, b)
    once = FolderSource(tmp_path, loop=False)
    assert [once.read() is None for _ in range(4)] == [False, False, False, True]


def test_folder_source_errors(tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
        FolderSource(tmp_path / 'nope')
    with pytest.raises(ValueError, match='holds no images'):
        FolderSource(tmp_path)
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='cannot decode'):
        FolderSource(tmp_path).read()


def test_video_source_reads_frames(tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (32, 24))
    assert writer.isOpened()
    solid = [np.full((24, 32, 3), v, np.uint8) for v in (30, 120, 220)]
    for frame in solid:
        writer.write(frame)
    writer.release()
    source = CaptureSource(str(path), loop=True)
    got = [source.read() for _ in range(4)]
    assert all(g is not None and g.shape == (24, 32, 3) for g in got)
    assert [int(round(g.mean())) for g in got] == pytest.approx([30, 120, 220, 30], abs=3)
    source.close()


def test_source_factory_errors(tmp_path):
    with pytest.raises(ValueError, match='Invalid camera source: "ftp"'):
        make_source('ftp')
    with pytest.raises(ValueError, match='does not exist'):
        make_source('video', path=str(tmp_path / 'missing.mp4'))
    with pytest.raises(ValueError, match='cannot open camera device 200'):
        make_source('device', device_index=200)


def test_resize_keeps_aspect_when_one_side_is_zero():
    frame = np.zeros((24, 32, 3), np.uint8)
    assert resize_rgb(frame, 16, 0).shape == (12, 16, 3)
    assert resize_rgb(frame, 0, 0) is frame


def test_resize_refuses_a_frame_beyond_the_limits_before_it_is_made():
    frame = np.zeros((96, 96, 3), np.uint8)
    with pytest.raises(ValueError, match='image 8192x8192 has 67108864 pixels, more than '
                                         '8294400 .max_image_pixels.'):
        resize_rgb(frame, 8192, 8192)
    with pytest.raises(ValueError, match='aspect ratio of 64:1'):
        resize_rgb(frame, 3200, 50)
    with pytest.raises(ValueError, match='more than 100 .max_image_pixels.'):
        resize_rgb(frame, 0, 0, max_pixels=100)  # the source's own size is checked too
    assert resize_rgb(frame, 0, 2000).shape == (2000, 2000, 3)  # 4 Mpx: within 4K


def test_image_message_round_trip():
    pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')
    from qcoinf_ros.ros.image import array_to_image_msg, image_msg_to_array
    rgb = _frames(1)[0]
    msg = array_to_image_msg(rgb, 'rgb8')
    assert (msg.height, msg.width, msg.encoding, msg.step) == (24, 32, 'rgb8', 96)
    np.testing.assert_array_equal(image_msg_to_array(msg), rgb)
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ValueError, match='data length'):
        image_msg_to_array(msg)


@pytest.mark.ros
def test_camera_node_publishes_stamped_frames_and_skips_bad_files(listen, start_node,
                                                                  spin_until, tmp_path):
    from sensor_msgs.msg import CameraInfo, Image

    from qcoinf_ros.ros.image import image_msg_to_array
    from qcoinf_ros.ros.qos import SENSOR

    frames = _frames(2)
    _folder(tmp_path, frames)
    (tmp_path / '001b_broken.png').write_bytes(b'garbage')  # sorted between the two frames
    images = listen(Image, 'camera/image_raw', SENSOR)
    infos = listen(CameraInfo, 'camera/camera_info', SENSOR)
    params = ['-p', 'source:=folder', '-p', f'path:={tmp_path}', '-p', 'rate_hz:=30.0',
              '-p', 'frame_id:=cam0', '-p', 'width:=16']
    with start_node('camera_node', params) as proc:
        spin_until(lambda: len(images) >= 8 and infos, timeout=30.0)
        assert len(images) >= 8, proc.output
        assert proc.returncode is None
    assert {m.header.frame_id for m in images} == {'cam0'}
    assert {(m.width, m.height, m.encoding) for m in images} == {(16, 12, 'rgb8')}
    stamps = [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for m in images]
    assert stamps == sorted(stamps) and abs(stamps[-1] - time.time()) < 30
    expected = {resize_rgb(f, 16, 0).tobytes() for f in frames}
    assert {image_msg_to_array(m).tobytes() for m in images} == expected
    assert infos[0].k[0] > 0 and (infos[0].width, infos[0].height) == (16, 12)
    assert proc.output.count('dropped frame') == 1, proc.output


def test_auto_source_picks_from_the_path_or_falls_back_to_the_scenes(tmp_path):
    kind, note = resolve_source('auto', '')
    assert kind == 'scenes'
    assert 'no camera configured' in note and 'camera_source:=device' in note
    assert resolve_source('auto', str(tmp_path)) == ('folder', '')
    assert resolve_source('auto', str(tmp_path / 'clip.mp4')) == ('video', '')
    assert resolve_source('folder', '') == ('folder', '')  # explicit: no fallback
    assert make_source('auto', scene_count=1).read().shape == (96, 96, 3)
    frames = _frames(1)
    np.testing.assert_array_equal(make_source('auto', path=str(_folder(tmp_path, frames)))
                                  .read(), frames[0])


@pytest.mark.ros
def test_camera_with_no_configuration_publishes_the_scenes_and_says_so(listen, start_node,
                                                                       spin_until):
    from sensor_msgs.msg import Image

    from qcoinf_ros.ros.qos import SENSOR

    images = listen(Image, 'camera/image_raw', SENSOR)
    with start_node('camera_node', ['-p', 'rate_hz:=20.0']) as proc:
        assert spin_until(lambda: len(images) >= 2, timeout=30.0), proc.output
    assert (images[0].width, images[0].height) == (96, 96)
    assert proc.output.count('no camera configured') == 1, proc.output
    assert 'camera_source:=device' in proc.output
    assert 'camera: scenes at 20 Hz' in proc.output


def test_scene_source_is_deterministic_and_loops():
    from qcoinf_ros.core.imaging.sources import SceneSource
    from qcoinf_ros.core.scenes.generator import make_scene, SceneConfig

    source = make_source('scenes', scene_split='val', scene_count=2, loop=True)
    got = [source.read() for _ in range(3)]
    expected = [make_scene('val', i, SceneConfig()).image for i in (0, 1, 0)]
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    assert got[0].shape == (96, 96, 3) and got[0].dtype == np.uint8
    assert SceneSource('test', 1, loop=False).read() is not None
    with pytest.raises(ValueError):
        SceneSource('holdout', 1)


def test_camera_holds_its_first_frame_until_a_subscriber_matched(listen, start_node, spin_until,
                                                                 tmp_path):
    from sensor_msgs.msg import Image

    from qcoinf_ros.ros.qos import SENSOR

    _folder(tmp_path, _frames(3))
    params = ['-p', 'source:=folder', '-p', f'path:={tmp_path}', '-p', 'rate_hz:=20.0',
              '-p', 'max_frames:=3', '-p', 'wait_for_subscribers:=1', '-p', 'wait_timeout:=60.0',
              '-p', 'loop:=false']
    with start_node('camera_node', params) as proc:
        # nobody listens for 2 s: a camera that did not wait would have sent all 3 frames
        spin_until(lambda: False, timeout=2.0)
        assert 'camera starts' not in proc.output
        images = listen(Image, 'camera/image_raw', SENSOR)
        spin_until(lambda: len(images) >= 3, timeout=30.0)
        assert len(images) == 3, proc.output  # every bounded frame reached the late subscriber
        assert 'camera starts: 1 subscriber(s)' in proc.output


def _clip(tmp_path, size=(32, 24), fps=10.0):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    for v in (40, 200):
        writer.write(np.full((size[1], size[0], 3), v, np.uint8))
    writer.release()
    return path


def test_capture_reports_what_it_gives_and_what_it_did_not_take(tmp_path):
    from qcoinf_ros.core.imaging.sources import CaptureSettings
    # a file cannot be resized or re-rated: the negotiation reports the settings it refused,
    # as a V4L2 driver's nearest-match would
    source = CaptureSource(str(_clip(tmp_path)),
                           settings=CaptureSettings(640, 24, 30.0, 'YUYV'))
    got = source.negotiated()
    assert (got.width, got.height, got.fps, got.pixel_format) == (32, 24, 10.0, 'MJPG')
    assert source.mismatches() == ['width 640 (got 32)', 'fps 30.0 (got 10.0)',
                                   'pixel_format YUYV (got MJPG)']
    assert CaptureSource(str(_clip(tmp_path))).mismatches() == []  # nothing asked
    source.close()


@pytest.mark.parametrize('kwargs, reason', [
    ({'width': -1}, 'must be >= 0'), ({'fps': -5.0}, 'must be >= 0'),
    ({'pixel_format': 'MJPEG'}, 'not a FourCC'), ({'pixel_format': 'YU\n2'}, 'not a FourCC')])
def test_capture_settings_refuse_bad_values(kwargs, reason):
    from qcoinf_ros.core.imaging.sources import CaptureSettings
    with pytest.raises(ValueError, match=reason):
        CaptureSettings(**kwargs)


def test_devices_open_by_path_or_index(tmp_path):
    from qcoinf_ros.core.imaging.sources import device_target
    assert device_target(3) == 3
    assert device_target(3, '/dev/null') == '/dev/null'  # a path wins over the index
    with pytest.raises(ValueError, match="camera device '/dev/video99' does not exist"):
        make_source('device', device_path='/dev/video99')
    with pytest.raises(ValueError, match='cannot open camera device /dev/null'):
        make_source('device', device_path='/dev/null')  # there, but not a V4L2 device
    with pytest.raises(ValueError, match='outside 0..255'):
        device_target(256)


@pytest.mark.ros
def test_camera_publishes_compressed_frames_while_subscribed(listen, start_node, spin_until,
                                                             tmp_path):
    from sensor_msgs.msg import CompressedImage

    from qcoinf_ros.core.imaging import decode_compressed
    from qcoinf_ros.ros.qos import SENSOR

    frames = _frames(2, 32, 48)
    _folder(tmp_path, frames)
    # remapped as a driver's topic: the compressed topic follows the base topic
    got = listen(CompressedImage, '/robot/front/image_raw/compressed', SENSOR)
    params = ['-p', 'source:=folder', '-p', f'path:={tmp_path}', '-p', 'rate_hz:=20.0',
              '-p', 'compressed_format:=png', '-r', 'camera/image_raw:=/robot/front/image_raw']
    with start_node('camera_node', params) as proc:
        assert spin_until(lambda: len(got) >= 4, timeout=30.0), proc.output
    assert {m.format for m in got} == {'rgb8; png compressed bgr8'}
    decoded = {decode_compressed(m.format, bytes(m.data)).tobytes() for m in got}
    assert decoded == {f.tobytes() for f in frames}  # png: lossless, RGB order kept


def test_camera_qos_overrides_apply_and_a_bad_one_is_one_fatal_line(rclpy_node, listen,
                                                                    start_node, spin_until):
    # a best-effort writer (a driver's default) never matches a reliable reader; with the
    # standard qos_overrides start parameter set to reliable, it does, and frames arrive
    from sensor_msgs.msg import Image

    from qcoinf_ros.ros.qos import reliable

    images = listen(Image, 'camera/image_raw', reliable(5))
    key = 'qos_overrides./camera/image_raw.publisher.reliability'
    with start_node('camera_node', ['-p', 'rate_hz:=20.0']) as plain:
        assert spin_until(lambda: rclpy_node.count_publishers('camera/image_raw') >= 1,
                          timeout=30), plain.output
        spin_until(lambda: bool(images), timeout=2.0)
        assert images == [], 'a best-effort writer matched a reliable reader'
        assert plain.stop() == 0, plain.output
    with start_node('camera_node',
                    ['-p', 'rate_hz:=20.0', '-p', f'{key}:=reliable']) as overridden:
        assert spin_until(lambda: len(images) >= 2, timeout=30), overridden.output
        assert overridden.stop() == 0, overridden.output
    bad = start_node('camera_node', ['-p', f'{key}:=sometimes'])
    assert bad.wait(60) == 2, bad.output
    fatal = [line for line in bad.output.splitlines() if '[FATAL]' in line]
    assert len(fatal) == 1 and 'qos_overrides of /camera/image_raw' in fatal[0], bad.output
    assert 'Traceback' not in bad.output, bad.output
