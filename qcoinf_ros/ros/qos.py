"""QoS profiles of the package's topics, chosen per topic (README topic table)."""

from rclpy.qos import (
    DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy)

#: Camera frames and battery readings: best effort, small depth (a stale frame is worthless).
SENSOR = qos_profile_sensor_data

#: Plans, deadlines, model metadata: reliable and latched (transient local, depth 1), so a node
#: started late, or restarted, receives the value in force (as nav2's ``amcl_pose``).
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def reliable(depth: int = 5) -> QoSProfile:
    """Reliable, volatile, keep-last ``depth``: embeddings and captions."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


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

    last = []

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
