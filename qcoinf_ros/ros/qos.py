"""
The live topics' QoS as rclpy profiles, and the rclpy side of the bag offers.

The profiles are declared once, without rclpy, in :mod:`qcoinf_ros.core.qos` (where the bag code
reads them too); this adapter only converts them (:func:`qos_to_rclpy`,
:func:`qos_from_rclpy`) and adds what needs a node: the standard ``qos_overrides`` start
parameters (:func:`with_overrides`) and the state topics' two subscriptions
(:func:`subscribe_state`). It lives in ``ros/`` because it imports rclpy, which the pure core
may not (``test/lint/test_layering.py``).
"""

from rclpy.duration import Duration
from rclpy.qos import (
    DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy)
from rosbags.interfaces import (
    Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime)

from qcoinf_ros.core import qos as profiles


def qos_from_rclpy(profile: QoSProfile) -> Qos:
    """Return the rosbags ``Qos`` of an rclpy ``QoSProfile`` (as offered on the graph)."""
    def duration(value) -> QosTime:
        return QosTime(*divmod(int(value.nanoseconds), 1_000_000_000))

    return Qos(QosHistory(int(profile.history)), int(profile.depth),
               QosReliability(int(profile.reliability)), QosDurability(int(profile.durability)),
               duration(profile.deadline), duration(profile.lifespan),
               QosLiveliness(int(profile.liveliness)),
               duration(profile.liveliness_lease_duration),
               bool(profile.avoid_ros_namespace_conventions))


def qos_to_rclpy(qos: Qos) -> QoSProfile:
    """Return the rclpy ``QoSProfile`` of a rosbags ``Qos`` (zero durations: the default)."""
    history = HistoryPolicy(qos.history.value)
    if history not in (HistoryPolicy.KEEP_LAST, HistoryPolicy.KEEP_ALL):
        history = HistoryPolicy.KEEP_LAST
    kwargs = {}
    for key in ('deadline', 'lifespan', 'liveliness_lease_duration'):
        value = getattr(qos, key)
        if value.sec or value.nsec:
            kwargs[key] = Duration(seconds=value.sec, nanoseconds=value.nsec)
    # a recorded "unknown" policy cannot be offered: the middleware's default instead
    reliability = ReliabilityPolicy(qos.reliability.value)
    durability = DurabilityPolicy(qos.durability.value)
    liveliness = LivelinessPolicy(qos.liveliness.value)
    if reliability == ReliabilityPolicy.UNKNOWN:
        reliability = ReliabilityPolicy.SYSTEM_DEFAULT
    if durability == DurabilityPolicy.UNKNOWN:
        durability = DurabilityPolicy.SYSTEM_DEFAULT
    if liveliness == LivelinessPolicy.UNKNOWN:
        liveliness = LivelinessPolicy.SYSTEM_DEFAULT
    return QoSProfile(history=history, depth=max(1, qos.depth), reliability=reliability,
                      durability=durability, liveliness=liveliness, **kwargs)


#: Camera frames and battery readings (:data:`qcoinf_ros.core.qos.SENSOR`: best effort, depth 5,
#: rclpy's ``qos_profile_sensor_data``).
SENSOR = qos_to_rclpy(profiles.SENSOR)

#: Plans, deadlines, model metadata (:data:`qcoinf_ros.core.qos.LATCHED`: reliable, transient
#: local, depth 1): a node started late, or restarted, receives the value in force.
LATCHED = qos_to_rclpy(profiles.LATCHED)


def reliable(depth: int = 5) -> QoSProfile:
    """Reliable, volatile, keep-last ``depth``: embeddings and captions."""
    return qos_to_rclpy(profiles.reliable(depth))


def with_overrides(node, create, topic: str, *args, **kwargs):
    """
    Call ``create`` (a node's ``create_publisher``/``create_subscription``) accepting overrides.

    The entity accepts the standard ``qos_overrides.<topic>.<publisher|subscription>.*`` start
    parameters (rclpy's ``QoSOverridingOptions``: reliability, durability, history, depth), as
    ROS 2's own camera drivers and image_transport do. A bad override raises ``ValueError``
    naming it (the node refuses to start: exit code 2).
    """
    from rclpy.exceptions import ParameterException
    from rclpy.qos_overriding_options import InvalidQosOverridesError, QoSOverridingOptions
    try:
        return create(*args, qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                      **kwargs)
    except (RuntimeError, ParameterException, InvalidQosOverridesError) as exc:
        raise ValueError(f'invalid parameter: qos_overrides of '
                         f'{node.resolve_topic_name(topic)}: {exc}') from None


def subscribe_state(node, msg_type, topic: str, callback) -> list:
    """
    Subscribe to a state topic (a deadline, a bit-width, a plan) so every publisher matches.

    Two subscriptions side by side: :data:`LATCHED` (transient local), which a late-joining node
    needs to receive the value in force from a latching publisher, and reliable volatile, which
    a publisher with the default QoS (volatile, as every tutorial writes) needs to be heard at all
    (a transient-local reader never matches a volatile writer). A latching publisher matches both,
    so each of its messages arrives twice: a message equal to the last one delivered on the topic
    is passed over (a repeated state changes nothing). Each subscription accepts the standard
    ``qos_overrides.<topic>.subscription_<latched|volatile>.*`` start parameters (rclpy's
    ``QoSOverridingOptions``; reliability, durability, history, depth). A bad override raises
    ``ValueError`` naming it (the node refuses to start: exit code 2).
    """
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Humble's rclpy
        from rclpy.qos_event import SubscriptionEventCallbacks
    from rclpy.exceptions import ParameterException
    from rclpy.qos_overriding_options import InvalidQosOverridesError, QoSOverridingOptions

    last: list = []

    def once(msg) -> None:
        if last and last[0] == msg:
            return
        last[:] = [msg]
        callback(msg)

    # a volatile writer is incompatible with the latched reader by design (the volatile reader
    # hears it): no "incompatible QoS" warning for that one; the volatile reader keeps rclpy's
    quiet = SubscriptionEventCallbacks(incompatible_qos=lambda event: None)
    try:
        return [node.create_subscription(
            msg_type, topic, once, qos, event_callbacks=events,
            qos_overriding_options=QoSOverridingOptions.with_default_policies(entity_id=kind))
            for kind, qos, events in (('latched', LATCHED, quiet),
                                      ('volatile', reliable(10), None))]
    except (RuntimeError, ParameterException, InvalidQosOverridesError) as exc:
        raise ValueError(f'invalid parameter: qos_overrides of '
                         f'{node.resolve_topic_name(topic)}: {exc}') from None
