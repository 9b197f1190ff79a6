"""
Every committed MCAP file's CRCs hold; the package's own bags carry every CRC the format has.

A chunk CRC covers the chunk's records; the DataEnd's data-section CRC covers every byte before
it — also the header, schema and channel records outside the chunks, where a flipped byte is
otherwise replayed unnoticed. rosbag2's own bags (``test/data/rosbag2_real``,
``test/data/cross_distro``) leave the data-section CRC at 0 ("not available") and some write no
chunk CRC: what they store must still match; the package's bags must store both.
"""

from pathlib import Path

import pytest

from qcoinf_ros.core.bags.sample import SampleScenario, write_sample_bag
from qcoinf_ros.core.bags.storage import mcap_crcs, write_data_crc

DATA = Path(__file__).resolve().parents[2] / 'data'
COMMITTED = sorted(DATA.rglob('*.mcap'))
OWN = [DATA / 'sample_bag' / 'sample_bag.mcap']


def test_there_are_committed_bags():
    assert len(COMMITTED) >= 5 and all(p in COMMITTED for p in OWN)


@pytest.mark.parametrize('path', COMMITTED, ids=lambda p: str(p.relative_to(DATA)))
def test_every_stored_crc_matches_its_bytes(path):
    crcs = mcap_crcs(path)
    assert crcs.chunks and crcs.data_section is not None
    assert crcs.problems == []


@pytest.mark.parametrize('path', OWN, ids=lambda p: p.parent.name)
def test_the_packages_bags_store_every_crc(path):
    crcs = mcap_crcs(path)
    assert all(stored for _, stored, _ in crcs.chunks)
    assert crcs.data_section[0] != 0


def test_a_flip_outside_the_chunks_is_caught_by_the_data_section_crc(tmp_path):
    write_sample_bag(tmp_path / 'b', scenario=SampleScenario(frames=2))
    path = next((tmp_path / 'b').glob('*.mcap'))
    crcs = mcap_crcs(path)
    assert crcs.problems == [] and crcs.data_section[0] != 0
    data = bytearray(path.read_bytes())
    data[20] ^= 0x01  # inside the Header record (its library string): before any chunk
    path.write_bytes(bytes(data))
    problems = mcap_crcs(path).problems
    assert len(problems) == 1 and problems[0].startswith('data section'), problems
    assert write_data_crc(path) == mcap_crcs(path).data_section[1]  # rewritten: whole again
    assert mcap_crcs(path).problems == []


def test_not_mcap_or_unfinished_is_a_value_error(tmp_path):
    (tmp_path / 'x.mcap').write_bytes(b'not an mcap file at all')
    with pytest.raises(ValueError, match='not an MCAP file'):
        mcap_crcs(tmp_path / 'x.mcap')
    write_sample_bag(tmp_path / 'b', scenario=SampleScenario(frames=1))
    path = next((tmp_path / 'b').glob('*.mcap'))
    data = path.read_bytes()
    cut = tmp_path / 'cut.mcap'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='runs past the end'):
        mcap_crcs(cut)


def test_a_flipped_byte_in_the_committed_sample_bag_is_reported_and_not_played(tmp_path):
    import shutil

    from qcoinf_ros.core.bags.storage import BagReader
    bag = tmp_path / 'sample_bag'
    shutil.copytree(DATA / 'sample_bag', bag)
    path = bag / 'sample_bag.mcap'
    offset = mcap_crcs(path).chunks[0][0]
    raw = bytearray(path.read_bytes())
    raw[offset + 20_000] ^= 0x01  # inside the chunk's (uncompressed) frames
    path.write_bytes(bytes(raw))
    assert any(p.startswith('chunk at offset') for p in mcap_crcs(path).problems)
    with BagReader(bag) as reader:
        played = list(reader.messages())
        assert any('CRC mismatch' in str(p) for p in reader.problems), reader.problems
    assert played == []  # the one chunk holds every message: none is replayed
