"""``qcoinf bag mcap``: a recorded bag as an MCAP file with the Foxglove view's channels."""

import json
import struct

import numpy as np

from qcoinf_ros.core.bags import BagReader
from qcoinf_ros.core.bags.storage import _mcap_records, _zstd
from qcoinf_ros.tools.cli import bag as bag_cli


def _records(data: bytes):
    """Yield (opcode, body) of every record, those inside chunks too."""
    for _, op, start, end in _mcap_records(data):
        body = data[start:end]
        if op != 0x06:
            yield op, body
            continue
        n = struct.unpack_from('<I', body, 28)[0]
        compression = body[32:32 + n].decode()
        size = struct.unpack_from('<Q', body, 32 + n)[0]
        inner = body[40 + n:40 + n + size]
        if compression == 'zstd':
            inner = _zstd().decompress(inner)
        assert compression in ('', 'zstd'), compression
        pos = 0
        while pos + 9 <= len(inner):
            op2, length = inner[pos], struct.unpack_from('<Q', inner, pos + 1)[0]
            yield op2, inner[pos + 9:pos + 9 + length]
            pos += 9 + length


def _string(body: bytes, pos: int):
    n = struct.unpack_from('<I', body, pos)[0]
    return body[pos + 4:pos + 4 + n].decode(), pos + 4 + n


def _read(path):
    schemas, channels, messages, attachments = {}, {}, [], []
    for op, body in _records(path.read_bytes()):
        if op == 0x03:  # Schema: id u16, name, encoding, data
            sid = struct.unpack_from('<H', body)[0]
            name, pos = _string(body, 2)
            schemas[sid] = (name, _string(body, pos)[0])
        elif op == 0x04:  # Channel: id u16, schema id u16, topic, message encoding, metadata
            cid, sid = struct.unpack_from('<HH', body)
            topic, pos = _string(body, 4)
            channels[cid] = (topic, _string(body, pos)[0], schemas[sid])
        elif op == 0x05:  # Message: channel u16, sequence u32, log time u64, publish u64, data
            cid, _, log_time = struct.unpack_from('<HIQ', body)
            messages.append((channels[cid][0], log_time, body[22:]))
        elif op == 0x09:  # Attachment: log time, create time, name, media type, data
            attachments.append(_string(body, 16)[0])
    return channels, messages, attachments


def test_outputs_bag_becomes_the_foxglove_view(tmp_path, capsys):
    from bag_outputs import output_bag, T0

    e2e = output_bag(tmp_path / 'outputs')
    out = tmp_path / 'view.mcap'
    assert bag_cli.main(['mcap', str(tmp_path / 'outputs'), str(out)]) == 0
    text = capsys.readouterr().out
    assert 'wrote' in text and 'foxglove_layout.json' in text
    channels, messages, attachments = _read(out)
    assert attachments == ['foxglove_layout.json']
    by_topic = {topic: (enc, schema) for topic, enc, schema in channels.values()}
    assert by_topic['/qcoinf/caption/annotations'] == ('protobuf', ('foxglove.ImageAnnotations',
                                                                    'protobuf'))
    assert by_topic['/qcoinf/plan'] == ('json', ('qcoinf.Plan', 'jsonschema'))
    assert by_topic['/diagnostics'][1][0] == 'diagnostic_msgs/msg/DiagnosticArray'
    latency = [json.loads(d) for t, _, d in messages if t == '/qcoinf/latency']
    assert np.allclose([m['end_to_end_s'] for m in latency], e2e)
    captions = [json.loads(d)['text'] for t, _, d in messages if t == '/qcoinf/caption']
    assert captions == [f'c{k}' for k in range(10)]
    plans = [json.loads(d) for t, _, d in messages if t == '/qcoinf/plan']
    assert [p['bit_width'] for p in plans][-1] == 6 and plans[-1]['f_ghz'] == 1.0
    energy = [json.loads(d) for t, _, d in messages if t == '/qcoinf/energy']
    assert energy[-1]['budget_j'] == 0.35 and energy[-1]['per_inference_j'] == 0.31
    times = [log_time for _, log_time, _ in messages]
    assert min(times) >= T0 and times == sorted(times)  # the bag's own clock


def test_sample_bag_frames_become_raw_images(tmp_path, capsys):
    from qcoinf_ros.core.bags.sample import write_sample_bag

    write_sample_bag(tmp_path / 'sample')
    out = tmp_path / 'sample.mcap'
    assert bag_cli.main(['mcap', str(tmp_path / 'sample'), str(out)]) == 0
    channels, messages, _ = _read(out)
    frames = [d for t, _, d in messages if t == '/camera/image_raw']
    assert frames and len(frames[0]) > 1000
    with BagReader(tmp_path / 'sample') as reader:
        recorded = [t.count for t in reader.info.topics if t.spec.name == '/camera/image_raw']
    assert len(frames) == recorded[0]
    assert any(t == '/battery_state' for t, _, _ in messages)
    assert bag_cli.main(['mcap', str(tmp_path / 'sample'), str(out)]) == 2  # exists: --force
    assert 'exists' in capsys.readouterr().out
