"""
The monitor node in its own process: RViz content checked message by message, no screenshot.

The test publishes what the graph would (plan, deadline, budget, frames, a caption with its
latency) and asserts on ``qcoinf/markers`` (frame, stamps, ids, texts) and on
``qcoinf/annotated_image`` (the captioned frame's header, and pixel for pixel the image the pure
:func:`qcoinf_ros.core.monitor.annotate` draws for that frame, caption and operating point).
"""

import socket
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def test_markers_and_annotated_image(start_node, rclpy_node, spin_until):
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float64, UInt8
    from visualization_msgs.msg import Marker, MarkerArray

    from qcoinf_ros.core.codec.caption import CaptionRecord
    from qcoinf_ros.core.codec.plan import ProfileMessage
    from qcoinf_ros.core.imaging import image_fields_to_array, ImageFields
    from qcoinf_ros.core.monitor import annotate
    from qcoinf_ros.core.status_names import MONITOR, PLANNER, status_name, status_task
    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.messages import Caption, caption_msg, FrequencyProfile, profile_msg
    from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR

    node = rclpy_node
    markers, images, statuses = [], [], []
    node.create_subscription(MarkerArray, 'qcoinf/markers', markers.append, reliable(10))
    node.create_subscription(Image, 'qcoinf/annotated_image', images.append, SENSOR)
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: statuses.extend(s for s in m.status
                                                       if status_task(s.name) == MONITOR), 10)
    pubs = {
        'bits': node.create_publisher(UInt8, 'qcoinf/bit_width', LATCHED),
        'profile': node.create_publisher(FrequencyProfile, 'qcoinf/frequency_profile', LATCHED),
        'deadline': node.create_publisher(Float64, 'qcoinf/deadline', LATCHED),
        'diag': node.create_publisher(DiagnosticArray, '/diagnostics', 10),
        'camera': node.create_publisher(Image, 'camera/image_raw', SENSOR),
        'caption': node.create_publisher(Caption, 'qcoinf/caption', reliable(10)),
    }
    params = ['-p', 'frame_id:=robot_base', '-p', 'marker_rate_hz:=5.0',
              '-p', 'min_image_width:=256', '-p', 'diagnostics_period:=0.2']
    with start_node('monitor_node', params) as proc:
        assert spin_until(lambda: all(p.get_subscription_count() >= 1 for p in pubs.values()),
                          timeout=30), proc.output
        pubs['bits'].publish(UInt8(data=6))
        pubs['profile'].publish(profile_msg(ProfileMessage(
            'continuous', 1.2e9, 4e9, 6, True, predicted_delay_s=0.4, predicted_energy_j=0.3)))
        pubs['deadline'].publish(Float64(data=2.5))
        # another robot's planner on the same /diagnostics, then this (root) graph's own:
        # the monitor shows its namespace's budget, not robot2's nor "unknown" for two
        for name, e0 in ((status_name('/robot2/planner_node', PLANNER), '9.0'),
                         (status_name('/planner_node', PLANNER), '0.5')):
            status = DiagnosticStatus(name=name, message='plan feasible',
                                      values=[KeyValue(key='E0_J', value=e0)])
            pubs['diag'].publish(DiagnosticArray(status=[status]))
        assert spin_until(lambda: markers and 'E0 = 0.5 J' in markers[-1].markers[4].text and
                          'T0 = 2.5 s' in markers[-1].markers[2].text, timeout=15), proc.output

        # frames until the monitor has some (sensor data is best effort), then one caption
        rng = np.random.default_rng(0)
        frames = []
        for k in range(40):
            frame = array_to_image_msg(rng.integers(0, 256, (40, 64, 3), np.uint8), 'rgb8')
            frame.header.frame_id = 'camera'
            frame.header.stamp.sec, frame.header.stamp.nanosec = 1000 + k, 5
            frames.append(frame)
            pubs['camera'].publish(frame)
            if spin_until(lambda: statuses and _value(statuses[-1], 'frames') >= 3,
                          timeout=0.1):
                break
        captioned = frames[-1]
        # the caption carries its frame's header and its latencies
        pubs['caption'].publish(caption_msg(CaptionRecord(
            'a small red circle left of a blue square', bit_width=6, tokens=9, latency_s=0.25,
            encode_s=0.02, decode_s=0.1), captioned.header))
        assert spin_until(lambda: images, timeout=15), proc.output

        # --- the annotated image: that frame's header, and exactly the expected pixels
        out = images[-1]
        assert (out.header.frame_id, out.header.stamp.sec, out.header.stamp.nanosec) == \
            ('camera', captioned.header.stamp.sec, 5)
        assert out.encoding == 'rgb8' and out.width == 256
        got = image_fields_to_array(ImageFields(out.height, out.width, out.encoding, out.step,
                                                bytes(out.data)))
        source = image_fields_to_array(ImageFields(40, 64, 'rgb8', 192,
                                                   bytes(captioned.data)))
        expected = annotate(source, ['a small red circle left of a blue square',
                                     'b = 6  f = 1.2 GHz  f~ = 4 GHz  T0 = 2.5 s  E0 = 0.5 J'],
                            min_width=256)
        assert np.array_equal(got, expected)

        # --- the markers: frame, fresh stamps, ids, types and texts
        markers.clear()
        assert spin_until(lambda: markers and 'latency p50 250.0 ms' in
                          markers[-1].markers[3].text, timeout=10), proc.output
        array = markers[-1]
        now = time.time()
        assert [m.id for m in array.markers] == [0, 1, 2, 3, 4]
        for m in array.markers:
            assert m.header.frame_id == 'robot_base' and m.ns == 'qcoinf'
            assert m.type == Marker.TEXT_VIEW_FACING and m.action == Marker.ADD
            assert abs(m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec - now) < 10.0
            assert m.scale.z == pytest.approx(0.1) and m.color.a == pytest.approx(1.0)
        texts = [m.text for m in array.markers]
        assert texts[0] == 'caption: "a small red circle left of a blue square"'
        assert texts[1] == 'bit-width b = 6'
        assert texts[2] == 'profile continuous: f = 1.2 GHz, f~ = 4 GHz, T0 = 2.5 s, feasible'
        assert texts[3] == 'latency p50 250.0 ms, p95 250.0 ms (n = 1)'
        assert texts[4] == 'energy budget E0 = 0.5 J, E = 0.3 J/inference, predicted (plan)'
        zs = [m.pose.position.z for m in array.markers]
        assert zs == sorted(zs, reverse=True) and zs[-1] == 0.0  # caption on top
        assert spin_until(lambda: _value(statuses[-1], 'annotated_images') == 1, timeout=5)
        # its own status: named after the node, on this host (hardware_id left at '')
        assert statuses[-1].name == '/monitor_node: monitor'
        assert statuses[-1].hardware_id == socket.gethostname()
        assert proc.returncode is None


def _value(status, key):
    return int(next(kv.value for kv in status.values if kv.key == key))


def test_the_monitor_reads_batteries_as_drivers_publish_them(start_node, rclpy_node, spin_until):
    # NaN percentage with charge/capacity, and a 0..100 driver: shown as the planner reads them
    from sensor_msgs.msg import BatteryState
    from visualization_msgs.msg import MarkerArray

    from qcoinf_ros.ros.qos import reliable, SENSOR

    markers = []
    rclpy_node.create_subscription(MarkerArray, 'qcoinf/markers', markers.append, reliable(10))
    battery = rclpy_node.create_publisher(BatteryState, 'battery_state', SENSOR)

    def shown(text):
        return bool(markers) and any(text in m.text for m in markers[-1].markers)

    with start_node('monitor_node', ['-p', 'marker_rate_hz:=10.0']) as proc:
        assert spin_until(lambda: battery.get_subscription_count() >= 1, timeout=30)
        for msg, text in ((BatteryState(percentage=float('nan'), charge=1.5, capacity=2.0),
                           'battery 75%'),
                          (BatteryState(percentage=42.0), 'battery 42%'),
                          (BatteryState(percentage=float('nan')), 'battery 42%')):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not shown(text):
                battery.publish(msg)
                spin_until(lambda: shown(text), timeout=0.3)
            assert shown(text), (text, [m.text for m in markers[-1].markers], proc.output)
        assert 'dropped battery_state' not in proc.output, proc.output
