"""
Monitor node: what the graph is doing, for RViz (text markers and an annotated camera image).

Topics in: ``camera/image_raw`` (or its ``/compressed`` with ``image_transport`` =
``compressed``), ``qcoinf/caption`` (qcoinf_ros/Caption: its header is its frame's, and it
carries its latencies; the edge's and the agent's local captions alike),
``qcoinf/bit_width``, ``qcoinf/frequency_profile``, ``qcoinf/deadline``, ``battery_state``
(read as the planner reads it), ``/diagnostics`` (the planner's E0, the actuator's energy per
inference).

Topics out: ``qcoinf/markers`` (visualization_msgs/MarkerArray, reliable depth 10): one
``TEXT_VIEW_FACING`` marker each for the current caption, the bit-width, the frequency profile,
the latency percentiles and the energy budget, in ``frame_id``, namespace ``qcoinf``, ids 0-4,
stamped with the publication time; ``qcoinf/annotated_image`` (sensor_msgs/Image ``rgb8``,
sensor-data QoS): in ``captioned`` mode the frame each caption was made from (the frame's own
header), enlarged, with the caption and the operating point drawn under it; in ``live`` mode
every frame (at most ``max_image_rate_hz``) with the latest caption; ``/diagnostics``.
"""

from __future__ import annotations

from collections import OrderedDict
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from sensor_msgs.msg import BatteryState, Image
from std_msgs.msg import Float64, UInt8
from visualization_msgs.msg import Marker, MarkerArray

from qcoinf_ros.core.imaging import check_image_size
from qcoinf_ros.core.monitor import annotate, marker_texts, MonitorState
from qcoinf_ros.core.planner.battery import ChargeReader
from qcoinf_ros.core.status_names import MONITOR, resolve_hardware_id, status_name
from qcoinf_ros.ros.battery import BATTERY_SCALE_PARAM
from qcoinf_ros.ros.diagnostics import HARDWARE_ID_PARAM, OK, publish_status, WARN
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.image import (
    array_to_image_msg, frame_size, frame_to_rgb, IMAGE_LIMIT_PARAMS, IMAGE_TRANSPORT_PARAM,
    subscribe_frames)
from qcoinf_ros.ros.messages import (
    Caption, caption_from_msg, FrequencyProfile, profile_from_msg)
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.qos import reliable, SENSOR, subscribe_state
from qcoinf_ros.ros.spin import run_node

PARAMS = [
    ParamSpec('frame_id', 'base_link', 'Frame of the text markers.'),
    ParamSpec('marker_rate_hz', 2.0, 'Rate of qcoinf/markers.', low=0.1, high=50.0,
              read_only=True),
    ParamSpec('text_height', 0.1, 'Height of the marker text [m].', low=0.005, high=10.0),
    ParamSpec('line_spacing', 0.15, 'Vertical distance between marker lines [m].', low=0.0,
              high=100.0),
    ParamSpec('mode', 'captioned', 'captioned: annotate the frame of each caption; live: '
              'annotate every frame with the latest caption.', choices=('captioned', 'live')),
    ParamSpec('max_image_rate_hz', 5.0, 'Most annotated images per second in live mode.',
              low=0.1, high=240.0),
    ParamSpec('min_image_width', 480, 'Annotated frames are enlarged to at least this width '
              '[px].', low=32, high=4096),
    ParamSpec('frame_buffer', 30, 'Camera frames kept to find the frame of a caption.', low=1,
              high=1000, read_only=True),
    ParamSpec('latency_window', 200, 'Frames over which latency percentiles are taken.',
              low=1, high=100000, read_only=True),
    ParamSpec('diagnostics_period', 1.0, 'Period of the /diagnostics status [s].', low=0.05,
              high=60.0, read_only=True),
    ParamSpec('max_statuses', 64, 'Distinct /diagnostics status names kept (the least recently '
              'updated is forgotten beyond).', low=1, high=10000, read_only=True),
    IMAGE_TRANSPORT_PARAM,
    BATTERY_SCALE_PARAM,
    *IMAGE_LIMIT_PARAMS,
    HARDWARE_ID_PARAM,
]


def _stamp_key(header) -> tuple[int, int, str]:
    return (header.stamp.sec, header.stamp.nanosec, header.frame_id)


class MonitorNode(Node):
    """Publishes RViz text markers and annotated frames summarising the running graph."""

    def __init__(self, **kwargs):
        super().__init__('monitor_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        self._hardware_id = resolve_hardware_id(self._p['hardware_id'])
        install_validator(self, PARAMS, on_change=self._p.update)
        # the budget and energy shown are those of this robot's planner and actuator
        self._state = MonitorState(latency_window=self._p['latency_window'],
                                   max_statuses=self._p['max_statuses'],
                                   namespace=self.get_namespace())
        self._own_status = status_name(self.get_fully_qualified_name(), MONITOR)
        self._frames: OrderedDict = OrderedDict()
        self._drops = DropLog(self.get_logger())
        self._charge = ChargeReader(self._p['battery_percentage_scale'])
        self._annotated = self._unmatched = 0
        self._last_live = 0.0
        self._markers = self.create_publisher(MarkerArray, 'qcoinf/markers', reliable(10))
        self._image_pub = self.create_publisher(Image, 'qcoinf/annotated_image', SENSOR)
        self._diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        subscribe_frames(self, 'camera/image_raw', self._p['image_transport'], self._on_image)
        # the edge's captions and the agent's local ones (local mode), each with its frame's
        # header and its latencies (qcoinf/latency and qcoinf/local_latency are not needed)
        self.create_subscription(Caption, 'qcoinf/caption', self._on_caption, reliable(10))
        subscribe_state(self, UInt8, 'qcoinf/bit_width', self._on_bit_width)
        subscribe_state(self, FrequencyProfile, 'qcoinf/frequency_profile', self._on_profile)
        subscribe_state(self, Float64, 'qcoinf/deadline', self._on_deadline)
        self.create_subscription(BatteryState, 'battery_state', self._on_battery, SENSOR)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.create_timer(1.0 / self._p['marker_rate_hz'], self._publish_markers)
        self.create_timer(self._p['diagnostics_period'], self._publish_diagnostics)

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    # -- inputs --------------------------------------------------------------------------
    def _on_image(self, msg) -> None:
        self._state.tick('camera/image_raw', self._now())
        try:  # before the frame is kept: frame_buffer frames of any size would add up
            check_image_size(*frame_size(msg), self._p['max_image_pixels'],
                             self._p['max_image_aspect'])
        except ValueError as exc:
            self._drops.drop_error('image.malformed', exc)
            return
        self._frames[_stamp_key(msg.header)] = msg
        while len(self._frames) > self._p['frame_buffer']:
            self._frames.popitem(last=False)
        if self._p['mode'] == 'live':
            now = self._now()
            if now - self._last_live >= 1.0 / self._p['max_image_rate_hz']:
                self._last_live = now
                self._publish_annotated(msg, self._state.caption or '(no caption yet)')

    def _on_caption(self, msg: Caption) -> None:
        now = self._now()
        try:
            caption = caption_from_msg(msg)
        except ValueError as exc:
            self._drops.drop('caption.malformed', str(exc))
            return
        self._state.tick('qcoinf/caption', now)
        self._state.on_caption(caption.text, now)
        times = (caption.latency_s, caption.encode_s, caption.decode_s)
        if all(t == t for t in times):  # NaN: not stamped, or not known (an old bag's)
            self._take('latency.range', self._state.on_latency, *times, now)
        self._annotate_pairs([(_stamp_key(msg.header), caption.text)])

    def _on_bit_width(self, msg: UInt8) -> None:
        self._state.on_bit_width(msg.data, self._now())

    def _on_profile(self, msg: FrequencyProfile) -> None:
        try:
            profile = profile_from_msg(msg)
        except ValueError as exc:
            self._drops.drop('frequency_profile.malformed', f'malformed frequency profile: {exc}')
            return
        self._state.on_profile(profile, self._now())

    def _on_deadline(self, msg: Float64) -> None:
        self._take('deadline.range', self._state.on_deadline, msg.data, self._now())

    def _on_battery(self, msg: BatteryState) -> None:
        try:  # as the planner reads it: 0..1 or 0..100, or charge / capacity for a NaN
            soc = self._charge.state_of_charge(msg.percentage, msg.charge, msg.capacity)
        except ValueError as exc:
            self._drops.drop('battery_state.range', str(exc))
            return
        if soc is not None:  # unknown: the last known charge stays on display
            self._take('battery_state.range', self._state.on_battery, soc, self._now())

    def _take(self, cls: str, method, *args) -> None:
        """Hand a value to the state; drop (as class ``cls``) what it rejected, and why."""
        before = self._state.rejected
        method(*args)
        if self._state.rejected != before:
            self._drops.drop(cls, self._state.last_rejection)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        now = self._now()
        for status in msg.status:
            if status.name == self._own_status:  # its own, not another robot's monitor
                continue
            level = status.level[0] if isinstance(status.level, bytes) else status.level
            self._state.on_status(status.name, level, status.message,
                                  {kv.key: kv.value for kv in status.values}, now)

    # -- outputs -------------------------------------------------------------------------
    def _annotate_pairs(self, pairs) -> None:
        if self._p['mode'] != 'captioned':
            return
        for key, caption in pairs:
            frame = self._frames.get(key)
            if frame is None:
                self._unmatched += 1
                continue
            self._publish_annotated(frame, caption)

    def _publish_annotated(self, frame, caption: str) -> None:
        try:
            rgb = frame_to_rgb(frame, self._p['max_image_pixels'], self._p['max_image_aspect'])
            image = annotate(rgb, [caption, self._state.operating_point()],
                             min_width=self._p['min_image_width'])
        except ValueError as exc:
            self._drops.drop_error('image.malformed', exc)
            return
        out = array_to_image_msg(image, 'rgb8')
        out.header = frame.header
        self._image_pub.publish(out)
        self._annotated += 1

    def _publish_markers(self) -> None:
        stamp = self.get_clock().now().to_msg()
        texts = marker_texts(self._state)
        array = MarkerArray()
        for i, line in enumerate(texts):
            marker = Marker()
            marker.header.frame_id = self._p['frame_id']
            marker.header.stamp = stamp
            marker.ns, marker.id = 'qcoinf', i
            marker.type, marker.action = Marker.TEXT_VIEW_FACING, Marker.ADD
            marker.pose.position.z = (len(texts) - 1 - i) * self._p['line_spacing']
            marker.pose.orientation.w = 1.0
            marker.scale.z = self._p['text_height']
            marker.color.r, marker.color.g, marker.color.b, marker.color.a = line.rgba
            marker.text = line.text
            array.markers.append(marker)
        self._markers.publish(array)

    def _publish_diagnostics(self) -> None:
        self._drops.tick()  # a summary of the drops since the last one, when due
        state = self._state
        values = {
            'mode': self._p['mode'], 'frames': state.counts.get('camera/image_raw', 0),
            'captions': state.counts.get('qcoinf/caption', 0),
            'annotated_images': self._annotated, 'captions_without_frame': self._unmatched,
            **self._drops.diagnostic_values(),
        }
        level = WARN if self._drops.total else OK
        publish_status(self, self._diag, MONITOR, level, f'{self._annotated} annotated images',
                       values, self._hardware_id)


def main(args=None) -> int:
    return run_node(MonitorNode, args, 'monitor_node')


if __name__ == '__main__':
    sys.exit(main())
