"""
Fuzzing the bag reader on damaged copies of the sample bag (MCAP, and the same in SQLite 3).

Each example copies the bag and damages it: truncation, bit flips, a run of random bytes, a cut
or an insertion in the storage file, and/or a rewritten, damaged or missing ``metadata.yaml``.
:class:`~qcoinf_ros.core.bags.BagReader` must then raise ``ValueError`` (no bag at all) or open it,
list what is damaged, and yield only intact messages — each one valid CDR of its topic's type,
or, for a type the typestore cannot know, yielded unchecked with a warning, as rosbag2 replays
it — within the watchdog's time limit. ``QCOINF_FUZZ_EXAMPLES=N`` runs longer (fuzz_support).
"""

from pathlib import Path
import shutil
import sqlite3
import tempfile

from fuzz_support import bounded, fuzz_settings
from hypothesis import given, strategies as st
import pytest
import yaml

from qcoinf_ros.core.bags import BagReader, write_bag
from qcoinf_ros.core.bags.cdr import check_message, is_known
from qcoinf_ros.core.bags.recover import salvage_sqlite3

SAMPLE = Path(__file__).resolve().parents[1] / 'data' / 'sample_bag'


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    """Return the sample bag as it is (MCAP) and rewritten to SQLite 3, with its messages."""
    root = tmp_path_factory.mktemp('fuzz_bags')
    with BagReader(SAMPLE) as reader:
        topics = [t.spec for t in reader.info.topics]
        messages = [(m.topic, m.timestamp, m.data) for m in reader.messages()]
    assert messages and not reader.problems
    shutil.copytree(SAMPLE, root / 'mcap')
    write_bag(root / 'sqlite3', topics, messages, 'sqlite3')
    return _Bags(root, {(t, s, d) for t, s, d in messages})


class _Bags(tuple):
    """(folder of the intact bags, their messages), with a short repr for hypothesis reports."""

    def __new__(cls, root, intact):
        return super().__new__(cls, (root, intact))

    def __repr__(self) -> str:
        return f'<the sample bag as mcap and sqlite3: {len(self[1])} messages>'


def _storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3'))


def _damage_file(path: Path, data) -> str:
    raw = bytearray(path.read_bytes())
    kind = data.draw(st.sampled_from(['truncate', 'flip', 'overwrite', 'cut', 'insert']),
                     label='damage')
    at = data.draw(st.integers(0, len(raw) - 1), label='offset')
    if kind == 'truncate':
        raw = raw[:at]
    elif kind == 'flip':
        bits = data.draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1, max_size=16),
                         label='bits')
        for pos in bits:
            raw[pos // 8] ^= 1 << (pos % 8)
    elif kind == 'overwrite':
        chunk = data.draw(st.binary(min_size=1, max_size=256), label='bytes')
        raw[at:at + len(chunk)] = chunk
    elif kind == 'cut':
        raw[at:at + data.draw(st.integers(1, 4096), label='length')] = b''
    else:
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=64), label='bytes')
    path.write_bytes(bytes(raw))
    return f'{kind} at {at}'


def _damage_metadata(bag: Path, data) -> str:
    meta = bag / 'metadata.yaml'
    kind = data.draw(st.sampled_from(['delete', 'count', 'paths', 'garbage', 'flip']),
                     label='metadata')
    if kind == 'delete':
        meta.unlink()
        return 'metadata deleted'
    text = meta.read_text()
    if kind == 'count':
        info = yaml.safe_load(text)
        info['rosbag2_bagfile_information']['message_count'] = data.draw(
            st.integers(-5, 2**62) | st.text(max_size=5), label='count')
        meta.write_text(yaml.safe_dump(info))
    elif kind == 'paths':
        info = yaml.safe_load(text)
        info['rosbag2_bagfile_information']['relative_file_paths'] = data.draw(st.lists(
            st.sampled_from(['../metadata.yaml', '/etc/hostname', 'missing.mcap', '.', '']) |
            st.text(max_size=8), max_size=3), label='paths')
        meta.write_text(yaml.safe_dump(info))
    elif kind == 'garbage':
        meta.write_bytes(data.draw(st.binary(max_size=200) | st.sampled_from(
            [b'[' * 5000, b'a: &a [*a, *a]\n', b'rosbag2_bagfile_information: 3\n']),
            label='text'))
    else:
        raw = bytearray(text.encode())
        for pos in data.draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1,
                                      max_size=8), label='bits'):
            raw[pos // 8] ^= 1 << (pos % 8)
        meta.write_bytes(bytes(raw))
    return f'metadata {kind}'


def _read_checked(bag: Path, intact: set, what: str) -> BagReader | None:
    """Read everything under the watchdog; every message yielded must be intact."""
    with bounded(what):
        try:
            reader = BagReader(bag)
        except ValueError:
            return None
        with reader:
            got = list(reader.messages())
            info = reader.info
    types = {t.spec.name: t.spec.msgtype for t in info.topics}
    for m in got:
        assert m.topic in types and m.msgtype == types[m.topic]
        if is_known(m.msgtype):
            check_message(m.data, m.msgtype)  # raises if a damaged message slipped through
        else:  # a type name damaged beyond what the typestore knows: replayed unchecked,
            assert any(m.msgtype in w for w in reader.warnings)  # as rosbag2 does, and said
    stamps = [m.timestamp for m in got]
    assert stamps == sorted(stamps)
    if len(got) < len(intact):
        assert reader.problems, f'{len(intact) - len(got)} messages lost silently ({what})'
    return reader


def _fuzz(bags, storage, data, with_metadata):
    root, intact = bags
    with tempfile.TemporaryDirectory(prefix='qcoinf_fuzz_') as tmp:
        bag = Path(tmp) / 'bag'
        shutil.copytree(root / storage, bag)
        what = [storage]
        if data.draw(st.booleans(), label='damage storage') or not with_metadata:
            what.append(_damage_file(_storage_file(bag), data))
        if with_metadata:
            what.append(_damage_metadata(bag, data))
        _read_checked(bag, intact, ', '.join(what))


@fuzz_settings(40)
@given(data=st.data())
def test_damaged_mcap_bags_read_only_intact_messages(bags, data):
    _fuzz(bags, 'mcap', data, with_metadata=False)


@fuzz_settings(40)
@given(data=st.data())
def test_damaged_sqlite3_bags_read_only_intact_messages(bags, data):
    _fuzz(bags, 'sqlite3', data, with_metadata=False)


@fuzz_settings(40)
@given(data=st.data(), storage=st.sampled_from(['mcap', 'sqlite3']))
def test_damaged_metadata_reads_only_intact_messages(bags, data, storage):
    _fuzz(bags, storage, data, with_metadata=True)


def test_sqlite3_salvage_is_bounded_by_the_file_not_by_a_claimed_count(bags, tmp_path):
    """
    Regression: a huge claimed message_count once made the row-by-row salvage run ~forever.

    With the messages table's root page damaged, rows cannot be listed, and the scan probed row
    ids up to the count ``metadata.yaml`` claims (here 2**62).
    """
    root, _ = bags
    bag = tmp_path / 'bag'
    shutil.copytree(root / 'sqlite3', bag)
    db = _storage_file(bag)
    with sqlite3.connect(f'file:{db}?mode=ro', uri=True) as con:
        (rootpage,), = con.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchall()
        page = con.execute('PRAGMA page_size').fetchone()[0]
    raw = bytearray(db.read_bytes())
    raw[(rootpage - 1) * page:(rootpage - 1) * page + 100] = b'\xff' * 100
    db.write_bytes(bytes(raw))
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())
    meta['rosbag2_bagfile_information']['message_count'] = 2**62
    (bag / 'metadata.yaml').write_text(yaml.safe_dump(meta))
    with bounded('salvage with a claimed count of 2**62', seconds=60):
        out = salvage_sqlite3(db, expected_count=2**62)
        reader = _read_checked(bag, bags[1], 'damaged root page, count 2**62')
    assert out.problems and reader is not None and reader.problems
    assert any('unreadable' in p.reason for p in out.problems)


@pytest.mark.parametrize('cut, patch', [(24, None), (18, None), (None, (16, b'\x00')),
                                        (None, (16, b'\x03\x00'))])
def test_damaged_sqlite3_header_is_a_problem_not_a_crash(bags, tmp_path, cut, patch):
    """Regression: a cut or bad page size in the header raised struct.error/ZeroDivisionError."""
    root, _ = bags
    bag = tmp_path / 'bag'
    shutil.copytree(root / 'sqlite3', bag)
    db = _storage_file(bag)
    raw = bytearray(db.read_bytes())
    if cut is not None:
        raw = raw[:cut]
    else:
        raw[patch[0]:patch[0] + len(patch[1])] = patch[1]
    db.write_bytes(bytes(raw))
    reader = _read_checked(bag, bags[1], f'header cut at {cut} / patched {patch}')
    assert reader is not None and any('SQLite header' in p.reason for p in reader.problems)
