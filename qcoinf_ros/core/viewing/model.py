"""
The Foxglove view of the graph: from the graph's messages to the records of the view's channels.

A message is read by attribute, so rclpy's messages (the live bridge) and rosbags' (``qcoinf bag
mcap``) go through the same code, and so do the package's old types (the caption in
``std_msgs/String``, the plan as JSON in ``std_msgs/String``) and its own (``Caption``,
``FrequencyProfile``: ``.text``, ``.f_hz``). :meth:`GraphModel.on_message` returns the records to
log, each ``(channel topic, log time [ns], record)``; bad input raises ``ValueError`` (an
:class:`~qcoinf_ros.core.validation.InputError` naming its drop class) and leaves the state as it
was.

Records: the camera frame as ``foxglove.RawImage`` / ``foxglove.CompressedImage`` fields, the
caption drawn on it as a ``foxglove.ImageAnnotations`` text annotation, and JSON records with a
JSON schema for everything plotted: the plan (``qcoinf.Plan``: b, the clocks in GHz, the
predicted delay and energy, T0, E0), the measured latency with the deadline beside it
(``qcoinf.Latency``), the battery, the energy per inference against its budget, the captions,
and ``/diagnostics`` as ``diagnostic_msgs/msg/DiagnosticArray`` (Foxglove's diagnostics panels
read it by that name). Channel topics are the graph's topic names relative to its namespace,
with a leading ``/``: one layout fits every namespace.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import math
from typing import Any

import numpy as np

from qcoinf_ros.core.codec.plan import decode_profile
from qcoinf_ros.core.imaging.compressed import compressed_size, parse_format
from qcoinf_ros.core.imaging.convert import (check_image_size, DEFAULT_MAX_PIXELS,
                                             image_fields_to_array, ImageFields, to_rgb8)
from qcoinf_ros.core.status_names import FREQUENCY_ACTUATOR, PLANNER, status_task
from qcoinf_ros.core.validation import InputError

#: The graph's topics the view reads (relative to the namespace) -> what each is.
SOURCE_TOPICS = {
    'camera/image_raw': 'image',
    'camera/image_raw/compressed': 'compressed_image',
    'qcoinf/caption': 'caption',
    'qcoinf/latency': 'latency',
    'qcoinf/local_latency': 'local_latency',
    'qcoinf/frequency_profile': 'plan',
    'qcoinf/bit_width': 'bit_width',
    'qcoinf/deadline': 'deadline',
    'battery_state': 'battery',
    '/diagnostics': 'diagnostics',
}

#: RawImage encodings Foxglove draws as they are; others are converted to rgb8 here.
FOXGLOVE_RAW_ENCODINGS = frozenset((
    'rgb8', 'rgba8', 'bgr8', 'bgra8', 'mono8', 'mono16', '8UC1', '8UC3', '16UC1', '32FC1',
    'uyvy', 'yuv422', 'yuyv', 'yuv422_yuy2', 'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8',
    'bayer_grbg8'))

_NUM = {'type': ['number', 'null']}
_INT = {'type': ['integer', 'null']}
_STR = {'type': 'string'}


def _object(title: str, description: str, **properties) -> dict:
    return {'$schema': 'https://json-schema.org/draft/2020-12/schema', 'title': title,
            'description': description, 'type': 'object', 'properties': properties}


PLAN_SCHEMA = _object(
    'qcoinf.Plan', "the planner's operating point and the budgets it was planned for",
    name=_STR, bit_width=_INT, f_ghz=_NUM, f_server_ghz=_NUM, feasible={'type': 'boolean'},
    predicted_delay_s=_NUM, predicted_agent_delay_s=_NUM, predicted_energy_j=_NUM,
    deadline_s=_NUM, energy_budget_j=_NUM)
LATENCY_SCHEMA = _object(
    'qcoinf.Latency', 'the measured latency of one caption [s], with the deadline T0 in force',
    end_to_end_s=_NUM, encode_s=_NUM, decode_s=_NUM, deadline_s=_NUM,
    over_deadline={'type': ['boolean', 'null']}, local={'type': 'boolean'},
    frame_stamp_s=_NUM)
BATTERY_SCHEMA = _object(
    'qcoinf.Battery', 'sensor_msgs/BatteryState, plottable', percent=_NUM, voltage_v=_NUM,
    current_a=_NUM, charge_ah=_NUM, present={'type': 'boolean'})
ENERGY_SCHEMA = _object(
    'qcoinf.Energy', 'energy per inference (actuator: measured or predicted) vs budget E0 [J]',
    per_inference_j=_NUM, budget_j=_NUM, predicted_j=_NUM, source=_STR)
CAPTION_SCHEMA = _object(
    'qcoinf.Caption', 'a caption and the frame it describes', text=_STR, origin=_STR,
    bit_width=_INT, latency_s=_NUM, frame_stamp_s=_NUM, frame_id=_STR)
_KV = {'type': 'object', 'properties': {'key': _STR, 'value': _STR}}
_STAMP = {'type': 'object', 'properties': {'sec': {'type': 'integer'},
                                           'nanosec': {'type': 'integer'}}}
DIAGNOSTICS_SCHEMA = _object(
    'diagnostic_msgs/msg/DiagnosticArray', '/diagnostics as JSON',
    header={'type': 'object', 'properties': {'stamp': _STAMP, 'frame_id': _STR}},
    status={'type': 'array', 'items': {'type': 'object', 'properties': {
        'level': {'type': 'integer'}, 'name': _STR, 'message': _STR, 'hardware_id': _STR,
        'values': {'type': 'array', 'items': _KV}}}})


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of the view: its topic, schema name, kind, and JSON schema (JSON kinds)."""

    topic: str
    schema_name: str
    kind: str  # 'raw_image', 'compressed_image', 'image_annotations' or 'json'
    json_schema: dict | None = None


IMAGE, COMPRESSED = '/camera/image_raw', '/camera/image_raw/compressed'
ANNOTATIONS, CAPTION = '/qcoinf/caption/annotations', '/qcoinf/caption'
PLAN, LATENCY, BATTERY = '/qcoinf/plan', '/qcoinf/latency', '/battery_state'
ENERGY, DIAGNOSTICS = '/qcoinf/energy', '/diagnostics'

#: Every channel of the view, by topic.
CHANNELS = {spec.topic: spec for spec in (
    ChannelSpec(IMAGE, 'foxglove.RawImage', 'raw_image'),
    ChannelSpec(COMPRESSED, 'foxglove.CompressedImage', 'compressed_image'),
    ChannelSpec(ANNOTATIONS, 'foxglove.ImageAnnotations', 'image_annotations'),
    ChannelSpec(CAPTION, 'qcoinf.Caption', 'json', CAPTION_SCHEMA),
    ChannelSpec(PLAN, 'qcoinf.Plan', 'json', PLAN_SCHEMA),
    ChannelSpec(LATENCY, 'qcoinf.Latency', 'json', LATENCY_SCHEMA),
    ChannelSpec(BATTERY, 'qcoinf.Battery', 'json', BATTERY_SCHEMA),
    ChannelSpec(ENERGY, 'qcoinf.Energy', 'json', ENERGY_SCHEMA),
    ChannelSpec(DIAGNOSTICS, 'diagnostic_msgs/msg/DiagnosticArray', 'json', DIAGNOSTICS_SCHEMA),
)}


def view_topics(image: str = 'raw') -> list[str]:
    """Return the channels of a view whose frames are ``image``: 'raw', 'compressed' or 'none'."""
    skip = {'raw': {COMPRESSED}, 'compressed': {IMAGE}, 'none': {IMAGE, COMPRESSED}}[image]
    return [topic for topic in CHANNELS if topic not in skip]


#: Longest caption drawn [characters]; the rest is cut with an ellipsis.
MAX_CAPTION_CHARS = 200
_MAX_TEXT = 4096


def _finite(value) -> float | None:
    """Return ``value`` as a float, or None where it is NaN, infinite or no number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _stamp_ns(header) -> int:
    sec, nanosec = int(header.stamp.sec), int(header.stamp.nanosec)
    if sec < 0 or not 0 <= nanosec < 1_000_000_000:
        raise InputError('header.stamp', f'invalid stamp {sec} s {nanosec} ns')
    return sec * 1_000_000_000 + nanosec


def _text(value, what: str) -> str:
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    if not isinstance(value, str):
        raise InputError('view.type', f'{what} is not text: {type(value).__name__}')
    if len(value) > _MAX_TEXT:
        raise InputError('view.size', f'{what} of {len(value)} characters (at most {_MAX_TEXT})')
    return value


class GraphModel:
    """
    The view's state (latest frame size and stamp, plan, T0, E0) and its records per message.

    ``compressed``: the frames come from ``camera/image_raw/compressed`` (else raw).
    """

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.max_pixels = int(max_pixels)
        self.frame_size = (640, 480)
        self.frame_stamp_ns: int | None = None
        self.frame_id = ''
        self.plan: dict[str, Any] = {'name': '', 'bit_width': None, 'f_ghz': None,
                                     'f_server_ghz': None, 'feasible': True,
                                     'predicted_delay_s': None, 'predicted_agent_delay_s': None,
                                     'predicted_energy_j': None, 'deadline_s': None,
                                     'energy_budget_j': None}
        self.energy: dict[str, Any] = {'per_inference_j': None, 'budget_j': None,
                                       'predicted_j': None, 'source': ''}

    def on_message(self, kind: str, msg, receive_ns: int) -> list[tuple[str, int, Any]]:
        """Return the records that ``msg`` (of ``kind``, :data:`SOURCE_TOPICS`) makes."""
        handler = getattr(self, f'_on_{kind}', None)
        if handler is None:
            raise ValueError(f'no such source kind {kind!r}')
        try:
            return handler(msg, int(receive_ns))
        except InputError:
            raise
        except (AttributeError, TypeError, ValueError, OverflowError, UnicodeError) as exc:
            raise InputError('view.message', f'{kind}: {type(exc).__name__}: {exc}') from exc

    # -- frames
    def _on_image(self, msg, now):
        width, height = int(msg.width), int(msg.height)
        check_image_size(width, height, self.max_pixels)
        encoding = _text(msg.encoding, 'encoding')
        step, data = int(msg.step), bytes(msg.data)
        stamp = _stamp_ns(msg.header)
        fields = ImageFields(height, width, encoding, step, data, bool(msg.is_bigendian))
        if encoding not in FOXGLOVE_RAW_ENCODINGS or fields.is_bigendian:
            rgb = np.ascontiguousarray(to_rgb8(image_fields_to_array(fields), encoding))
            encoding, step, data = 'rgb8', width * 3, rgb.tobytes()
        elif step < width or step * height > len(data):
            raise InputError('image.data', f'{width}x{height} {encoding} with step {step} needs '
                             f'{step * height} bytes, got {len(data)}')
        self._frame(stamp, _text(msg.header.frame_id, 'frame_id'), width, height)
        return [(IMAGE, now, {'timestamp_ns': stamp, 'frame_id': self.frame_id,
                              'width': width, 'height': height, 'encoding': encoding,
                              'step': step, 'data': data})]

    def _on_compressed_image(self, msg, now):
        fmt = parse_format(_text(msg.format, 'format'))
        stamp = _stamp_ns(msg.header)
        data = bytes(msg.data)
        if not data:
            raise InputError('image.data', 'empty compressed image')
        width, height = compressed_size(data, fmt.codec)
        check_image_size(width, height, self.max_pixels)
        self._frame(stamp, _text(msg.header.frame_id, 'frame_id'), width, height)
        return [(COMPRESSED, now, {'timestamp_ns': stamp, 'frame_id': self.frame_id,
                                   'format': fmt.codec, 'data': data})]

    def _frame(self, stamp: int, frame_id: str, width: int, height: int) -> None:
        self.frame_stamp_ns, self.frame_id, self.frame_size = stamp, frame_id, (width, height)

    # -- captions
    def _on_caption(self, msg, now):
        if hasattr(msg, 'text'):  # qcoinf_ros/msg/Caption: the frame's header
            text = _text(msg.text, 'caption')
            stamp, frame_id = _stamp_ns(msg.header), _text(msg.header.frame_id, 'frame_id')
            origin = 'local' if int(msg.origin) == 1 else 'edge'
            bit_width, latency = int(msg.bit_width), _finite(msg.latency_s)
        else:  # std_msgs/String: drawn on the latest frame
            text = _text(msg.data, 'caption')
            stamp, frame_id = self.frame_stamp_ns, self.frame_id
            origin, bit_width, latency = '', None, None
        shown = text if len(text) <= MAX_CAPTION_CHARS else text[:MAX_CAPTION_CHARS - 1] + '…'
        width, height = self.frame_size
        # a line of the frame's height / 14, narrowed to fit its width (~0.55 em a character)
        font = float(max(4.0, min(height / 14, width / (0.55 * max(len(shown), 1)) * 0.95)))
        annotation_stamp = stamp if stamp is not None else now
        annotations = {'timestamp_ns': annotation_stamp, 'texts': [{
            'x': font * 0.5, 'y': font * 1.2, 'text': shown, 'font_size': font,
            'text_color': (1.0, 1.0, 1.0, 1.0), 'background_color': (0.0, 0.0, 0.0, 0.6)}]}
        caption = {'text': text, 'origin': origin, 'bit_width': bit_width, 'latency_s': latency,
                   'frame_stamp_s': None if stamp is None else stamp / 1e9,
                   'frame_id': frame_id}
        return [(ANNOTATIONS, now, annotations), (CAPTION, now, caption)]

    # -- latency and the plan
    def _latency(self, msg, now, local):
        v = msg.vector
        e2e, deadline = _finite(v.x), self.plan['deadline_s']
        return [(LATENCY, now, {
            'end_to_end_s': e2e, 'encode_s': _finite(v.y), 'decode_s': _finite(v.z),
            'deadline_s': deadline,
            'over_deadline': None if e2e is None or deadline is None else e2e > deadline,
            'local': local, 'frame_stamp_s': _stamp_ns(msg.header) / 1e9})]

    def _on_latency(self, msg, now):
        return self._latency(msg, now, False)

    def _on_local_latency(self, msg, now):
        return self._latency(msg, now, True)

    def _on_plan(self, msg, now):
        if hasattr(msg, 'f_hz'):  # qcoinf_ros/msg/FrequencyProfile
            name, f, f_server = _text(msg.name, 'name'), msg.f_hz, msg.f_server_hz
            bits, feasible = int(msg.bit_width), bool(msg.feasible)
            delay, energy, agent = (msg.predicted_delay_s, msg.predicted_energy_j,
                                    msg.predicted_agent_delay_s)
        else:  # std_msgs/String carrying the JSON of qcoinf_ros.core.codec.plan
            p = decode_profile(_text(msg.data, 'frequency profile'))
            name, f, f_server, bits, feasible = p.name, p.f, p.f_server, p.bit_width, p.feasible
            delay, energy, agent = (p.predicted_delay_s, p.predicted_energy_j,
                                    p.predicted_agent_delay_s)
        f_ghz, f_server_ghz = _finite(f), _finite(f_server)
        self.plan.update(name=name, bit_width=bits, feasible=feasible,
                         f_ghz=None if f_ghz is None else f_ghz / 1e9,
                         f_server_ghz=None if f_server_ghz is None else f_server_ghz / 1e9,
                         predicted_delay_s=_finite(delay), predicted_energy_j=_finite(energy),
                         predicted_agent_delay_s=_finite(agent))
        self.energy['predicted_j'] = self.plan['predicted_energy_j']
        return [(PLAN, now, dict(self.plan)), (ENERGY, now, dict(self.energy))]

    def _on_bit_width(self, msg, now):
        bits = int(msg.data)
        if not 1 <= bits <= 64:
            raise InputError('view.value', f'bit width {bits} outside 1..64')
        self.plan['bit_width'] = bits
        return [(PLAN, now, dict(self.plan))]

    def _on_deadline(self, msg, now):
        t0 = _finite(msg.data)
        if t0 is None or t0 <= 0:
            raise InputError('view.value', f'deadline {msg.data!r} is not a positive number')
        self.plan['deadline_s'] = t0
        return [(PLAN, now, dict(self.plan))]

    # -- battery and diagnostics
    def _on_battery(self, msg, now):
        pct = _finite(msg.percentage)
        return [(BATTERY, now, {
            'percent': None if pct is None else 100.0 * pct, 'voltage_v': _finite(msg.voltage),
            'current_a': _finite(msg.current), 'charge_ah': _finite(msg.charge),
            'present': bool(msg.present)})]

    def _on_diagnostics(self, msg, now):
        statuses = []
        energy_changed = False
        for status in msg.status:
            level = status.level
            level = level[0] if isinstance(level, (bytes, bytearray)) else int(level)
            name = _text(status.name, 'status name')
            values = [{'key': _text(kv.key, 'key'), 'value': _text(kv.value, 'value')}
                      for kv in status.values]
            statuses.append({'level': int(level), 'name': name,
                             'message': _text(status.message, 'message'),
                             'hardware_id': _text(status.hardware_id, 'hardware_id'),
                             'values': values})
            energy_changed |= self._energy_values(name, {v['key']: v['value'] for v in values})
        stamp = _stamp_ns(msg.header)
        out = [(DIAGNOSTICS, now, {
            'header': {'stamp': {'sec': stamp // 1_000_000_000,
                                 'nanosec': stamp % 1_000_000_000},
                       'frame_id': _text(msg.header.frame_id, 'frame_id')},
            'status': statuses})]
        if energy_changed:
            out.append((ENERGY, now, dict(self.energy)))
            out.append((PLAN, now, dict(self.plan)))
        return out

    def _energy_values(self, name: str, values: dict[str, str]) -> bool:
        try:
            task = status_task(name)
        except ValueError:
            return False
        before = dict(self.energy)
        if task == PLANNER and 'E0_J' in values:
            self.energy['budget_j'] = self.plan['energy_budget_j'] = _finite(values['E0_J'])
        elif task == FREQUENCY_ACTUATOR and 'energy_per_inference_J' in values:
            self.energy['per_inference_j'] = _finite(values['energy_per_inference_J'])
            self.energy['source'] = values.get('energy_source', '')
        return self.energy != before


def encode_json(record: dict) -> bytes:
    """Return a JSON record as the view's channels carry it (NaN never appears: it is null)."""
    return json.dumps(record, allow_nan=False, separators=(',', ':')).encode()
