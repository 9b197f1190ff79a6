"""
Observing the running graph from a tool: one table of the graph's topics, one way to subscribe.

``qcoinf monitor`` (the dashboard) and ``qcoinf demo`` (the live lines and the report) watch the
same graph; both subscribe through :func:`observe`, which knows each topic's message type and
the QoS an observer takes it with (:data:`GRAPH_TOPICS`; the profiles are
:mod:`qcoinf_ros.ros.qos`'s). What they make of the messages is pure code elsewhere:
:class:`qcoinf_ros.core.monitor.state.MonitorState` for the dashboard,
:class:`qcoinf_ros.core.monitor.demo_report.DemoObserver` for the demo. ``monitor_node`` is a node
of the graph itself (markers for RViz, standard ``qos_overrides``) and keeps its own subscriptions.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, Callable, Mapping

from rclpy.qos import QoSProfile, ReliabilityPolicy

from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR

#: Embeddings as an observer takes them by default: best effort, depth 2 (an observer never
#: holds the agent's writer back); ``observe(..., qos=...)`` asks for more.
EMBEDDING_OBSERVER = QoSProfile(depth=2, reliability=ReliabilityPolicy.BEST_EFFORT)

#: Every topic an observer may watch (relative to the graph's namespace unless absolute):
#: its message type and the QoS it is observed with.
GRAPH_TOPICS: dict[str, tuple[str, QoSProfile | int]] = {
    'camera/image_raw': ('sensor_msgs.msg.Image', SENSOR),
    'qcoinf/embedding': ('qcoinf_ros.msg.Embedding', EMBEDDING_OBSERVER),
    'qcoinf/caption': ('qcoinf_ros.msg.Caption', reliable(10)),
    'qcoinf/latency': ('geometry_msgs.msg.Vector3Stamped', reliable(10)),
    'qcoinf/local_latency': ('geometry_msgs.msg.Vector3Stamped', reliable(10)),
    'battery_state': ('sensor_msgs.msg.BatteryState', SENSOR),
    'qcoinf/deadline': ('std_msgs.msg.Float64', LATCHED),
    'qcoinf/bit_width': ('std_msgs.msg.UInt8', LATCHED),
    'qcoinf/frequency_profile': ('qcoinf_ros.msg.FrequencyProfile', LATCHED),
    'qcoinf/applied_profile': ('qcoinf_ros.msg.AppliedProfile', LATCHED),
    'qcoinf/agent_model': ('qcoinf_ros.msg.ModelInfo', LATCHED),
    'qcoinf/agent_cost': ('qcoinf_ros.msg.AgentCost', LATCHED),
    'qcoinf/server_cost': ('qcoinf_ros.msg.AgentCost', LATCHED),
    '/diagnostics': ('diagnostic_msgs.msg.DiagnosticArray', 10),
}

#: A handler gets the message and the time it arrived (``time.monotonic()``); what it returns
#: is ignored.
Handler = Callable[[Any, float], object]


def message_class(dotted: str):
    """Return the message class named ``pkg.msg.Type``."""
    module, _, name = dotted.rpartition('.')
    return getattr(importlib.import_module(module), name)


def topic_name(topic: str, namespace: str = '') -> str:
    """Return ``topic`` in ``namespace`` (an absolute topic stays as it is)."""
    if topic.startswith('/') or not namespace.strip('/'):
        return topic
    return f'/{namespace.strip("/")}/{topic}'


def observe(node, handlers: Mapping[str, Handler | None], namespace: str = '',
            qos: Mapping[str, QoSProfile | int] | None = None,
            on_message: Callable[[str, float], None] | None = None) -> list:
    """
    Subscribe ``node`` to the topics of ``handlers`` (keys of :data:`GRAPH_TOPICS`).

    ``handlers[topic](msg, now)`` is called for each message; a ``None`` handler subscribes
    without deserializing (the message is only counted). ``on_message(topic, now)`` is called
    for every message of every topic first (the dashboard's rates). ``qos`` overrides a topic's
    profile. Returns the subscriptions.
    """
    subscriptions = []
    for topic, handler in handlers.items():
        if topic not in GRAPH_TOPICS:
            raise ValueError(f'not a topic of the graph: {topic!r}')
        type_name, profile = GRAPH_TOPICS[topic]
        profile = (qos or {}).get(topic, profile)

        def callback(msg, topic=topic, handler=handler) -> None:
            now = time.monotonic()
            if on_message is not None:
                on_message(topic, now)
            if handler is not None:
                handler(msg, now)

        subscriptions.append(node.create_subscription(
            message_class(type_name), topic_name(topic, namespace), callback, profile,
            raw=handler is None))
    return subscriptions
