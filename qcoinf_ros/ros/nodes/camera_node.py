"""
Camera node: frames from a V4L2 device, a video file or an image folder, at a set rate.

A V4L2 device is opened by path (``device_path``, e.g. ``/dev/video2`` or a
``/dev/v4l/by-id/...`` link) or index, at the ``capture_width`` x ``capture_height``,
``capture_fps`` and ``pixel_format`` asked for; what the driver gives is logged, with a warning
naming every setting it did not take.

With no configuration (``source`` auto and no ``path``) it publishes the bundled scenes and says
so once in the log, with how to point it at a camera.

Topics out: ``camera/image_raw`` (sensor_msgs/Image, sensor-data QoS), its
``camera/image_raw/compressed`` (sensor_msgs/CompressedImage, ``compressed_format`` jpeg or png
written as image_transport's compressed plugin writes it; encoded only while someone
subscribes, as image_transport does; the base topic as remapped) and ``camera/camera_info``
(sensor_msgs/CameraInfo, pinhole model from ``fov_deg``), stamped with the capture time and
``frame_id``.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from qcoinf_ros.core.imaging import CODECS, encode_compressed
from qcoinf_ros.core.imaging.sources import (
    CaptureSettings, CaptureSource, make_source, resize_rgb, resolve_source, SOURCE_KINDS)
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.image import array_to_image_msg, converter_name, IMAGE_LIMIT_PARAMS
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.qos import SENSOR, with_overrides
from qcoinf_ros.ros.spin import run_node

PARAMS = [
    ParamSpec('source', 'auto', 'Where frames come from; auto: the folder or video at path, '
              'or with no path the bundled scenes.', choices=SOURCE_KINDS,
              read_only=True),
    ParamSpec('device_index', 0, 'V4L2 device index (source=device).', low=0, high=255,
              read_only=True),
    ParamSpec('device_path', '', 'V4L2 device path, e.g. /dev/video2 or a /dev/v4l/by-id/ '
              'link (source=device); wins over device_index.', read_only=True),
    ParamSpec('capture_width', 0, 'Frame width asked of the device [px]; 0: its default.',
              low=0, high=8192, read_only=True),
    ParamSpec('capture_height', 0, 'Frame height asked of the device [px]; 0: its default.',
              low=0, high=8192, read_only=True),
    ParamSpec('capture_fps', 0.0, 'Frame rate asked of the device [Hz]; 0: its default.',
              low=0.0, high=1000.0, read_only=True),
    ParamSpec('pixel_format', '', 'V4L2 pixel format (FourCC) asked of the device, e.g. MJPG, '
              'YUYV, UYVY, NV12, GREY; empty: its default.', read_only=True),
    ParamSpec('path', '', 'Video file (source=video) or image folder (source=folder).',
              read_only=True),
    ParamSpec('scene_split', 'test', 'Split of the scene generator (source=scenes).',
              choices=('train', 'val', 'test'), read_only=True),
    ParamSpec('scene_count', 100, 'Scenes 0..count-1 of the split (source=scenes).',
              low=1, high=1000000, read_only=True),
    ParamSpec('scene_size', 96, 'Side of the generated scenes [px] (source=scenes); 96 is '
              'what the default captioner was trained on.',
              low=32, high=1024, read_only=True),
    ParamSpec('loop', True, 'Start over at the end of a video or folder.', read_only=True),
    ParamSpec('rate_hz', 5.0, 'Publishing rate [Hz].', low=0.01, high=240.0),
    ParamSpec('frame_id', 'camera', 'frame_id of the published headers.'),
    ParamSpec('width', 0, 'Resize to this width [px]; 0 keeps the source size.',
              low=0, high=8192),
    ParamSpec('height', 0, 'Resize to this height [px]; 0 keeps the source size.',
              low=0, high=8192),
    ParamSpec('encoding', 'rgb8', 'Encoding of camera/image_raw.', choices=('rgb8', 'bgr8')),
    ParamSpec('compressed_format', 'jpeg', 'Codec of camera/image_raw/compressed.',
              choices=CODECS),
    ParamSpec('jpeg_quality', 95, 'JPEG quality of camera/image_raw/compressed (95: the '
              'default of image_transport).', low=1, high=100),
    ParamSpec('fov_deg', 60.0, 'Horizontal field of view for camera_info [deg].',
              low=1.0, high=179.0),
    ParamSpec('max_frames', 0, 'Stop after this many frames; 0 means no limit.',
              low=0, high=2**31 - 1),
    ParamSpec('wait_for_subscribers', 0, 'Publish the first frame only once this many '
              'subscribers match camera/image_raw and its compressed topic (best effort: '
              'frames sent before a subscriber matched are lost); 0 does not wait.', low=0,
              high=1000, read_only=True),
    ParamSpec('wait_timeout', 10.0, 'Longest such wait [s]; then the frames start anyway.',
              low=0.0, high=3600.0, read_only=True),
    *IMAGE_LIMIT_PARAMS,  # on the published frame: a resize or a source beyond them is dropped
]


class CameraNode(Node):
    """Publishes frames and camera info."""

    def __init__(self, **kwargs):
        super().__init__('camera_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        kind, note = resolve_source(self._p['source'], self._p['path'])
        if note:
            self.get_logger().info(note)
        self._source = make_source(
            kind, device_index=self._p['device_index'], path=self._p['path'],
            loop=self._p['loop'], scene_split=self._p['scene_split'],
            scene_count=self._p['scene_count'], scene_size=self._p['scene_size'],
            device_path=self._p['device_path'], capture=CaptureSettings(
                self._p['capture_width'], self._p['capture_height'], self._p['capture_fps'],
                self._p['pixel_format']))
        if isinstance(self._source, CaptureSource) and kind == 'device':
            self._log_negotiated(self._source)
        # the standard qos_overrides.<topic>.publisher.* start parameters apply (as a driver's)
        self._image_pub = with_overrides(self, self.create_publisher, 'camera/image_raw',
                                         Image, 'camera/image_raw', SENSOR)
        compressed = self.resolve_topic_name('camera/image_raw') + '/compressed'
        self._compressed_pub = with_overrides(self, self.create_publisher, compressed,
                                              CompressedImage, compressed, SENSOR)
        self._info_pub = self.create_publisher(CameraInfo, 'camera/camera_info', SENSOR)
        self._drops = DropLog(self.get_logger())
        self.frames = 0
        self._waiting_since = time.monotonic() if self._p['wait_for_subscribers'] else None
        self._timer = self.create_timer(1.0 / self._p['rate_hz'], self._tick)
        install_validator(self, PARAMS, on_change=self._on_change)
        where = kind + (f' {self._p["path"]}' if self._p['path'] else '') + (
            f' {self._p["device_path"] or self._p["device_index"]}' if kind == 'device' else '')
        self.get_logger().info(f'camera: {where} at '
                               f'{self._p["rate_hz"]:g} Hz (image converter: '
                               f'{converter_name()}, numpy {np.__version__})')

    def _log_negotiated(self, source: CaptureSource) -> None:
        got = source.negotiated()
        self.get_logger().info(f'camera device gives {got.width}x{got.height} at {got.fps:g} Hz, '
                               f'pixel format {got.pixel_format or "unknown"}')
        missed = source.mismatches()
        if missed:
            self.get_logger().warning('camera device did not take ' + ', '.join(missed))

    @property
    def finished(self) -> bool:
        return 0 < self._p['max_frames'] <= self.frames

    def _on_change(self, changed: dict) -> None:
        self._p.update(changed)
        if 'rate_hz' in changed:
            self._timer.cancel()
            self._timer = self.create_timer(1.0 / self._p['rate_hz'], self._tick)

    def _tick(self) -> None:
        self._drops.tick()  # a summary of the drops since the last one, when due
        if self.finished or not self._subscribers_ready():
            return
        try:
            frame = self._source.read()
            if frame is None:
                return  # the source ran dry (no loop)
            frame = resize_rgb(frame, self._p['width'], self._p['height'],
                               self._p['max_image_pixels'], self._p['max_image_aspect'])
        except ValueError as exc:
            self._drops.drop_error('frame.invalid', exc)
            return
        if self._p['encoding'] == 'bgr8':
            frame = frame[:, :, ::-1]
        msg = array_to_image_msg(frame, self._p['encoding'])
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self._p['frame_id']
        self._image_pub.publish(msg)
        if self._compressed_pub.get_subscription_count():
            self._publish_compressed(frame, msg.header)
        self._info_pub.publish(self._camera_info(msg))
        self.frames += 1

    def _publish_compressed(self, frame: np.ndarray, header) -> None:
        rgb = frame[:, :, ::-1] if self._p['encoding'] == 'bgr8' else frame
        try:
            fmt, data = encode_compressed(np.ascontiguousarray(rgb),
                                          self._p['compressed_format'],
                                          self._p['jpeg_quality'], self._p['encoding'])
        except ValueError as exc:
            self._drops.drop('frame.compress_failed', str(exc))
            return
        self._compressed_pub.publish(CompressedImage(header=header, format=fmt, data=data))

    def _subscribers_ready(self) -> bool:
        if self._waiting_since is None:
            return True
        want = self._p['wait_for_subscribers']
        have = (self._image_pub.get_subscription_count()
                + self._compressed_pub.get_subscription_count())
        waited = time.monotonic() - self._waiting_since
        if have < want and waited < self._p['wait_timeout']:
            return False
        self.get_logger().info(f'camera starts: {have} subscriber(s) after {waited:.1f} s' +
                               ('' if have >= want else f' (wanted {want}: timed out)'))
        self._waiting_since = None
        return True

    def _camera_info(self, image) -> CameraInfo:
        info = CameraInfo()
        info.header = image.header
        info.width, info.height = image.width, image.height
        fx = image.width / (2.0 * math.tan(math.radians(self._p['fov_deg']) / 2.0))
        cx, cy = (image.width - 1) / 2.0, (image.height - 1) / 2.0
        info.distortion_model = 'plumb_bob'
        info.d = [0.0] * 5
        info.k = [fx, 0.0, cx, 0.0, fx, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, 0.0, 0.0, fx, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def destroy_node(self):
        if getattr(self, '_source', None) is not None:  # absent when the constructor refused
            self._source.close()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(CameraNode, args, 'camera_node', done=lambda node: node.finished)


if __name__ == '__main__':
    sys.exit(main())
