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
