"""
Write and read rosbag2 bags (MCAP or SQLite 3) as ``ros2 bag`` does.

:class:`BagWriter` writes the serialized messages with each topic's type, its type description
hash and the QoS its publishers offered (``offered_qos_profiles``) into a bag directory with a
``metadata.yaml`` of rosbag2 format version 9, the version rosbag2 writes on Jazzy and Kilted,
``ros_distro`` from ``$ROS_DISTRO`` and, in MCAP, each channel's ``topic_type_hash``: what
rosbag2 writes, so ``ros2 bag info`` and Foxglove see a native bag.

:class:`BagReader` reads any bag rosbag2 has written (metadata versions 1-9, a folder or one
storage file, MCAP or SQLite 3, zstd file or message compression) by rosbag2's rules: topics
from ``metadata.yaml``, messages from the storage by topic name (``rosbags``' storage-level
readers; its bag-level reader also matches the QoS text and drops messages when it differs).
Each message's CDR is checked. A bag whose storage cannot be read (truncated, damaged, no
``metadata.yaml`` after a crash) is salvaged by :mod:`qcoinf_ros.core.bags.recover`: every problem
is reported in :attr:`BagReader.problems` and only the intact messages are yielded.
"""

from __future__ import annotations

from dataclasses import dataclass
import heapq
from io import BytesIO
import json
import os
from pathlib import Path
import re
import shutil
import tempfile
from typing import Iterable, Iterator
import zlib

from rosbags.interfaces import Qos
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import Channel, McapReader, McapWriter, write_channel
from rosbags.rosbag2.storage_mcap import write_string
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

from qcoinf_ros import __version__
from qcoinf_ros.core.bags.cdr import check_message, is_known, normalize_type, register_definition
from qcoinf_ros.core.bags.cdr import distro, typestore
from qcoinf_ros.core.bags.metadata import BagMetadata, normalize_qos, read_metadata, storage_paths
from qcoinf_ros.core.bags.metadata import TopicMetadata
from qcoinf_ros.core.bags.recover import (
    decompress, Problem, Salvage, salvage_mcap, salvage_sqlite3)

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


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid topic name, relative or absolute; else ``ValueError``."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith('~'):
        raise ValueError(f'Invalid topic name: "{name}"')
    return name


@dataclass(frozen=True)
class TopicSpec:
    """
    A topic of a bag: name, message type and the QoS offered on it.

    The name is kept as given (a bag may record relative names); :class:`BagWriter` writes
    it fully qualified, as ``ros2 bag record`` does.
    """

    name: str
    msgtype: str
    qos: tuple[Qos, ...] = ()

    def __post_init__(self):
        check_name(self.name)
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
    """
    A topic of a bag: its spec, the messages its storage holds, how metadata.yaml records it.

    ``listed`` is the count ``metadata.yaml`` gives (None for a single storage file or a
    salvaged bag); ``serialization_format`` other than ``cdr`` cannot be replayed.
    """

    spec: TopicSpec
    count: int
    serialization_format: str = 'cdr'
    type_hash: str = ''
    listed: int | None = None

    @property
    def qualified_name(self) -> str:
        """Return the name the player publishes on (a relative name resolved in `/`)."""
        return qualify(self.spec.name)


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
        """Return the topic recorded as ``name``, else the one both resolve to (or None)."""
        found = next((t for t in self.topics if t.spec.name == name), None)
        if found is None and isinstance(name, str) and _NAME_RE.match(name) and \
                not name.startswith('~'):
            full = qualify(name)
            found = next((t for t in self.topics if t.qualified_name == full), None)
        return found


#: Offset of a Chunk record's ``uncompressed_crc`` from the record's start: opcode (1), record
#: length (8), message start and end time (8 + 8), uncompressed size (8).
_CHUNK_CRC_OFFSET = 1 + 8 + 8 + 8 + 8


class _McapWriter(McapWriter):
    """
    rosbags' MCAP writer, writing what rosbag2 writes: ``topic_type_hash`` and chunk CRCs.

    Every chunk carries the CRC-32 of its uncompressed records, as rosbag2's writer (the mcap
    library) writes it, so a reader detects a flipped byte inside a chunk.
    """

    def add_connection(self, connection, offered_qos_profiles: str) -> None:
        metadata = BytesIO()
        for key, value in (('offered_qos_profiles', offered_qos_profiles),
                           ('topic_type_hash', connection.digest or '')):
            write_string(metadata, key)
            write_string(metadata, value)
        self.channels.append(Channel(connection.id, connection.msgtype, connection.topic,
                                     connection.ext.serialization_format, metadata.getvalue()))
        self.channel_stats[connection.id] = 0
        write_channel(self.chunk.bio, self.channels[-1], self.schemas)

    def close_chunk(self) -> None:
        """Write the chunk as rosbags does, then fill in its CRC-32 (rosbags writes 0)."""
        crc = zlib.crc32(self.chunk.bio.getbuffer())  # of the uncompressed records, as rosbag2
        start = self.bio.tell()
        super().close_chunk()
        end = self.bio.tell()
        self.bio.seek(start + _CHUNK_CRC_OFFSET)
        self.bio.write(crc.to_bytes(4, 'little'))
        self.bio.seek(end)


def ros_distro() -> str:
    """Return what rosbag2 writes as ``ros_distro``: ``$ROS_DISTRO`` (empty when unset)."""
    return os.environ.get('ROS_DISTRO', '')


def _with_distro(text: str) -> str:
    """Replace the ``ros_distro: rosbags`` line of ``rosbags``' metadata with ``$ROS_DISTRO``."""
    return re.sub(r'^(\s*)ros_distro: rosbags$', lambda m: f'{m.group(1)}ros_distro: '
                  f'{json.dumps(ros_distro())}', text, flags=re.MULTILINE)


def write_chunk_crcs(path: str | Path, compute: bool = True) -> int:
    """
    Rewrite the ``uncompressed_crc`` of every chunk of the MCAP file ``path``; return how many.

    For a bag written by ``rosbags`` alone, which writes 0 there ("not computed"): the CRC-32 of
    each chunk's uncompressed records is filled in, as rosbag2's writer (the mcap library) and
    :class:`BagWriter` write it while writing; readers check it when it is not 0
    (:mod:`qcoinf_ros.core.bags.recover` does). The data section is walked in place; only the 4 CRC
    bytes of each chunk are rewritten. ``compute=False`` writes 0 (a bag as ``rosbags`` writes
    it).
    """
    done = 0
    with open(path, 'r+b') as f:
        if f.read(8) != b'\x89MCAP0\r\n':
            raise ValueError(f'{path} is not an MCAP file')
        while True:
            head = f.read(9)
            if len(head) < 9:
                break
            op, length = head[0], int.from_bytes(head[1:], 'little')
            body_start = f.tell()
            if op == 0x06:  # Chunk
                crc = 0
                if compute:
                    body = f.read(length)
                    n = int.from_bytes(body[28:32], 'little')
                    compression, records = body[32:32 + n].decode(), body[32 + n + 8:]
                    if compression:
                        size = int.from_bytes(body[16:24], 'little')
                        records = decompress(records, compression, size)
                    crc = zlib.crc32(records)
                f.seek(body_start - 9 + _CHUNK_CRC_OFFSET)
                f.write(crc.to_bytes(4, 'little'))
                done += 1
            elif op in (0x0F, 0x02):  # DataEnd, Footer: the data section is over
                break
            f.seek(body_start + length)
    return done


@dataclass(frozen=True)
class McapCrcs:
    """The CRCs an MCAP file stores and what its bytes give: chunks and the data section."""

    chunks: tuple[tuple[int, int, int], ...]  # (offset, stored, computed) per chunk
    data_section: tuple[int, int] | None      # (stored, computed); None without a DataEnd

    @property
    def problems(self) -> list[str]:
        """Return each stored CRC (not 0, "not computed") that its bytes do not give."""
        out = [f'chunk at offset {o}: CRC {s:#010x}, its records give {c:#010x}'
               for o, s, c in self.chunks if s and s != c]
        if self.data_section and self.data_section[0] and \
                self.data_section[0] != self.data_section[1]:
            out.append(f'data section: CRC {self.data_section[0]:#010x}, its bytes give '
                       f'{self.data_section[1]:#010x}')
        return out


def _mcap_records(data: bytes):
    """Yield (offset, opcode, body start, body end) of the data section's top-level records."""
    if data[:8] != b'\x89MCAP0\r\n':
        raise ValueError('not an MCAP file (its magic bytes differ)')
    pos = 8
    while pos + 9 <= len(data):
        op, length = data[pos], int.from_bytes(data[pos + 1:pos + 9], 'little')
        if pos + 9 + length > len(data):
            raise ValueError(f'MCAP record at offset {pos} runs past the end of the file')
        yield pos, op, pos + 9, pos + 9 + length
        if op in (0x0F, 0x02):  # DataEnd, Footer: the data section is over
            return
        pos += 9 + length


def mcap_crcs(path: str | Path) -> McapCrcs:
    """
    Read every chunk CRC and the DataEnd's data-section CRC of an MCAP file, and recompute them.

    The chunk CRC is of the chunk's uncompressed records; the data section CRC of every byte
    before the DataEnd record, the leading magic included (as the mcap library's writers compute
    it). ``ValueError`` for a file that is not MCAP or is cut inside a record.
    """
    data = Path(path).read_bytes()
    chunks, section = [], None
    for offset, op, body, end in _mcap_records(data):
        if op == 0x06:  # Chunk
            stored = int.from_bytes(data[body + 24:body + 28], 'little')
            n = int.from_bytes(data[body + 28:body + 32], 'little')
            compression = data[body + 32:body + 32 + n].decode()
            records = data[body + 32 + n + 8:end]
            if compression:
                size = int.from_bytes(data[body + 16:body + 24], 'little')
                records = decompress(records, compression, size)
            chunks.append((offset, stored, zlib.crc32(records)))
        elif op == 0x0F:
            section = (int.from_bytes(data[body:body + 4], 'little'), zlib.crc32(data[:offset]))
    return McapCrcs(tuple(chunks), section)


def write_data_crc(path: str | Path) -> int:
    """
    Write the DataEnd's data-section CRC of the MCAP file ``path`` in place; return it.

    ``rosbags`` writes 0 ("not available"); the CRC-32 of every byte before the DataEnd record
    (magic, header, and all data records) lets a reader detect damage outside the chunks too.
    """
    data = Path(path).read_bytes()
    for offset, op, body, _ in _mcap_records(data):
        if op == 0x0F:
            crc = zlib.crc32(data[:offset])
            with open(path, 'r+b') as f:
                f.seek(body)
                f.write(crc.to_bytes(4, 'little'))
            return crc
    raise ValueError(f'{path} has no DataEnd record (unfinished MCAP file)')


class _Writer(Writer):
    """rosbags' writer, writing what rosbag2 writes where the two differ (distro, type hash)."""

    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: _McapWriter}

    def close(self) -> None:
        storage = self.storage
        close_storage = storage.close
        storage.close = lambda version, metadata: close_storage(version, _with_distro(metadata))
        super().close()
        self.metapath.write_text(_with_distro(self.metapath.read_text()), 'utf8')


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
        self._writer = _Writer(self.path, version=METADATA_VERSION,
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
        """Register a topic (written fully qualified); its type must be a standard one."""
        if not is_known(spec.msgtype):
            raise ValueError(f'message type {spec.msgtype} of {spec.name} is not a ROS 2 '
                             f'{distro()} standard type; its definition cannot be written')
        spec = TopicSpec(qualify(spec.name), spec.msgtype, spec.qos)
        if spec.name in self._connections:
            raise ValueError(f'topic {spec.name} is already in the bag')
        self._connections[spec.name] = self._writer.add_connection(
            spec.name, spec.msgtype, typestore=typestore(),
            offered_qos_profiles=list(spec.qos))
        self.topics[spec.name] = spec
        self.counts[spec.name] = 0

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        """Append one serialized message of ``topic`` received at ``timestamp_ns``."""
        connection = self._connections.get(topic)
        if connection is None and isinstance(topic, str) and _NAME_RE.match(topic):
            connection = self._connections.get(qualify(topic))
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
            if self.storage == 'mcap':  # chunk CRCs are written as the chunks close
                for file in sorted(self.path.glob('*.mcap')):
                    write_data_crc(file)

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


def _zstd():
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    return zstd


def _storage_of(path: Path) -> str | None:
    """Return ``mcap`` / ``sqlite3`` for a storage file (also when zstd-compressed whole)."""
    suffix = Path(path.stem).suffix if path.suffix == '.zstd' else path.suffix
    return _SUFFIXES.get(suffix)


class _Storage:
    """One storage file, opened with ``rosbags``' storage-level reader (topics as stored)."""

    def __init__(self, path: Path, compression_mode: str, tmp: Path):
        self.path = path
        self.message_compressed = compression_mode == 'message'
        if path.suffix == '.zstd':  # compression_mode: file
            plain = tmp / path.stem
            with path.open('rb') as src, _zstd().open(src, 'rb') as unpacked, \
                    plain.open('wb') as dst:
                shutil.copyfileobj(unpacked, dst)
            path = plain
        plugin = McapReader if path.suffix == '.mcap' else Sqlite3Reader
        self.reader = plugin(path)
        self.reader.open()
        self.connections = list(self.reader.connections)

    def count(self, topic: str) -> int:
        return sum(c.msgcount for c in self.connections if c.topic == topic)

    def messages(self, topics: set[str], start_ns: int | None) -> Iterator[tuple]:
        conns = [c for c in self.connections if c.topic in topics]
        if not conns:
            return
        for conn, stamp, data in self.reader.messages(conns, start=start_ns):
            if self.message_compressed:
                data = _zstd().decompress(bytes(data))
            yield stamp, conn.topic, data

    def close(self) -> None:
        self.reader.close()


class BagReader:
    """
    Read a bag directory (or one ``.mcap`` / ``.db3`` file) message by message, as rosbag2 does.

    The topics come from ``metadata.yaml`` (any format version, :mod:`.metadata`), the messages
    from the storage files by topic *name*, so a QoS text in ``metadata.yaml`` that differs
    from the storage's never hides messages; a single storage file is opened with the
    storage's own record of its topics, as ``ros2 bag info FILE`` does. Names stay as recorded
    (``a_empty``); a topic is found by its recorded or its fully qualified name.

    ``problems`` lists what is damaged (filled while opening and while reading), ``warnings``
    what could not be checked or disagrees without loss, ``refusal`` why the bag cannot be
    replayed at all (a serialization format other than CDR, which rosbag2 also refuses). The
    messages yielded are intact: readable from storage and, when ``validate`` is true, valid
    CDR of their type. A bag whose storage cannot be read (truncated, damaged, no
    ``metadata.yaml`` after a crash) is salvaged by :mod:`qcoinf_ros.core.bags.recover`. Raises
    ``ValueError`` when ``path`` is no bag at all.
    """

    def __init__(self, path: str | Path, validate: bool = True):
        self.path = Path(path)
        self.validate = validate
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.refusal: str | None = None
        self.metadata: BagMetadata | None = None
        self._storages: list[_Storage] = []
        self._salvage = None
        self._tmp = None
        if not self.path.exists():
            raise ValueError(f'no bag at {self.path}')
        self._files = self._locate()
        if not self._files and self.metadata is None and not self.problems:
            raise ValueError(f'{self.path} is not a rosbag2 bag (no metadata.yaml, .mcap or '
                             '.db3 file)')
        if not self.problems and self._files:
            try:
                self._open_storages()
            except Exception as exc:  # noqa: BLE001 - ReaderError, sqlite3/zstd errors
                self._close_storages()
                self._add(Problem(str(self.path), f'cannot be opened normally ({exc}); '
                                  'salvaging the readable messages'))
        if not self._storages:
            self._salvaged()
        self.info = self._make_info()
        for msgtype in dict.fromkeys(t.spec.msgtype for t in self.info.topics):
            if not is_known(msgtype):
                self._register(msgtype)
        formats = sorted({t.serialization_format for t in self.info.topics} - {'cdr'})
        if formats:
            names = [t.spec.name for t in self.info.topics if t.serialization_format != 'cdr']
            self.refusal = (f'serialization format {", ".join(formats)} (topics '
                            f'{", ".join(names)}): only cdr can be replayed, and no converter '
                            'is installed (ros2 bag play refuses it too)')

    def _add(self, problem: Problem) -> None:
        if problem not in self.problems:  # a loop reads the bag again: report once
            self.problems.append(problem)

    # -- opening -------------------------------------------------------------------------
    def _folder_files(self) -> list[Path]:
        """Return the regular storage files directly in the bag folder, by name."""
        return sorted(p for p in self.path.iterdir() if _storage_of(p) and p.is_file())

    def _locate(self) -> list[Path]:
        """Return the storage files; note in ``problems`` what is missing."""
        if self.path.is_file():
            if _storage_of(self.path) is None:
                raise ValueError(f'{self.path} is not a rosbag2 storage file (.mcap or .db3)')
            return [self.path]
        if not self.path.is_dir():  # a FIFO or a device would block or never end
            raise ValueError(f'{self.path} is neither a bag folder nor a regular storage file')
        if not (self.path / 'metadata.yaml').is_file():
            found = self._folder_files()
            if found:
                self._add(Problem(str(self.path), 'metadata.yaml is missing (the recording '
                                  'did not end cleanly; `ros2 bag reindex` would rebuild it); '
                                  'salvaging the readable messages'))
            return found
        try:
            self.metadata = read_metadata(self.path)
        except ValueError as exc:
            self._add(Problem(str(self.path / 'metadata.yaml'), f'{exc}; salvaging the '
                              'readable messages of the storage files'))
            return self._folder_files()
        meta = self.metadata
        if not meta.files:  # rosbag2 would read nothing; the folder's own files are salvaged
            self._add(Problem(str(self.path / 'metadata.yaml'), 'lists no storage file; '
                              'salvaging the storage files of the folder'))
            return self._folder_files()
        if meta.storage not in STORAGES:
            raise ValueError(f'{self.path}: storage "{meta.storage}" is not supported '
                             f'({", ".join(STORAGES)})')
        mode = meta.compression_mode.lower()
        if mode not in ('', 'none', 'file', 'message') or \
                (mode in ('file', 'message') and meta.compression_format != 'zstd'):
            raise ValueError(f'{self.path}: compression "{meta.compression_format}" / '
                             f'"{meta.compression_mode}" is not supported (zstd file or '
                             'message)')
        present = []
        folder = self.path.resolve()
        for path in storage_paths(self.path, meta):
            try:
                inside = folder in path.resolve().parents
            except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the name
                inside = False
            # absolute, `..` or a symlink out: never read (rosbag2 would read an absolute path)
            if not inside:
                self._add(Problem(str(path), 'listed in metadata.yaml but outside the bag '
                                  'folder: not read'))
            elif not path.is_file():
                self._add(Problem(str(path), 'listed in metadata.yaml but missing (or not a '
                                  'regular file): its messages are lost'))
            elif path not in present:
                present.append(path)
        return present

    def _open_storages(self) -> None:
        mode = self.metadata.compression_mode.lower() if self.metadata else ''
        if mode == 'file':
            self._tmp = tempfile.TemporaryDirectory(prefix='qcoinf_bag_')
        for path in self._files:
            self._storages.append(_Storage(path, mode, Path(self._tmp.name) if self._tmp
                                           else None))

    def _close_storages(self) -> None:
        for storage in self._storages:
            try:
                storage.close()
            except Exception:  # noqa: BLE001 - closing after a failed open
                pass
        self._storages = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def files(self) -> list[Path]:
        """Return the storage files read, in order."""
        return list(self._files)

    @property
    def storage(self) -> str:
        if self.metadata is not None and self.metadata.storage in STORAGES:
            return self.metadata.storage
        return (_storage_of(self._files[0]) if self._files else None) or 'unknown'

    def _salvaged(self):
        if self._salvage is None:
            meta = self.metadata
            expected = meta.message_count if meta is not None and len(self._files) == 1 \
                else None
            merged = None
            for path in self._files:
                if path.suffix == '.mcap':
                    part = salvage_mcap(path)
                else:
                    part = salvage_sqlite3(path, expected)
                if merged is None:
                    merged = part
                else:
                    merged.topics.update(part.topics)
                    merged.messages.extend(part.messages)
                    merged.problems.extend(part.problems)
            merged = merged if merged is not None else Salvage()
            merged.messages.sort(key=lambda m: m[1])
            for problem in merged.problems:
                self._add(problem)
            self._salvage = merged
        return self._salvage

    def _stored_topics(self) -> dict[str, tuple[TopicMetadata, int]]:
        """Return the storage's topics as stored: name -> (metadata, count)."""
        topics: dict[str, tuple[TopicMetadata, int]] = {}
        if self._storages:
            for storage in self._storages:
                for conn in storage.connections:
                    meta, count = topics.get(conn.topic, (None, 0))
                    if meta is None:
                        ext = conn.ext
                        meta = TopicMetadata(
                            conn.topic, conn.msgtype,
                            getattr(ext, 'serialization_format', 'cdr') or 'cdr',
                            tuple(normalize_qos(q) for q in
                                  getattr(ext, 'offered_qos_profiles', ()) or ()),
                            conn.digest or '')
                    topics[conn.topic] = (meta, count + conn.msgcount)
        else:
            salvage = self._salvaged()
            counts: dict[str, int] = {}
            for topic, _, _ in salvage.messages:
                counts[topic] = counts.get(topic, 0) + 1
            for name, (msgtype, qos) in salvage.topics.items():
                meta = TopicMetadata(name, msgtype, 'cdr',
                                     tuple(normalize_qos(q) for q in qos))
                topics[name] = (meta, counts.get(name, 0))
        return topics

    def _make_info(self) -> BagInfo:
        stored = self._stored_topics()
        if self.metadata is not None:
            listed = {meta.name: (meta, count) for meta, count in self.metadata.topics}
            for name in stored.keys() - listed.keys():
                self.warnings.append(f'{name}: in the storage but not in metadata.yaml; not '
                                     'read (as rosbag2)')
        else:
            listed = {name: (meta, None) for name, (meta, _) in stored.items()}
        infos = []
        for name, (meta, count) in listed.items():
            held = stored.get(name, (None, 0))[1]
            if count is not None and count != held and self._storages:
                self.warnings.append(f'{name}: metadata.yaml lists {count} messages, the '
                                     f'storage holds {held}')
            try:
                spec = TopicSpec(name, meta.msgtype, meta.qos)
            except ValueError as exc:
                self.warnings.append(f'{name}: unusable topic ({exc}); skipped')
                continue
            infos.append(TopicInfo(spec, held, meta.serialization_format, meta.type_hash,
                                   count))
        if self._storages:
            metas = [s.reader.metadata for s in self._storages
                     if s.reader.metadata.message_count]
            count = sum(t.count for t in infos)
            start = min((m.start_time for m in metas), default=0) if count else 0
            end = max((m.end_time for m in metas), default=1) - 1 if count else 0
        else:
            names = {t.spec.name for t in infos}
            times = [m[1] for m in self._salvaged().messages if m[0] in names]
            count = len(times)
            start, end = (times[0], times[-1]) if times else (0, 0)
        return BagInfo(self.path, self.storage, tuple(infos), count, start, end)

    def _register(self, msgtype: str) -> None:
        definition, fmt = '', 'msg'
        for storage in self._storages:
            for conn in storage.connections:
                if conn.msgtype == msgtype and conn.msgdef is not None and conn.msgdef.data:
                    definition = conn.msgdef.data
                    fmt = 'idl' if conn.msgdef.format.name == 'IDL' else 'msg'
        if not register_definition(msgtype, definition, fmt):
            self.warnings.append(f'{msgtype}: not a {distro()} standard type and its definition '
                                 'is not in the bag: its messages are not checked')

    # -- reading -------------------------------------------------------------------------
    def messages(self, topics: Iterable[str] | None = None,
                 start_ns: int | None = None) -> Iterator[BagMessage]:
        """
        Yield the intact messages in time order (only ``topics``; from ``start_ns`` on).

        ``topics`` are recorded or fully qualified names. A storage error in the middle of
        the bag is recorded in :attr:`problems`, and the reading goes on with the salvaged
        messages after the last one yielded.
        """
        types = {t.spec.name: t.spec.msgtype for t in self.info.topics}
        wanted = set(types) if topics is None else \
            {t.spec.name for name in topics if (t := self.info.topic(name)) is not None}
        last, seen = None, set()
        if self._storages:
            read = 0
            sources = [s.messages(wanted, start_ns) for s in self._storages]
            try:
                for stamp, topic, data in heapq.merge(*sources, key=lambda m: m[0]):
                    read += 1
                    if stamp != last:
                        last, seen = stamp, set()
                    seen.add((topic, bytes(data)))
                    message = self._checked(topic, types[topic], stamp, data)
                    if message is not None:
                        yield message
            except Exception as exc:  # noqa: BLE001 - ReaderError, sqlite3.DatabaseError...
                where = 'at the start' if last is None else f'after t={last} ns'
                self._add(Problem(str(self.path), f'reading failed {where} ({exc}); '
                                  'salvaging the rest'))
            else:
                # rosbags may also stop early without an error (a damaged record before the
                # chunks of an MCAP file): compare with the counts the storage's index lists.
                listed = sum(s.count(t) for s in self._storages for t in wanted) \
                    if start_ns is None else 0
                if read >= listed:
                    return
                self._add(Problem(str(self.path), f'the storage gave {read} of the {listed} '
                                  'messages its index lists; salvaging the rest'))
        for topic, stamp, data in self._salvaged().messages:
            if topic not in wanted or (start_ns is not None and stamp < start_ns):
                continue
            if last is not None and (stamp < last or (stamp == last and (topic, data) in seen)):
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
        self._close_storages()

    def __enter__(self) -> 'BagReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()
