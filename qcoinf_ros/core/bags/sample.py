"""
The sample bag: camera frames, a draining battery and deadline changes — the graph's inputs.

A pure function of :class:`SampleScenario`: the frames are scenes of the package's seeded scene
generator (:mod:`qcoinf_ros.core.scenes`), the battery follows
:class:`~qcoinf_ros.core.scenario.schedule.BatteryDrain` and the deadline steps at given times, all
stamped from a fixed start time. Writing it twice gives the same messages; replaying it through
the agent encoder, edge decoder and planner gives the same captions and plans
(``test/graph/test_bag_replay.py``).

``camera_format`` makes the frames as a robot's camera driver and recorder leave them: ``rgb8``
(the default), a driver's raw encoding (``yuv422_yuy2``, ``uyvy``, ``nv12``, ``bayer_rggb8``...,
:mod:`qcoinf_ros.core.imaging.driver_frames`) on ``/camera/image_raw``, or ``jpeg`` / ``png``
CompressedImage frames on ``/camera/image_raw/compressed``, as image_transport's compressed
plugin writes them (``ros2 bag record /camera/image_raw/compressed``).

Timing (default scenario): battery messages at ``0.8 k`` s, deadline changes at ``0.2 + 0.8 k``
s, frames at ``0.5 + 0.8 k`` s, so every frame is at least 0.3 s after the plan inputs that
precede it and the plan in force for each frame does not depend on scheduling jitter.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path

import numpy as np

from qcoinf_ros.core import qos
from qcoinf_ros.core.bags.cdr import build, header, serialize, typestore
from qcoinf_ros.core.bags.storage import BagInfo, BagReader, check_name, TopicSpec, write_bag
from qcoinf_ros.core.imaging import (
    array_to_image_fields, CODECS, DRIVER_ENCODINGS, encode_compressed)
from qcoinf_ros.core.imaging.driver_frames import driver_frame
from qcoinf_ros.core.scenario.schedule import BatteryDrain
from qcoinf_ros.core.validation import require_int_in_range, require_positive

CAMERA, BATTERY, DEADLINE = '/camera/image_raw', '/battery_state', '/qcoinf/deadline'
#: What ``SampleScenario.camera_format`` takes.
CAMERA_FORMATS = ('rgb8', *DRIVER_ENCODINGS, *CODECS)
#: 2026-01-01T00:00:00Z: the sample's first message time.
START_NS = 1_767_225_600 * 1_000_000_000


@dataclass(frozen=True)
class SampleScenario:
    """What the sample bag holds and when (times in seconds from its start)."""

    frames: int = 10
    frame_offset_s: float = 0.5
    period_s: float = 0.8  # frames and battery messages
    image_size: int = 96  # the default captioner's input size
    split: str = 'test'
    battery: BatteryDrain = BatteryDrain(initial_percentage=1.0, drain_per_second=0.12,
                                         floor_percentage=0.1, capacity_ah=2.0, voltage=14.8)
    deadline_times: tuple[float, ...] = (0.2, 4.2, 5.8)
    deadline_values: tuple[float, ...] = (2.5, 1e-4, 2.5)  # T0 [s]; 1e-4 is infeasible
    start_ns: int = START_NS
    camera_frame_id: str = 'camera'
    battery_frame_id: str = 'base_link'
    camera_format: str = 'rgb8'
    camera_base: str = CAMERA  # a driver's image topic, e.g. /usb_cam/image_raw

    def __post_init__(self):
        check_name(self.camera_base)
        if self.camera_format not in CAMERA_FORMATS:
            raise ValueError(f'camera_format {self.camera_format!r} is not one of '
                             f'{", ".join(CAMERA_FORMATS)}')
        require_int_in_range('frames', self.frames, 1, 10_000)
        require_positive('period_s', self.period_s)
        require_int_in_range('image_size', self.image_size, 32, 1024)
        times, values = tuple(self.deadline_times), tuple(self.deadline_values)
        if len(times) != len(values) or not times:
            raise ValueError(f'deadline_times and deadline_values must be non-empty and of the '
                             f'same length, got {times!r} and {values!r}')
        if times[0] < 0 or any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError(f'deadline_times must be >= 0 and increasing, got {times!r}')
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError(f'deadline_values must be finite and > 0 s, got {values!r}')
        require_int_in_range('start_ns', self.start_ns, 0)

    @property
    def duration_s(self) -> float:
        return self.frame_offset_s + (self.frames - 1) * self.period_s

    def frame_times(self) -> list[float]:
        return [self.frame_offset_s + k * self.period_s for k in range(self.frames)]

    @property
    def camera_topic(self) -> str:
        base = self.camera_base
        return base + '/compressed' if self.camera_format in CODECS else base

    @property
    def camera_type(self) -> str:
        return ('sensor_msgs/msg/CompressedImage' if self.camera_format in CODECS
                else 'sensor_msgs/msg/Image')


def topics(scenario: SampleScenario = SampleScenario()) -> list[TopicSpec]:
    """Topics of the sample bag with the QoS the package's nodes offer on them."""
    return [TopicSpec(scenario.camera_topic, scenario.camera_type, (qos.SENSOR,)),
            TopicSpec(BATTERY, 'sensor_msgs/msg/BatteryState', (qos.SENSOR,)),
            TopicSpec(DEADLINE, 'std_msgs/msg/Float64', (qos.LATCHED,))]


def _frames(scenario: SampleScenario):
    from qcoinf_ros.core.scenes.generator import make_scene, SceneConfig
    config = SceneConfig(image_size=scenario.image_size)
    for index in range(scenario.frames):
        yield make_scene(scenario.split, index, config)


def _camera_message(rgb: np.ndarray, scenario: SampleScenario, head) -> bytes:
    """One frame as ``scenario.camera_format`` says, serialized."""
    fmt = scenario.camera_format
    if fmt in CODECS:
        text, data = encode_compressed(rgb, fmt)
        msg = build('sensor_msgs/msg/CompressedImage', header=head, format=text,
                    data=np.frombuffer(data, np.uint8))
        return serialize(msg, 'sensor_msgs/msg/CompressedImage')
    fields = driver_frame(rgb, fmt) if fmt in DRIVER_ENCODINGS else \
        array_to_image_fields(rgb, fmt)
    msg = build('sensor_msgs/msg/Image', header=head, height=fields.height,
                width=fields.width, encoding=fields.encoding,
                is_bigendian=int(fields.is_bigendian), step=fields.step,
                data=np.frombuffer(fields.data, np.uint8))
    return serialize(msg, 'sensor_msgs/msg/Image')


def sample_messages(scenario: SampleScenario = SampleScenario()) -> list[tuple[str, int, bytes]]:
    """Return the sample's serialized messages ``(topic, time ns, CDR bytes)`` in time order."""
    def stamp(t: float) -> int:
        return scenario.start_ns + int(round(t * 1e9))

    out = []
    for t, scene in zip(scenario.frame_times(), _frames(scenario)):
        out.append((scenario.camera_topic, stamp(t), _camera_message(
            scene.image, scenario, header(stamp(t), scenario.camera_frame_id))))
    n_battery = int(scenario.duration_s / scenario.period_s) + 1
    battery_type = typestore().types['sensor_msgs/msg/BatteryState']
    for k in range(n_battery):
        t = k * scenario.period_s
        sample = scenario.battery.at(t)
        msg = build('sensor_msgs/msg/BatteryState',
                    header=header(stamp(t), scenario.battery_frame_id),
                    voltage=sample.voltage, current=sample.current_a, charge=sample.charge_ah,
                    capacity=scenario.battery.capacity_ah,
                    design_capacity=scenario.battery.capacity_ah, percentage=sample.percentage,
                    power_supply_status=battery_type.POWER_SUPPLY_STATUS_DISCHARGING
                    if sample.current_a < 0 else battery_type.POWER_SUPPLY_STATUS_NOT_CHARGING,
                    power_supply_health=battery_type.POWER_SUPPLY_HEALTH_GOOD,
                    power_supply_technology=battery_type.POWER_SUPPLY_TECHNOLOGY_LION,
                    present=True)
        out.append((BATTERY, stamp(t), serialize(msg, 'sensor_msgs/msg/BatteryState')))
    for t, value in zip(scenario.deadline_times, scenario.deadline_values):
        msg = build('std_msgs/msg/Float64', data=float(value))
        out.append((DEADLINE, stamp(t), serialize(msg, 'std_msgs/msg/Float64')))
    out.sort(key=lambda m: (m[1], m[0]))
    return out


def write_sample_bag(path: str | Path, storage: str = 'mcap',
                     scenario: SampleScenario = SampleScenario(), progress=None) -> BagInfo:
    """Write the sample bag to ``path`` (a new directory) and return its summary."""
    write_bag(path, topics(scenario), sample_messages(scenario), storage,
              custom_data={'qcoinf_ros.sample': 'camera frames, battery drain, deadlines'},
              progress=progress)
    with BagReader(path) as reader:
        return reader.info


# -- an edge server's inputs, as a robot records them ------------------------------------------
EMBEDDING, AGENT_MODEL = '/qcoinf/embedding', '/qcoinf/agent_model'
AGENT_COST = '/qcoinf/agent_cost'
#: The agent part of this model encodes the frames (the tiny scene captioner).
EDGE_MODEL = 'tiny'


def edge_topics(legacy: bool = False) -> list[TopicSpec]:
    """Topics of the edge bag: today's types, or (``legacy``) those of releases before 0.2."""
    embedding = 'sensor_msgs/msg/CompressedImage' if legacy else 'qcoinf_ros/msg/Embedding'
    text = 'std_msgs/msg/String'
    return [TopicSpec(EMBEDDING, embedding, (qos.reliable(2),)),
            TopicSpec(AGENT_MODEL, text if legacy else 'qcoinf_ros/msg/ModelInfo',
                      (qos.LATCHED,)),
            TopicSpec(AGENT_COST, text if legacy else 'qcoinf_ros/msg/AgentCost', (qos.LATCHED,))]


def edge_messages(legacy: bool = False, frames: int = 4, model: str = EDGE_MODEL,
                  scenario: SampleScenario = SampleScenario()) -> list[tuple[str, int, bytes]]:
    """
    Return an edge server's inputs as a robot records them: ``(topic, time ns, CDR bytes)``.

    The agent's embeddings of the first ``frames`` sample frames (its full-precision agent part,
    labelled b = 8, stamped as the frames, int8-coded), and its model and cost, latched, at the
    start (illustrative values: a reference kernel at 4-5 ms per frame). ``legacy`` writes them
    as releases before 0.2 published them — the embedding a safetensors payload in a
    ``sensor_msgs/CompressedImage``, the model and cost JSON in ``std_msgs/String`` — the bag
    that :mod:`qcoinf_ros.core.bags.legacy` converts on replay.
    """
    from qcoinf_ros.core.codec import fields
    from qcoinf_ros.core.codec.agent_model import AgentModelInfo, encode_agent_model
    from qcoinf_ros.core.codec.cost import CostMessage, encode_cost
    from qcoinf_ros.core.codec.embedding import EmbeddingMeta, encode_embedding, FORMAT
    from qcoinf_ros.core.models.registry import load_split

    split = load_split(model, parts=('agent',))
    images = [scene.image for _, scene in zip(range(frames), _frames(scenario))]
    embeddings = split.encode(split.preprocess(images)).detach().cpu().numpy()
    info = AgentModelInfo(split.model_id, 'uniform', 8, lam=25.0, ks=0.05, num_params=1)
    cost = CostMessage('agent', split.model_id, 'reference', 'none', 1,
                       tuple(0.004 + 1e-4 * b for b in range(8)), 0.004, 1e-4, 1.0, None,
                       'sample', True, 'uniform', 8)
    start = scenario.start_ns
    out = []
    if legacy:
        def text(value: str) -> bytes:
            return serialize(build('std_msgs/msg/String', data=value), 'std_msgs/msg/String')
        out += [(AGENT_MODEL, start, text(encode_agent_model(info))),
                (AGENT_COST, start, text(encode_cost(cost)))]
    else:
        out += [(AGENT_MODEL, start, serialize(build('qcoinf_ros/msg/ModelInfo',
                                                     **fields.model_fields(info)),
                                               'qcoinf_ros/msg/ModelInfo')),
                (AGENT_COST, start, serialize(build('qcoinf_ros/msg/AgentCost',
                                                    header=header(start),
                                                    **fields.cost_fields(cost)),
                                              'qcoinf_ros/msg/AgentCost'))]
    for t, embedding in zip(scenario.frame_times(), embeddings):
        stamp = start + int(round(t * 1e9))
        head = header(stamp, scenario.camera_frame_id)
        meta = EmbeddingMeta(split.model_id, 8, 'int8', 0.004)
        if legacy:
            payload = np.frombuffer(encode_embedding(embedding, meta), np.uint8)
            msg, kind = build('sensor_msgs/msg/CompressedImage', header=head, format=FORMAT,
                              data=payload), 'sensor_msgs/msg/CompressedImage'
        else:
            values = fields.embedding_fields(embedding, meta, 'uniform')
            values['data'] = np.frombuffer(values['data'], np.uint8)
            values['shape'] = np.asarray(values['shape'], np.uint32)
            msg, kind = build('qcoinf_ros/msg/Embedding', header=head, **values), \
                'qcoinf_ros/msg/Embedding'
        out.append((EMBEDDING, stamp, serialize(msg, kind)))
    out.sort(key=lambda m: (m[1], m[0]))
    return out


def write_edge_bag(path: str | Path, legacy: bool = False, storage: str = 'mcap',
                   frames: int = 4) -> BagInfo:
    """Write the edge bag (:func:`edge_messages`) to ``path`` and return its summary."""
    write_bag(path, edge_topics(legacy), edge_messages(legacy, frames), storage,
              custom_data={'qcoinf_ros.sample': "an edge server's inputs: embeddings, agent "
                           'model and cost' + (' (types before 0.2)' if legacy else '')})
    with BagReader(path) as reader:
        return reader.info
