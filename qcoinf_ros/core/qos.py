"""
The package's QoS, in one place: the topics' profiles and rosbag2's rules to record and replay.

Every profile is declared here once, as data: a ``rosbags.interfaces.Qos`` tuple, the form
rosbag2 writes as ``offered_qos_profiles`` in ``metadata.yaml`` and the storage file. The live
topics use the same declarations: :mod:`qcoinf_ros.ros.qos` converts each to an rclpy
``QoSProfile`` (``SENSOR``, ``LATCHED``, ``reliable(depth)``) and adds what needs a node
(``qos_overrides``, the state topics' two subscriptions). The split is the layer rule's
(``test/lint/test_layering.py``): this module is pure (no rclpy), so the bag code, the sample bag
written without ROS and the reports read it without a ROS installation; only the adapter in
``ros/`` imports rclpy, and it declares no profile of its own.

Recording subscribes with what every publisher offers in common (reliable only when all offer
reliable, transient local only when all offer it), as ``ros2 bag record`` does; playing offers
the recorded profile with keep_last 10 when the recorded publishers agreed, else the whole
default profile with a warning, as ``ros2 bag play`` does (:func:`playback_qos`). A user's
``--qos-profile-overrides-path`` file replaces that choice per topic (:func:`qos_overrides`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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


#: Camera frames and battery readings: best effort, small depth (a stale frame is worthless);
#: rclpy's ``qos_profile_sensor_data``.
SENSOR = make_qos(QosReliability.BEST_EFFORT, QosDurability.VOLATILE, 5)
#: Plans, deadlines, model metadata: reliable and latched (transient local, depth 1), so a node
#: started late, or restarted, receives the value in force (as nav2's ``amcl_pose``).
LATCHED = make_qos(QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, 1)


def reliable(depth: int = 5) -> Qos:
    """Reliable, volatile, keep-last ``depth``: embeddings, captions, latency."""
    return make_qos(QosReliability.RELIABLE, QosDurability.VOLATILE, depth)


#: The ROS 2 default profile (rclpy's ``QoSProfile(depth=10)``): ``/diagnostics``, markers.
DEFAULT = reliable(10)
#: What rosbag2's player offers when it has no single recorded profile (``Rosbag2QoS()``).
PLAYER_DEFAULT = DEFAULT


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


def _effectively_same(a: Qos, b: Qos) -> bool:
    """Whether two offers agree on the policies that decide compatibility (not history)."""
    return (a.reliability, a.durability, a.deadline, a.liveliness,
            a.liveliness_lease_duration) == (b.reliability, b.durability, b.deadline,
                                             b.liveliness, b.liveliness_lease_duration)


def playback_qos(offers: Sequence[Qos]) -> tuple[Qos, list[str]]:
    """
    Return the profile the player offers for a topic recorded with ``offers``, and warnings.

    rosbag2's rule (``Rosbag2QoS::adapt_offer_to_recorded_offers``): no recorded offer -> the
    default profile (keep last 10, reliable, volatile); offers that agree on reliability,
    durability, deadline, liveliness and its lease -> the first of them, with history keep
    last 10 (deadline, lifespan, liveliness kept); offers that disagree -> the whole default
    profile, with a warning.
    """
    offers = list(offers)
    if not offers:
        return PLAYER_DEFAULT, []
    if all(_effectively_same(offers[0], o) for o in offers[1:]):
        return offers[0]._replace(history=QosHistory.KEEP_LAST,
                                  depth=PLAYER_DEFAULT.depth), []
    return PLAYER_DEFAULT, ['not all recorded publishers offered the same QoS; offering the '
                            'default profile (reliable, volatile, keep_last 10), as rosbag2 '
                            'does']


# -- ros2 bag's --qos-profile-overrides-path ----------------------------------------------------
_POLICIES = {'history': QosHistory, 'reliability': QosReliability,
             'durability': QosDurability, 'liveliness': QosLiveliness}
_DURATIONS = ('deadline', 'lifespan', 'liveliness_lease_duration')
_VALUES = ('depth', 'avoid_ros_namespace_conventions')


def _short_keys(enum) -> dict[str, Any]:
    # rclpy's short keys (its enums' member names, lower case); rclpy has no manual_by_node
    return {m.name.lower(): m for m in enum if m.name != 'MANUAL_BY_NODE'}


def _override_duration(key: str, value) -> QosTime:
    if not value:  # absent or empty: the middleware's default, as ros2bag reads it
        return DEFAULT_TIME
    if not isinstance(value, Mapping) or 'sec' not in value or 'nsec' not in value:
        raise ValueError(f'{key} must give both seconds (sec) and nanoseconds (nsec), got '
                         f'{value!r:.80}')
    sec, nsec = value['sec'], value['nsec']
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sec, nsec)):
        raise ValueError(f'{key}: sec and nsec must be integers, got {value!r:.80}')
    total = sec * 1_000_000_000 + nsec
    if total < 0:
        raise ValueError(f'{key} may not be negative, got {value!r:.80}')
    return QosTime(total // 1_000_000_000, total % 1_000_000_000)


def qos_override(profile: Mapping) -> Qos:
    """
    Return one topic's profile of a ``--qos-profile-overrides-path`` file, as ``ros2 bag`` does.

    ros2bag's rules (``interpret_dict_as_qos_profile``, then rclpy's ``QoSProfile``): the
    policies ``history``, ``reliability``, ``durability`` and ``liveliness`` by their short keys
    (``keep_last``, ``reliable``, ``transient_local``, ...); ``deadline``, ``lifespan`` and
    ``liveliness_lease_duration`` as ``{sec: int, nsec: int}``, both required; ``depth`` (>= 0)
    and ``avoid_ros_namespace_conventions``; any other key is refused. ``history`` and/or
    ``depth`` must be given (``depth`` alone means keep_last; keep_last needs a depth); every
    policy not given is the ROS 2 default profile's (reliable, volatile, ...). Raises
    ``ValueError`` naming the key or value.
    """
    if not isinstance(profile, Mapping):
        raise ValueError(f'a QoS profile must be a mapping of policies, got {profile!r:.80}')
    values: dict[str, Any] = {}
    for key, value in profile.items():
        if key in _POLICIES:
            names = _short_keys(_POLICIES[key])
            if not isinstance(value, str) or value.lower() not in names:
                raise ValueError(f'{key} must be one of {sorted(names)}, got {value!r:.80}')
            values[key] = names[value.lower()]
        elif key in _DURATIONS:
            values[key] = _override_duration(key, value)
        elif key == 'depth':
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f'depth must be an integer >= 0, got {value!r:.80}')
            values[key] = value
        elif key == 'avoid_ros_namespace_conventions':
            if not isinstance(value, bool):
                raise ValueError(f'{key} must be true or false, got {value!r:.80}')
            values[key] = value
        else:
            raise ValueError(f'unexpected key {key!r} for a QoS profile (one of '
                             f'{", ".join([*_POLICIES, *_DURATIONS, *_VALUES])})')
    if 'history' not in values:
        if 'depth' not in values:
            raise ValueError('a QoS profile needs history and/or depth')
        values['history'] = QosHistory.KEEP_LAST
    elif values['history'] == QosHistory.KEEP_LAST and 'depth' not in values:
        raise ValueError('history keep_last needs a depth')
    base = DEFAULT
    return Qos(values['history'], values.get('depth', base.depth),
               values.get('reliability', base.reliability),
               values.get('durability', base.durability),
               values.get('deadline', base.deadline), values.get('lifespan', base.lifespan),
               values.get('liveliness', base.liveliness),
               values.get('liveliness_lease_duration', base.liveliness_lease_duration),
               values.get('avoid_ros_namespace_conventions', False))


def qos_overrides(data) -> dict[str, Qos]:
    """
    Return topic -> profile of a parsed ``--qos-profile-overrides-path`` YAML file.

    Topics are matched by the exact name the bag records (``/chatter``), as rosbag2 does; an
    empty file overrides nothing. Raises ``ValueError`` naming the topic and what is wrong.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f'QoS overrides must map topic names to profiles, got {data!r:.80}')
    profiles = {}
    for topic, profile in data.items():
        if not isinstance(topic, str) or not topic:
            raise ValueError(f'a QoS override topic must be a name, got {topic!r:.80}')
        try:
            profiles[topic] = qos_override(profile)
        except ValueError as exc:
            raise ValueError(f'{topic}: {exc}') from None
    return profiles
