"""
Salvage the readable messages of a damaged rosbag2 storage file (MCAP or SQLite 3).

``rosbags`` refuses a truncated MCAP file (no footer) outright and stops at the first damaged
SQLite page; these scanners take over then (and for a recording whose ``metadata.yaml`` was
never written) and return every message they can still read, with one problem per damaged
region, so that the player replays the rest and nothing from the bad part.

* **MCAP**: the records are scanned from the start. A chunk is read through its message index
  (the records that follow it) when present, so one damaged message record costs only that
  message; without an index, up to the first damaged record. A chunk whose CRC does not match
  is skipped whole (the damage cannot be located). A truncated uncompressed chunk gives up the
  messages it still holds in full. After damage between chunks the scan resumes at the next
  chunk the summary section lists (when the file's end survived).
* **SQLite 3**: the file is opened read-only with ``writable_schema`` (so that SQLite accepts a
  file shorter than its header records and reports every page past its end as corrupt; a
  partial last page, which SQLite would read as zeros, is left out on a temporary copy); each
  message row is then read on its own, and the rows SQLite reports as malformed are skipped.

Neither format has a per-message checksum. MCAP chunks carry a CRC-32 of their records (rosbag2
writes it, and so does :class:`qcoinf_ros.core.bags.BagWriter`; ``rosbags`` alone writes 0, "not
computed"): where it is set, a flipped byte anywhere in the chunk is detected. Otherwise, and in
SQLite 3, damage inside a message's payload is only caught when it breaks the message's CDR
structure, which the reader checks for every message
(:func:`qcoinf_ros.core.bags.cdr.check_message`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import mmap
from pathlib import Path
import sqlite3
import struct
import tempfile
import zlib

from rosbags.rosbag2.metadata import parse_qos

MCAP_MAGIC = b'\x89MCAP0\r\n'
SQLITE_MAGIC = b'SQLite format 3\x00'
_OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK = 0x02, 0x03, 0x04, 0x05, 0x06
_OP_MESSAGE_INDEX, _OP_CHUNK_INDEX, _OP_DATA_END = 0x07, 0x08, 0x0F
_MAX_OP = 0x0F
_FOOTER_SIZE = 1 + 8 + 20 + 8
_MIN_ROW_BYTES = 8  # the least an SQLite table row (cell pointer + cell) occupies in the file


@dataclass(frozen=True)
class Problem:
    """A damaged region of a bag: where, and what is wrong with it."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f'{self.location}: {self.reason}'


@dataclass
class Salvage:
    """What a scan recovered: topics ``{name: (type, qos list)}``, messages, problems."""

    topics: dict[str, tuple[str, list]] = field(default_factory=dict)
    # (topic, log time [ns], data), in time order
    messages: list[tuple[str, int, bytes]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class _Corrupt(Exception):
    """A record does not fit where it is."""


class _View:
    """Little-endian reads from a byte buffer that raise ``_Corrupt`` past its end."""

    def __init__(self, buf, pos: int = 0, end: int | None = None):
        self.buf, self.pos = buf, pos
        self.end = len(buf) if end is None else end

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > self.end:
            raise _Corrupt(f'{size} bytes needed at offset {self.pos}, '
                           f'{max(0, self.end - self.pos)} left')
        out = bytes(self.buf[self.pos:self.pos + size])
        self.pos += size
        return out

    def u16(self) -> int:
        return struct.unpack('<H', self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack('<I', self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack('<Q', self.take(8))[0]

    def string(self) -> str:
        try:
            return self.take(self.u32()).decode('utf-8')
        except UnicodeDecodeError as exc:
            raise _Corrupt(f'invalid UTF-8 in a string: {exc}') from None

    def record(self) -> tuple[int, int, int]:
        """Return (opcode, body start, body end) of the record at the cursor, and skip it."""
        start = self.pos
        op = self.take(1)[0]
        length = self.u64()
        if not 1 <= op <= _MAX_OP:
            raise _Corrupt(f'invalid record opcode 0x{op:02x} at offset {start}')
        if self.pos + length > self.end:
            raise _Corrupt(f'record 0x{op:02x} at offset {start} needs {length} bytes, '
                           f'{self.end - self.pos} left')
        body = self.pos
        self.pos += length
        return op, body, self.pos


class _Mcap:
    """State of one MCAP scan."""

    def __init__(self, path: Path, buf):
        self.path, self.buf = path, buf
        self.out = Salvage()
        self.schemas: dict[int, str] = {}
        self.channels: dict[int, tuple[str, int, bytes]] = {}  # id -> (topic, schema, metadata)
        self.chunk_starts: list[int] = []

    def problem(self, offset: int | str, reason: str) -> None:
        where = f'{self.path.name} offset {offset}' if isinstance(offset, int) else offset
        self.out.problems.append(Problem(where, reason))

    # -- records -----------------------------------------------------------------------
    def schema(self, view: _View) -> None:
        key = view.u16()
        self.schemas[key] = view.string()

    def channel(self, view: _View) -> None:
        key, schema = view.u16(), view.u16()
        topic = view.string()
        view.string()  # message encoding (cdr)
        size = view.u32()
        meta = _View(view.take(size))
        metadata = {}
        while meta.pos < meta.end:
            name = meta.string()
            metadata[name] = meta.string()
        self.channels.setdefault(key, (topic, schema, metadata.get('offered_qos_profiles', '')))

    def message(self, view: _View, bounds: tuple[int, int] | None, expect=None) -> None:
        channel, _ = view.u16(), view.u32()
        log_time, _ = view.u64(), view.u64()
        if channel not in self.channels:
            raise _Corrupt(f'message of an undefined channel {channel}')
        if bounds is not None and not bounds[0] <= log_time <= bounds[1]:
            raise _Corrupt(f'message time {log_time} outside its chunk ({bounds[0]}..'
                           f'{bounds[1]})')
        if expect is not None and (channel, log_time) != expect:
            raise _Corrupt(f'message (channel {channel}, time {log_time}) differs from its '
                           f'index entry {expect}')
        data = view.take(view.end - view.pos)
        self.out.messages.append((self.channels[channel][0], log_time, data))

    # -- summary -------------------------------------------------------------------------
    def read_summary(self) -> None:
        """Take the chunk offsets (to resume after damage) from an intact summary section."""
        buf = self.buf
        if len(buf) < 8 + _FOOTER_SIZE or bytes(buf[-8:]) != MCAP_MAGIC:
            return
        footer = _View(buf, len(buf) - _FOOTER_SIZE, len(buf) - 8)
        try:
            op, body, _ = footer.record()
            if op != _OP_FOOTER:
                return
            start = _View(buf, body).u64()
            view = _View(buf, start, len(buf) - _FOOTER_SIZE)
            while view.pos < view.end:
                op, body, end = view.record()
                rec = _View(buf, body, end)
                if op == _OP_SCHEMA:
                    self.schema(rec)
                elif op == _OP_CHANNEL:
                    self.channel(rec)
                elif op == _OP_CHUNK_INDEX:
                    rec.u64()
                    rec.u64()
                    self.chunk_starts.append(rec.u64())
        except _Corrupt as exc:
            self.problem('summary section', f'unreadable ({exc}); not used')

    # -- chunks --------------------------------------------------------------------------
    def chunk(self, view: _View, offset: int, complete: bool, index: list) -> None:
        start, end, size, crc = view.u64(), view.u64(), view.u64(), view.u32()
        compression = view.string()
        length = view.u64()
        available = min(length, view.end - view.pos)
        records = view.take(available)
        span = f'chunk at offset {offset} (t {start}..{end})'
        if available < length:
            if compression:
                self.problem(offset, f'{span} is truncated and {compression}-compressed: '
                             'its messages are lost')
                return
            self.problem(offset, f'{span} is truncated ({available} of {length} bytes): '
                         'only its complete messages are recovered')
            complete = False
        elif compression:
            try:
                records = decompress(records, compression, size)
            except ValueError as exc:
                self.problem(offset, f'{span}: {exc}; its messages are lost')
                return
        if complete and crc and zlib.crc32(records) != crc:
            self.problem(offset, f'{span}: CRC mismatch, the chunk is damaged; all its '
                         'messages are skipped')
            return
        self.chunk_records(records, offset, (start, end), index if complete else [],
                           not complete)

    def chunk_records(self, records: bytes, offset: int, bounds, index: list,
                      truncated: bool) -> None:
        view = _View(records)
        while view.pos < view.end:  # schemas and channels; messages too when not indexed
            try:
                op, body, end = view.record()
                rec = _View(records, body, end)
                if op == _OP_SCHEMA:
                    self.schema(rec)
                elif op == _OP_CHANNEL:
                    self.channel(rec)
                elif op == _OP_MESSAGE and not index:
                    self.message(rec, bounds)
                elif op != _OP_MESSAGE:
                    raise _Corrupt(f'record 0x{op:02x} cannot be inside a chunk')
            except _Corrupt as exc:
                if not index and not truncated:
                    self.problem(offset, f'damaged record in the chunk ({exc}); the rest of '
                                 'this chunk is lost (no message index)')
                break
        bad = []
        for channel, log_time, where in sorted(index, key=lambda e: e[2]):
            try:
                op, body, end = _View(records, where).record()
                if op != _OP_MESSAGE:
                    raise _Corrupt(f'record 0x{op:02x} where the index has a message')
                self.message(_View(records, body, end), bounds, (channel, log_time))
            except _Corrupt as exc:
                bad.append(f't={log_time} ({exc})')
        if bad:
            self.problem(offset, f'{len(bad)} damaged message record(s) in the chunk skipped: '
                         + '; '.join(bad[:3]) + (' ...' if len(bad) > 3 else ''))

    def scan(self) -> None:
        buf = self.buf
        if bytes(buf[:8]) != MCAP_MAGIC:
            self.problem(0, 'not an MCAP file (the magic bytes are damaged)')
            return
        self.read_summary()
        view = _View(buf, 8)
        pending = None  # (view over the chunk body, offset, complete) awaiting its index
        index: list = []
        while view.pos < view.end:
            offset = view.pos
            try:
                op, body, end = view.record()
            except _Corrupt as exc:
                self.flush(pending, index)
                pending, index = None, []
                head = _peek(buf, offset, view.end)
                if head is not None and head[0] == _OP_CHUNK and head[1] > view.end - offset - 9:
                    self.flush((_View(buf, offset + 9), offset, False), [])
                elif head is None:
                    self.problem(offset, 'the file ends inside a record header (truncated)')
                else:
                    self.problem(offset, f'the file is damaged or truncated here ({exc})')
                resume = next((s for s in self.chunk_starts if s > offset), None)
                if resume is None:
                    break
                view.pos = resume
                continue
            if op == _OP_MESSAGE_INDEX and pending is not None:
                try:
                    index.extend(_message_index(_View(buf, body, end)))
                except _Corrupt as exc:
                    self.problem(offset, f'damaged message index ({exc}); ignored')
                continue
            self.flush(pending, index)
            pending, index = None, []
            try:
                rec = _View(buf, body, end)
                if op == _OP_CHUNK:
                    pending = (rec, offset, True)
                elif op == _OP_SCHEMA:
                    self.schema(rec)
                elif op == _OP_CHANNEL:
                    self.channel(rec)
                elif op == _OP_MESSAGE:
                    self.message(rec, None)
                elif op in (_OP_DATA_END, _OP_FOOTER):
                    break
            except _Corrupt as exc:
                self.problem(offset, f'damaged record 0x{op:02x} ({exc}); skipped')
        self.flush(pending, index)

    def flush(self, pending, index) -> None:
        if pending is not None:
            try:
                self.chunk(pending[0], pending[1], pending[2], index)
            except _Corrupt as exc:
                self.problem(pending[1], f'damaged chunk header ({exc}); chunk lost')

    def result(self) -> Salvage:
        for topic, schema, qos in self.channels.values():
            msgtype = self.schemas.get(schema)
            if msgtype is None:
                self.problem(self.path.name, f'the type of {topic} is lost (schema {schema} '
                             'unreadable); its messages are skipped')
                continue
            try:
                profiles = parse_qos(qos) if qos else []
            except Exception:  # noqa: BLE001 - damaged QoS text: record without it
                profiles = []
            self.out.topics[topic] = (msgtype, profiles)
        self.out.messages = sorted((m for m in self.out.messages if m[0] in self.out.topics),
                                   key=lambda m: m[1])
        return self.out


def _peek(buf, offset: int, end: int) -> tuple[int, int] | None:
    """Return (opcode, length) of the record header at ``offset`` if it is complete."""
    if end - offset < 9:
        return None
    return buf[offset], struct.unpack('<Q', bytes(buf[offset + 1:offset + 9]))[0]


def _message_index(view: _View) -> list[tuple[int, int, int]]:
    channel = view.u16()
    size = view.u32()
    if size % 16:
        raise _Corrupt(f'index size {size} is not a multiple of 16')
    entries = _View(view.take(size))
    return [(channel, entries.u64(), entries.u64()) for _ in range(size // 16)]


def decompress(data: bytes, compression: str, size: int) -> bytes:
    """Return the ``size`` bytes of an MCAP chunk compressed with ``compression`` (zstd, lz4)."""
    try:
        if compression == 'zstd':
            try:
                from compression import zstd
            except ImportError:
                from backports import zstd
            out = zstd.decompress(data)
        elif compression == 'lz4':
            import lz4.frame
            out = lz4.frame.decompress(data)
        else:
            raise ValueError(f'unsupported chunk compression {compression!r}')
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - ZstdError, LZ4 RuntimeError...
        raise ValueError(f'cannot decompress ({exc})') from None
    if len(out) != size:
        raise ValueError(f'decompressed to {len(out)} bytes, expected {size}')
    return out


def salvage_mcap(path: str | Path) -> Salvage:
    """Return every message still readable in an MCAP file, and what is damaged."""
    path = Path(path)
    with path.open('rb') as handle:
        if path.stat().st_size == 0:
            return Salvage(problems=[Problem(path.name, 'the file is empty')])
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            scan = _Mcap(path, buf)
            scan.scan()
            return scan.result()


def salvage_sqlite3(path: str | Path, expected_count: int | None = None) -> Salvage:
    """
    Return every message row still readable in a rosbag2 SQLite 3 file, and the damage.

    ``expected_count`` (the message count ``metadata.yaml`` claims) lets the scan go on past a
    long damaged run of rows; it is capped by what the file's size can hold, so a corrupt count
    cannot make the scan run (almost) forever.
    """
    path = Path(path)
    out = Salvage()
    head = path.read_bytes()[:100] if path.stat().st_size else b''
    if not head.startswith(SQLITE_MAGIC):
        out.problems.append(Problem(path.name, 'not an SQLite 3 database (header damaged or '
                                    'file empty)'))
        return out
    if len(head) < 100:
        out.problems.append(Problem(path.name, f'truncated inside the SQLite header '
                                    f'({len(head)} of 100 bytes); nothing can be recovered'))
        return out
    page = struct.unpack('>H', head[16:18])[0]
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):  # a power of two from 512 to 65536
        out.problems.append(Problem(path.name, f'the SQLite header is damaged (page size '
                                    f'{page}); nothing can be recovered'))
        return out
    pages = struct.unpack('>I', head[28:32])[0]
    size = path.stat().st_size
    if pages * page > size:
        out.problems.append(Problem(path.name, f'truncated: {size} bytes of the '
                                    f'{pages * page} its header records; the rows in the lost '
                                    'pages are skipped'))
    if expected_count is not None:
        # A claimed count (from a possibly damaged metadata.yaml) bounds the row-by-row scan;
        # no file holds more rows than it has bytes for (a row cell takes >= 8 bytes).
        expected_count = min(expected_count, size // _MIN_ROW_BYTES)
    whole = size // page * page
    with tempfile.TemporaryDirectory(prefix='qcoinf_salvage_') as tmp:
        if whole != size:  # SQLite would read a partial last page as zeros: leave it out
            copy = Path(tmp) / path.name
            with path.open('rb') as src, copy.open('wb') as dst:
                _copy_prefix(src, dst, whole)
            source = copy
        else:
            source = path
        # immutable: no lock, no journal, the file is never written; writable_schema: SQLite
        # opens a file shorter than its header says and reports each page past its end corrupt
        con = sqlite3.connect(f'file:{source.resolve()}?mode=ro&immutable=1', uri=True)
        try:
            con.execute('PRAGMA writable_schema = ON')
            _salvage_rows(con, path.name, expected_count, out)
        finally:
            con.close()
    out.messages.sort(key=lambda m: m[1])
    return out


def _copy_prefix(src, dst, size: int, block: int = 1 << 20) -> None:
    while size > 0:
        chunk = src.read(min(block, size))
        if not chunk:
            break
        dst.write(chunk)
        size -= len(chunk)


def _salvage_rows(con, name: str, expected: int | None, out: Salvage) -> None:
    try:
        rows = con.execute('SELECT id, name, type, offered_qos_profiles FROM topics').fetchall()
    except sqlite3.DatabaseError as exc:
        out.problems.append(Problem(name, f'the topics table is unreadable ({exc}); nothing '
                                    'can be recovered'))
        return
    topics = {}
    for key, topic, msgtype, qos in rows:
        try:
            profiles = parse_qos(qos) if qos else []
        except Exception:  # noqa: BLE001 - damaged QoS text
            profiles = []
        topics[key] = topic
        out.topics[topic] = (msgtype, profiles)
    try:
        ids = [r[0] for r in con.execute('SELECT id FROM messages ORDER BY id')]
        listed = True
    except sqlite3.DatabaseError:
        ids, listed = None, False
    bad: list[tuple[int, str]] = []
    key, misses, last_good = 0, 0, 0
    limit = 1024 if expected is None else 64
    while True:
        if listed:
            if key >= len(ids):
                break
            row_id = ids[key]
        else:
            row_id = key + 1
            if misses >= limit and row_id > max(expected or 0, last_good):
                break
        key += 1
        try:
            row = con.execute('SELECT topic_id, timestamp, data FROM messages WHERE id = ?',
                              (row_id,)).fetchone()
        except sqlite3.DatabaseError as exc:
            bad.append((row_id, str(exc)))
            misses += 1
            continue
        if row is None:
            misses += 1
            continue
        misses, last_good = 0, row_id
        topic_id, stamp, data = row
        if topic_id not in topics:
            bad.append((row_id, f'unknown topic id {topic_id}'))
            continue
        out.messages.append((topics[topic_id], int(stamp), bytes(data)))
    if expected is not None:
        bad = [b for b in bad if b[0] <= max(expected, last_good)]
    by_reason: dict[str, list[int]] = {}
    for row_id, reason in bad:
        by_reason.setdefault(reason, []).append(row_id)
    for reason, rows in by_reason.items():
        what = 'message row' if len(rows) == 1 else f'{len(rows)} message rows'
        out.problems.append(Problem(name, f'{what} {_ranges(rows)} unreadable ({reason}); '
                                    'skipped'))


def _ranges(ids: list[int]) -> str:
    """Return ``1, 3..7, 9`` for [1, 3, 4, 5, 6, 7, 9]."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ', '.join(str(a) if a == b else f'{a}..{b}' for a, b in runs)
