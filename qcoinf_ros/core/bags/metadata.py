"""
A rosbag2 bag's ``metadata.yaml``, read by the rules of ``rosbag2_storage`` (format versions 1-9).

What the fields mean, per version (from ``rosbag2_storage``'s YAML conversions; the facts, not
the code): ``relative_file_paths`` name the storage files, relative to the bag folder from
version 4 on and to its *parent* before (older bags prefix the folder name); the compression
fields exist from version 3, ``files`` from 5, ``custom_data`` from 6, a topic's
``type_description_hash`` from 7, ``ros_distro`` from 8. A topic's ``offered_qos_profiles`` is
a YAML *text* from version 4 to 8 (policies as integers) and a YAML list from 9 (policies as
words); both forms are recognised whatever the version says, as rosbag2 does. Durations that
Foxy-era middlewares wrote for "infinite" (2147483647 s + 4294967295 ns, 2147483647 s +
2147483647 ns, 2^63 - 1 ns) are read as RMW_DURATION_INFINITE.

Topic names are kept as recorded: ``ros2 bag record`` writes fully qualified names, but bags
from other writers (and rosbag2's own tests) hold relative ones (``a_empty``); the player
resolves them in its node's namespace (the root).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
import reprlib
from typing import Any

from rosbags.interfaces import Qos, QosTime
from rosbags.rosbag2.metadata import parse_qos
import yaml

#: The metadata versions rosbag2 has written (Foxy 4 ... Jazzy/Kilted 9; 1-3 before Foxy).
VERSIONS = range(1, 10)
#: How an infinite duration is written from Galactic on (RMW_DURATION_INFINITE, 2^63 - 1 ns).
INFINITE = QosTime(9223372036, 854775807)
#: "Infinite" as Foxy's middlewares reported it (CycloneDDS, Fast DDS, Connext).
FOXY_INFINITE = (QosTime(9223372036, 854775807), QosTime(2147483647, 4294967295),
                 QosTime(2147483647, 2147483647))

#: The largest ``metadata.yaml`` read (a real one is a few kB per topic).
MAX_METADATA_BYTES = 16 << 20
#: libyaml's safe loader where PyYAML was built with it (much faster on large or deep text).
_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)

__all__ = ['BagMetadata', 'FOXY_INFINITE', 'INFINITE', 'normalize_qos', 'parse_metadata',
           'parse_offered_qos', 'read_metadata', 'storage_paths', 'TopicMetadata', 'VERSIONS']


@dataclass(frozen=True)
class TopicMetadata:
    """A topic as a bag records it: name (as recorded), type, format, offered QoS, type hash."""

    name: str
    msgtype: str
    serialization_format: str = 'cdr'
    qos: tuple[Qos, ...] = ()
    type_hash: str = ''


@dataclass(frozen=True)
class BagMetadata:
    """The fields of ``metadata.yaml`` the reader uses (``topics``: (topic, listed count))."""

    version: int
    storage: str
    files: tuple[str, ...]
    start_ns: int
    duration_ns: int
    message_count: int
    topics: tuple[tuple[TopicMetadata, int], ...]
    compression_format: str = ''
    compression_mode: str = ''
    ros_distro: str = ''
    custom_data: dict = field(default_factory=dict)


def _time(value: QosTime) -> QosTime:
    return INFINITE if value in FOXY_INFINITE else value


def normalize_qos(qos: Qos) -> Qos:
    """Return ``qos`` with Foxy's "infinite" durations replaced by RMW_DURATION_INFINITE."""
    return qos._replace(deadline=_time(qos.deadline), lifespan=_time(qos.lifespan),
                        liveliness_lease_duration=_time(qos.liveliness_lease_duration))


def parse_offered_qos(value: Any) -> tuple[Qos, ...]:
    """
    Return the profiles of an ``offered_qos_profiles`` field (text or list; empty: none).

    Raises ``ValueError`` naming the field when it is neither a list of profiles nor YAML
    text of one.
    """
    if value in (None, '', []):
        return ()
    if not isinstance(value, (str, list)):
        raise ValueError(f'offered_qos_profiles must be a YAML list or its text, got '
                         f'{_short(value)}')
    try:
        return tuple(normalize_qos(q) for q in parse_qos(value))
    except Exception as exc:  # noqa: BLE001 - ReaderError, KeyError, TypeError
        raise ValueError(f'offered_qos_profiles is not a list of QoS profiles ({exc!r})') \
            from None


def _short(value) -> str:
    """Return a bounded text of ``value`` (a YAML alias bomb has an exponential full repr)."""
    return reprlib.repr(value)


def _get(node: dict, key: str, kind, where: str):
    if not isinstance(node, dict) or key not in node:
        raise ValueError(f'{where}: "{key}" is missing')
    value = node[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f'{where}: "{key}" must be an integer, got {_short(value)}')
    if kind is str and not isinstance(value, str):
        raise ValueError(f'{where}: "{key}" must be a string, got {_short(value)}')
    return value


def parse_metadata(text: str) -> BagMetadata:
    """Parse the text of a ``metadata.yaml``; raise ``ValueError`` naming what is wrong."""
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except Exception as exc:  # noqa: BLE001 - YAMLError, RecursionError on deep nesting
        raise ValueError(f'metadata.yaml is not YAML ({type(exc).__name__}: {exc})') from None
    info = doc.get('rosbag2_bagfile_information') if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise ValueError('metadata.yaml has no "rosbag2_bagfile_information" mapping')
    where = 'metadata.yaml'
    version = _get(info, 'version', int, where)
    if version not in VERSIONS:
        raise ValueError(f'metadata.yaml: version {version} is not one rosbag2 has written '
                         f'({VERSIONS.start}-{VERSIONS.stop - 1})')
    storage = _get(info, 'storage_identifier', str, where)
    files = info.get('relative_file_paths') or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValueError(f'{where}: "relative_file_paths" must be a list of paths, got '
                         f'{_short(files)}')
    duration = _get(_get(info, 'duration', dict, where), 'nanoseconds', int, where)
    start = _get(_get(info, 'starting_time', dict, where), 'nanoseconds_since_epoch', int,
                 where)
    count = _get(info, 'message_count', int, where)
    topics = []
    for i, entry in enumerate(info.get('topics_with_message_count') or []):
        at = f'{where}: topic {i}'
        meta = _get(entry, 'topic_metadata', dict, at)
        name = _get(meta, 'name', str, at)
        try:
            qos = parse_offered_qos(meta.get('offered_qos_profiles'))
        except ValueError as exc:
            raise ValueError(f'{at} ({name}): {exc}') from None
        topics.append((TopicMetadata(name, _get(meta, 'type', str, at),
                                     str(meta.get('serialization_format', 'cdr')), qos,
                                     str(meta.get('type_description_hash') or '')),
                       _get(entry, 'message_count', int, at)))
    custom = info.get('custom_data') or {}
    return BagMetadata(version, storage, tuple(files), start, duration, count, tuple(topics),
                       str(info.get('compression_format') or ''),
                       str(info.get('compression_mode') or ''),
                       str(info.get('ros_distro') or ''),
                       dict(custom) if isinstance(custom, dict) else {})


def read_metadata(bag: str | Path) -> BagMetadata:
    """Read ``bag``/metadata.yaml; ``ValueError`` when it is missing or malformed."""
    path = Path(bag) / 'metadata.yaml'
    try:
        if not path.is_file():  # a FIFO or a device would block or never end
            raise ValueError(f'{path} is not a regular file')
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ValueError(f'{path} is larger than {MAX_METADATA_BYTES} bytes')
        text = path.read_text(errors='replace')
    except OSError as exc:
        raise ValueError(f'cannot read {path} ({exc.strerror or exc})') from None
    return parse_metadata(text)


def storage_paths(bag: str | Path, metadata: BagMetadata) -> list[Path]:
    """
    Return the storage files ``metadata`` names, resolved as rosbag2 does.

    Before version 4 the paths start with the bag folder's own name (they are relative to its
    parent); from 4 on they are relative to the bag folder. Absolute paths stay.
    """
    bag = Path(bag)
    base = bag.parent if metadata.version < 4 else bag
    out = []
    for name in metadata.files:
        path = PurePosixPath(name)
        out.append(Path(path) if path.is_absolute() else base / path)
    return out
