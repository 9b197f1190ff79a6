"""
Write and read rosbag2 bags (MCAP or SQLite 3) with ``rosbags``, as ``ros2 bag`` does.

:class:`BagWriter` writes the serialized messages with each topic's type, its type description
hash and the QoS its publishers offered (``offered_qos_profiles``) into a bag directory with a
``metadata.yaml`` of rosbag2 format version 9, the version rosbag2 writes on Jazzy and Kilted
(``ros2 bag info`` / ``ros2 bag play`` read it).

:class:`BagReader` reads one back message by message and checks each message's CDR. A bag that
``rosbags`` cannot open or stops reading (truncated, damaged, no ``metadata.yaml`` after a
crash) is salvaged by :mod:`qcoinf_ros.bags.recover`: every problem is reported in
:attr:`BagReader.problems` and only the intact messages are yielded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import re
from typing import Iterable, Iterator

from rosbags.interfaces import Qos
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
import yaml

from qcoinf_ros import __version__
from qcoinf_ros.bags.cdr import check_message, is_known, normalize_type, register_definition
from qcoinf_ros.bags.cdr import typestore
from qcoinf_ros.bags.recover import Problem, salvage_mcap, salvage_sqlite3

#: rosbag2 metadata format version written (Jazzy and Kilted write 9).
METADATA_VERSION = 9
STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}
_SUFFIXES = {'.mcap': 'mcap', '.db3': 'sqlite3'}
_NAME_RE = re.compile(r'^/?(?:[A-Za-z_~][A-Za-z0-9_]*)(?:/[A-Za-z_][A-Za-z0-9_]*)*$')

__all__ = ['BagInfo', 'BagMessage', 'BagReader', 'BagWriter', 'METADATA_VERSION', 'Problem',
           'qualify', 'STORAGES', 'TopicInfo', 'TopicSpec', 'write_bag']


def qualify(name: str, namespace: str = '/') -> str:
    """Return the fully qualified topic name: ``camera/image_raw`` -> ``/camera/image_raw``."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith('~'):
        raise ValueError(f'Invalid topic name: "{name}"')
    if name.startswith('/'):
        return name
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    return f'{ns}/{name}'


@dataclass(frozen=True)
class TopicSpec:
    """A topic of a bag: fully qualified name, message type and the QoS offered on it."""

    name: str
    msgtype: str
    qos: tuple[Qos, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, 'name', qualify(self.name))
        object.__setattr__(self, 'msgtype', normalize_type(self.msgtype))
        qos = tuple(self.qos)
        if not all(isinstance(q, Qos) for q in qos):
            raise ValueError(f'qos must be rosbags Qos profiles, got {qos!r}')
        object.__setattr__(self, 'qos', qos)


@dataclass(frozen=True)
class BagMessage:
    """One serialized message of a bag with its topic, type and time [ns]."""

    topic: str
    msgtype: str
    timestamp: int
    data: bytes


@dataclass(frozen=True)
class TopicInfo:
    """A topic of a bag with its message count."""

    spec: TopicSpec
    count: int


@dataclass(frozen=True)
class BagInfo:
    """Summary of a bag: storage, topics with counts, first and last message time [ns]."""

    path: Path
    storage: str
    topics: tuple[TopicInfo, ...]
    message_count: int
    start_ns: int
    end_ns: int

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) * 1e-9

    def topic(self, name: str) -> TopicInfo | None:
        return next((t for t in self.topics if t.spec.name == name), None)


class BagWriter:
    """
    Write a new bag directory (``storage`` ``mcap`` or ``sqlite3``); use as a context manager.

    The bag is closed (index and ``metadata.yaml`` written) also when the ``with`` block ends
    with an exception or Ctrl-C, so what was written stays readable.
    """

    def __init__(self, path: str | Path, storage: str = 'mcap',
                 custom_data: dict[str, str] | None = None):
        if storage not in STORAGES:
            raise ValueError(f'Invalid storage: "{storage}" (expected one of '
                             f'{", ".join(STORAGES)})')
        self.path = Path(path)
        if self.path.exists():
            raise ValueError(f'{self.path} exists already; a bag is never overwritten')
        self.storage = storage
        self._writer = Writer(self.path, version=METADATA_VERSION,
                              storage_plugin=STORAGES[storage])
        self._writer.set_custom_data('qcoinf_ros.version', __version__)
        for key, value in (custom_data or {}).items():
            self._writer.set_custom_data(str(key), str(value))
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.topics: dict[str, TopicSpec] = {}
        self.counts: dict[str, int] = {}
        self._closed = False

    def add_topic(self, spec: TopicSpec) -> None:
        """Register a topic; its type must be one the Kilted typestore knows."""
        if spec.name in self._connections:
            raise ValueError(f'topic {spec.name} is already in the bag')
        if not is_known(spec.msgtype):
            raise ValueError(f'message type {spec.msgtype} of {spec.name} is not a ROS 2 Kilted '
                             'standard type; its definition cannot be written')
        self._connections[spec.name] = self._writer.add_connection(
            spec.name, spec.msgtype, typestore=typestore(),
            offered_qos_profiles=list(spec.qos))
        self.topics[spec.name] = spec
        self.counts[spec.name] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        """Append one serialized message of ``topic`` received at ``timestamp_ns``."""
        connection = self._connections.get(topic)
        if connection is None:
            raise ValueError(f'topic {topic} was not added to the bag')
        if isinstance(timestamp_ns, bool) or not isinstance(timestamp_ns, int) or \
                timestamp_ns < 0:
            raise ValueError(f'timestamp must be an integer >= 0 ns, got {timestamp_ns!r}')
        self._writer.write(connection, timestamp_ns, bytes(data))
        self.counts[topic] += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.close()

    def __enter__(self) -> 'BagWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_bag(path: str | Path, topics: Iterable[TopicSpec],
              messages: Iterable[tuple[str, int, bytes]], storage: str = 'mcap',
              custom_data: dict[str, str] | None = None, progress=None) -> dict[str, int]:
    """Write ``messages`` ``(topic, time ns, data)`` to a new bag; return counts per topic."""
    with BagWriter(path, storage, custom_data) as writer:
        for spec in topics:
            writer.add_topic(spec)
        for topic, stamp, data in messages:
            writer.write(topic, stamp, data)
            if progress is not None:
                progress(len(data))
        return dict(writer.counts)


class BagReader:
    """
    Read a bag directory (or one ``.mcap`` / ``.db3`` file) message by message.

    ``problems`` lists what is damaged (filled while opening and while reading), ``warnings``
    what could not be checked; the messages yielded are intact: readable from storage and, when
    ``validate`` is true, valid CDR of their type. Raises ``ValueError`` when ``path`` is no bag
    at all.
    """

    def __init__(self, path: str | Path, validate: bool = True):
        self.path = Path(path)
        self.validate = validate
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self._reader = None
        self._salvage = None
        if not self.path.exists():
            raise ValueError(f'no bag at {self.path}')
        self._files = self._storage_files()
        if not self._files:
            raise ValueError(f'{self.path} is not a rosbag2 bag (no metadata.yaml, .mcap or '
                             '.db3 file)')
        try:
            if not (self.path.is_dir() and (self.path / 'metadata.yaml').is_file()):
                raise ValueError('metadata.yaml is missing (the recording did not end '
                                 'cleanly?)')
            reader = Reader(self.path)
            reader.open()
            self._reader = reader
        except Exception as exc:  # noqa: BLE001 - ReaderError, YAML errors, sqlite3 errors
            self._add(Problem(str(self.path), f'cannot be opened normally ({exc}); '
                              'salvaging the readable messages'))
            self._salvaged()
        self.info = self._make_info()
        for topic in self.info.topics:
            if not is_known(topic.spec.msgtype):
                self._register(topic.spec.msgtype)

    def _add(self, problem: Problem) -> None:
        if problem not in self.problems:  # a loop reads the bag again: report once
            self.problems.append(problem)

    # -- opening -------------------------------------------------------------------------
    def _storage_files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path] if self.path.suffix in _SUFFIXES else []
        listed = []
        meta = self._metadata()
        for name in (meta or {}).get('relative_file_paths', []) or []:
            if (self.path / str(name)).is_file():
                listed.append(self.path / str(name))
        if listed:
            return listed
        return sorted(p for p in self.path.iterdir() if p.suffix in _SUFFIXES)

    def _metadata(self) -> dict | None:
        try:
            text = (self.path / 'metadata.yaml').read_text()
            info = yaml.safe_load(text)['rosbag2_bagfile_information']
            return info if isinstance(info, dict) else None
        except Exception:  # noqa: BLE001 - missing or damaged: salvage without it
            return None

    @property
    def storage(self) -> str:
        return _SUFFIXES.get(self._files[0].suffix, 'unknown')

    def _salvaged(self):
        if self._salvage is None:
            meta = self._metadata() or {}
            expected = meta.get('message_count') if len(self._files) == 1 else None
            merged = None
            for path in self._files:
                if path.suffix == '.mcap':
                    part = salvage_mcap(path)
                else:
                    part = salvage_sqlite3(path, expected if isinstance(expected, int) else None)
                if merged is None:
                    merged = part
                else:
                    merged.topics.update(part.topics)
                    merged.messages.extend(part.messages)
                    merged.problems.extend(part.problems)
            merged.messages.sort(key=lambda m: m[1])
            for problem in merged.problems:
                self._add(problem)
            self._salvage = merged
        return self._salvage

    def _make_info(self) -> BagInfo:
        if self._reader is not None:
            topics, counts = {}, {}
            for conn in self._reader.connections:
                qos = tuple(getattr(conn.ext, 'offered_qos_profiles', ()) or ())
                topics.setdefault(conn.topic, TopicSpec(conn.topic, conn.msgtype, qos))
                counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount
            count = self._reader.message_count
            start = self._reader.start_time if count else 0
            end = self._reader.end_time - 1 if count else 0
        else:
            salvage = self._salvaged()
            topics, counts = {}, {}
            for name, (msgtype, qos) in salvage.topics.items():
                try:
                    topics[name] = TopicSpec(name, msgtype, tuple(qos))
                except ValueError as exc:
                    self._add(Problem(name, f'unusable topic ({exc}); skipped'))
            for topic, _, _ in salvage.messages:
                counts[topic] = counts.get(topic, 0) + 1
            count = len(salvage.messages)
            start = salvage.messages[0][1] if count else 0
            end = salvage.messages[-1][1] if count else 0
        infos = tuple(TopicInfo(spec, counts.get(name, 0)) for name, spec in topics.items())
        return BagInfo(self.path, self.storage, infos, count, start, end)

    def _register(self, msgtype: str) -> None:
        definition, fmt = '', 'msg'
        if self._reader is not None:
            for conn in self._reader.connections:
                if conn.msgtype == msgtype and conn.msgdef is not None:
                    definition = conn.msgdef.data
                    fmt = 'idl' if conn.msgdef.format.name == 'IDL' else 'msg'
        if not register_definition(msgtype, definition, fmt):
            self.warnings.append(f'{msgtype}: not a Kilted standard type and its definition '
                                 'is not in the bag: its messages are not checked')

    # -- reading -------------------------------------------------------------------------
    def messages(self, topics: Iterable[str] | None = None,
                 start_ns: int | None = None) -> Iterator[BagMessage]:
        """
        Yield the intact messages in time order (only ``topics``; from ``start_ns`` on).

        A storage error in the middle of the bag is recorded in :attr:`problems`, and the
        reading goes on with the salvaged messages after the last one yielded.
        """
        wanted = None if topics is None else {qualify(t) for t in topics}
        types = {t.spec.name: t.spec.msgtype for t in self.info.topics}
        last, seen = None, set()
        if self._reader is not None:
            conns = [c for c in self._reader.connections
                     if wanted is None or c.topic in wanted]
            read = 0
            try:
                for conn, stamp, data in self._reader.messages(connections=conns,
                                                               start=start_ns):
                    read += 1
                    if stamp != last:
                        last, seen = stamp, set()
                    seen.add((conn.topic, bytes(data)))
                    message = self._checked(conn.topic, types[conn.topic], stamp, data)
                    if message is not None:
                        yield message
            except Exception as exc:  # noqa: BLE001 - ReaderError, sqlite3.DatabaseError...
                where = 'at the start' if last is None else f'after t={last} ns'
                self._add(Problem(str(self.path), f'reading failed {where} ({exc}); '
                                  'salvaging the rest'))
            else:
                # rosbags may also stop early without an error (a damaged record before the
                # chunks of an MCAP file): compare with the counts the bag's index lists.
                listed = sum(c.msgcount for c in conns) if start_ns is None else 0
                if read >= listed:
                    return
                self._add(Problem(str(self.path), f'the storage gave {read} of the {listed} '
                                  'messages its index lists; salvaging the rest'))
        for topic, stamp, data in self._salvaged().messages:
            if (wanted is not None and topic not in wanted) or \
                    (start_ns is not None and stamp < start_ns):
                continue
            if last is not None and (stamp < last or (stamp == last and (topic, data) in seen)):
                continue
            if topic not in types:
                continue
            message = self._checked(topic, types[topic], stamp, data)
            if message is not None:
                yield message

    def _checked(self, topic: str, msgtype: str, stamp: int, data) -> BagMessage | None:
        data = bytes(data)
        if self.validate and is_known(msgtype):
            try:
                check_message(data, msgtype)
            except ValueError as exc:
                self._add(Problem(f'{topic} at t={stamp} ns', f'{exc}; not replayed'))
                return None
        return BagMessage(topic, msgtype, stamp, data)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> 'BagReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
