"""
QoS as rosbag2 stores it (``offered_qos_profiles``), and rosbag2's rules to record and replay.

Profiles are ``rosbags.interfaces.Qos`` tuples, the form the ``rosbags`` writer puts in
``metadata.yaml`` and in the storage file. The package's own topic profiles
(:mod:`qcoinf_ros.ros.qos`) are mirrored here so a bag written without ROS (the sample bag)
carries the QoS the nodes offer; a test checks the two stay equal.

Recording subscribes with what every publisher offers in common (reliable only when all offer
reliable, transient local only when all offer it), as ``ros2 bag record`` does; playing offers
the recorded profile when the recorded publishers agreed, else reliable/volatile with a warning.
DDS discovery does not carry history or depth (they are recorded as ``unknown``/0): the player
then keeps the last 1 message for latched (transient local) topics and 10 for the others.
"""

from __future__ import annotations

from typing import Sequence

from rosbags.interfaces import (
    Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime)

#: A zero duration: "the default" of the middleware (infinite deadline, lifespan, lease).
DEFAULT_TIME = QosTime(0, 0)
#: How rosbag2 writes an infinite duration (RMW_DURATION_INFINITE, 2^63 - 1 ns).
INFINITE_TIME = QosTime(9223372036, 854775807)
#: Depth of the recorder's subscriptions (a burst is buffered, not dropped).
RECORD_DEPTH = 100


def make_qos(reliability: QosReliability, durability: QosDurability, depth: int,
             history: QosHistory = QosHistory.KEEP_LAST) -> Qos:
    """Return a profile with default deadline, lifespan and liveliness."""
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        raise ValueError(f'depth must be an integer >= 0, got {depth!r}')
    return Qos(history, depth, reliability, durability, DEFAULT_TIME, DEFAULT_TIME,
               QosLiveliness.SYSTEM_DEFAULT, DEFAULT_TIME, False)


#: Mirrors of ``qcoinf_ros.ros.qos``: SENSOR (camera, battery), LATCHED (plans, deadline) and
#: ``reliable(depth)`` (embeddings, captions, latency).
SENSOR = make_qos(QosReliability.BEST_EFFORT, QosDurability.VOLATILE, 5)
LATCHED = make_qos(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, 1)


def reliable(depth: int = 5) -> Qos:
    """Reliable, volatile, keep-last ``depth`` (mirror of ``qcoinf_ros.ros.qos.reliable``)."""
    return make_qos(QosReliability.RELIABLE, QosDurability.VOLATILE, depth)


#: The ROS 2 default profile (rclpy's ``QoSProfile(depth=10)``): ``/diagnostics``, markers.
DEFAULT = reliable(10)


def describe(qos: Qos) -> str:
    """Return a short text such as ``reliable, transient_local, keep_last 1``."""
    history = qos.history.name.lower()
    depth = f' {qos.depth}' if qos.history == QosHistory.KEEP_LAST else ''
    return f'{qos.reliability.name.lower()}, {qos.durability.name.lower()}, {history}{depth}'


def _common(values: list, default, what: str, warnings: list[str]):
    distinct = set(values)
    if len(distinct) == 1:
        return values[0]
    if len(distinct) > 1:
        warnings.append(f'publishers disagree on {what} '
                        f'({", ".join(sorted(v.name.lower() for v in distinct))}); '
                        f'using {default.name.lower()}')
    return default


def subscription_qos(offers: Sequence[Qos]) -> tuple[Qos, list[str]]:
    """
    Return the profile the recorder requests for a topic published with ``offers``, and warnings.

    Reliable only when every publisher offers reliable (a reliable request does not match a
    best-effort offer), transient local only when every publisher offers it (so latched values
    are received); otherwise best effort / volatile, which match any offer.
    """
    warnings: list[str] = []
    offers = list(offers)
    all_reliable = bool(offers) and all(o.reliability == QosReliability.RELIABLE
                                        for o in offers)
    all_latched = bool(offers) and all(o.durability == QosDurability.TRANSIENT_LOCAL
                                       for o in offers)
    if offers and not all_reliable and any(o.reliability == QosReliability.RELIABLE
                                           for o in offers):
        warnings.append('some publishers are best effort: recording best effort')
    if offers and not all_latched and any(o.durability == QosDurability.TRANSIENT_LOCAL
                                          for o in offers):
        warnings.append('some publishers are volatile: recording volatile (latched values '
                        'published before the recorder started are not recorded)')
    qos = make_qos(QosReliability.RELIABLE if all_reliable else QosReliability.BEST_EFFORT,
                   QosDurability.TRANSIENT_LOCAL if all_latched else QosDurability.VOLATILE,
                   RECORD_DEPTH)
    return qos, warnings


def playback_qos(offers: Sequence[Qos]) -> tuple[Qos, list[str]]:
    """Return the profile the player offers for a topic recorded with ``offers``, and warnings."""
    warnings: list[str] = []
    offers = list(offers)
    reliability = _common([o.reliability for o in offers], QosReliability.RELIABLE,
                          'reliability', warnings)
    durability = _common([o.durability for o in offers], QosDurability.VOLATILE,
                         'durability', warnings)
    if reliability not in (QosReliability.RELIABLE, QosReliability.BEST_EFFORT):
        reliability = QosReliability.RELIABLE
    if durability not in (QosDurability.VOLATILE, QosDurability.TRANSIENT_LOCAL):
        durability = QosDurability.VOLATILE
    depths = [o.depth for o in offers if o.history == QosHistory.KEEP_LAST and o.depth > 0]
    if depths:
        depth = max(depths)
    else:
        depth = 1 if durability == QosDurability.TRANSIENT_LOCAL else 10
    return make_qos(reliability, durability, depth), warnings
