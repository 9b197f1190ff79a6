"""
The rclpy glue of ``qcoinf foxglove``: the graph's topics into the Foxglove view.

Subscribes to the topics of :data:`qcoinf_ros.core.viewing.SOURCE_TOPICS` (relative to a namespace)
with each publisher's QoS, passes every message to the pure :class:`~qcoinf_ros.core.viewing.
GraphModel` and logs its records on the view's channels (``qcoinf_ros/core/viewing/sdk.py``). A
topic is subscribed once the graph advertises it, with the type advertised: the caption and the
plan are read as the package's old types (``std_msgs/String``) or its own (``qcoinf_ros/msg/
Caption``, ``FrequencyProfile``), whichever the running graph publishes. Bad input is dropped (the
first of each class logged, :class:`~qcoinf_ros.ros.drops.DropLog`); the bridge keeps running.
"""

from __future__ import annotations

import importlib
from typing import Callable

from qcoinf_ros.core.validation import drop_class_of
from qcoinf_ros.core.viewing import GraphModel, SOURCE_TOPICS
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.qos import reliable, SENSOR, subscribe_state

#: The types the bridge reads, per source kind (the first: the type subscribed before the graph
#: advertises one).
TYPES = {
    'image': ('sensor_msgs/msg/Image',),
    'compressed_image': ('sensor_msgs/msg/CompressedImage',),
    'caption': ('qcoinf_ros/msg/Caption', 'std_msgs/msg/String'),
    'latency': ('geometry_msgs/msg/Vector3Stamped',),
    'local_latency': ('geometry_msgs/msg/Vector3Stamped',),
    'plan': ('qcoinf_ros/msg/FrequencyProfile', 'std_msgs/msg/String'),
    'bit_width': ('std_msgs/msg/UInt8',),
    'deadline': ('std_msgs/msg/Float64',),
    'battery': ('sensor_msgs/msg/BatteryState',),
    'diagnostics': ('diagnostic_msgs/msg/DiagnosticArray',),
}
STATE = frozenset(('plan', 'bit_width', 'deadline'))
#: How often the graph is looked at for topics not subscribed yet [s].
DISCOVERY_PERIOD_S = 0.5


def _message_class(type_name: str):
    package, _, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


def resolve(namespace: str, topic: str) -> str:
    """Return ``topic``'s full name in ``namespace`` (an absolute topic stays as it is)."""
    ns = namespace.strip('/')
    if topic.startswith('/'):
        return topic
    return f'/{ns}/{topic}' if ns else f'/{topic}'


class FoxgloveBridge:
    """
    Subscriptions of ``node`` feeding ``channels`` through a :class:`GraphModel`.

    ``channels``: a :class:`~qcoinf_ros.core.viewing.sdk.ViewChannels`.

    ``image``: ``'raw'`` (``camera/image_raw``), ``'compressed'`` (``.../compressed``; the
    camera node encodes jpeg only while someone subscribes) or ``'none'``.

    ``resolve_name``: the full name of a source topic (default: :func:`resolve` in ``namespace``);
    a node passes its ``resolve_topic_name``, which also applies its remapping rules.
    """

    def __init__(self, node, channels, namespace: str = '', image: str = 'raw',
                 model: GraphModel | None = None,
                 resolve_name: Callable[[str], str] | None = None):
        if image not in ('raw', 'compressed', 'none'):
            raise ValueError(f"image must be 'raw', 'compressed' or 'none', got {image!r}")
        self.node, self.channels = node, channels
        self.model = model or GraphModel()
        self.drops = DropLog(node.get_logger())
        skip = {'raw': {'compressed_image'}, 'compressed': {'image'},
                'none': {'image', 'compressed_image'}}[image]
        full_name = resolve_name or (lambda topic: resolve(namespace, topic))
        self.pending = {full_name(topic): kind for topic, kind in SOURCE_TOPICS.items()
                        if kind not in skip}
        self.subscriptions: dict[str, list] = {}
        self.types: dict[str, str] = {}
        self.received = 0
        self._discover()
        self._timer = node.create_timer(DISCOVERY_PERIOD_S, self._discover)

    def summary(self) -> str:
        """Return what the bridge did: messages received, topics subscribed, drops."""
        return (f'{self.received} messages, subscribed: '
                f'{", ".join(sorted(self.types)) or "none"}; {self.drops.total} dropped')

    def _discover(self) -> None:
        self.drops.tick()
        if not self.pending:
            return
        advertised = dict(self.node.get_topic_names_and_types())
        for topic, kind in list(self.pending.items()):
            known = [t for t in advertised.get(topic, ()) if t in TYPES[kind]]
            if not known:
                continue
            try:
                cls = _message_class(known[0])
            except (ImportError, AttributeError) as exc:
                self.drops.drop('view.type', f'{topic}: {known[0]} cannot be imported: {exc}')
                del self.pending[topic]
                continue
            self._subscribe(topic, kind, cls)
            self.types[topic] = known[0]
            del self.pending[topic]

    def _subscribe(self, topic: str, kind: str, cls) -> None:
        def callback(msg) -> None:
            self.received += 1
            now = self.node.get_clock().now().nanoseconds
            try:
                records = self.model.on_message(kind, msg, now)
            except ValueError as exc:
                self.drops.drop(drop_class_of(exc, 'view.message'), f'{topic}: {exc}')
                return
            for channel, log_time, record in records:
                self.channels.log(channel, log_time, record)

        if kind in STATE:
            self.subscriptions[topic] = subscribe_state(self.node, cls, topic, callback)
        else:
            qos = SENSOR if kind in ('image', 'compressed_image', 'battery') else reliable(10)
            self.subscriptions[topic] = [self.node.create_subscription(cls, topic, callback,
                                                                       qos)]
