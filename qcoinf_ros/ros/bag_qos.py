"""
QoS profiles between rclpy and rosbags (what a bag records as ``offered_qos_profiles``).

rclpy is imported only when used: reading a bag needs no ROS.
"""

from __future__ import annotations


def qos_from_rclpy(profile):
    """Return the rosbags ``Qos`` of an rclpy ``QoSProfile`` (as offered on the graph)."""
    from rosbags.interfaces import (
        Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime)

    def duration(value) -> QosTime:
        return QosTime(*divmod(int(value.nanoseconds), 1_000_000_000))

    return Qos(QosHistory(int(profile.history)), int(profile.depth),
               QosReliability(int(profile.reliability)), QosDurability(int(profile.durability)),
               duration(profile.deadline), duration(profile.lifespan),
               QosLiveliness(int(profile.liveliness)),
               duration(profile.liveliness_lease_duration),
               bool(profile.avoid_ros_namespace_conventions))


def qos_to_rclpy(qos):
    """Return the rclpy ``QoSProfile`` of a rosbags ``Qos`` (zero durations: the default)."""
    from rclpy.duration import Duration
    from rclpy.qos import (
        DurabilityPolicy, HistoryPolicy, LivelinessPolicy, QoSProfile, ReliabilityPolicy)
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
