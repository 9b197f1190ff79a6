"""The Foxglove view's pure model: records, bad input, and the shipped layout against it."""

import json
from pathlib import Path
from types import SimpleNamespace as N

import numpy as np
import pytest

from qcoinf_ros.core.codec.plan import encode_profile, ProfileMessage
from qcoinf_ros.core.validation import InputError
from qcoinf_ros.core.viewing.model import CHANNELS, GraphModel

ROOT = Path(__file__).resolve().parents[3]
HDR = N(stamp=N(sec=5, nanosec=7), frame_id='cam')


def test_old_and_new_caption_and_plan_types_give_the_same_records():
    model = GraphModel()
    img = N(header=HDR, width=4, height=2, encoding='nv12', step=4,
            data=np.zeros(12, np.uint8), is_bigendian=0)
    (topic, _, frame), = model.on_message('image', img, 1)
    assert topic == '/camera/image_raw' and frame['encoding'] == 'rgb8'  # converted
    assert len(frame['data']) == frame['step'] * frame['height'] == 24
    old = {t: r for t, _, r in model.on_message('caption', N(data='a cube'), 2)}
    new = {t: r for t, _, r in model.on_message('caption', N(
        header=HDR, text='a cube', origin=1, bit_width=6, latency_s=0.2), 3)}
    assert old['/qcoinf/caption']['frame_stamp_s'] == new['/qcoinf/caption']['frame_stamp_s']
    assert new['/qcoinf/caption']['origin'] == 'local'
    assert old['/qcoinf/caption/annotations']['texts'][0]['text'] == 'a cube'
    plan = ProfileMessage('continuous', 1e9, 2e9, 5, True, predicted_delay_s=0.4)
    old = model.on_message('plan', N(data=encode_profile(plan)), 4)[0][2]
    new = model.on_message('plan', N(name='continuous', f_hz=1e9, f_server_hz=2e9, bit_width=5,
                                     feasible=True, predicted_delay_s=0.4,
                                     predicted_energy_j=float('nan'),
                                     predicted_agent_delay_s=float('nan')), 5)[0][2]
    assert old == new and old['f_ghz'] == 1.0 and old['predicted_energy_j'] is None


@pytest.mark.parametrize('kind,msg', [
    ('image', N(header=HDR, width=4, height=2, encoding='rgb8', step=12, data=b'\0' * 5,
                is_bigendian=0)),
    ('image', N(header=HDR, width=0, height=2, encoding='rgb8', step=0, data=b'',
                is_bigendian=0)),
    ('plan', N(data='{"name": 1}')),
    ('deadline', N(data=float('nan'))),
    ('bit_width', N(data=99)),
    ('latency', N(header=N(stamp=N(sec=-1, nanosec=0), frame_id=''), vector=N(x=1, y=1, z=1))),
    ('caption', N(data=b'\xff' * 5000)),
    ('battery', N()),
])
def test_bad_input_raises_input_error_and_keeps_the_state(kind, msg):
    model = GraphModel()
    model.on_message('deadline', N(data=0.5), 1)
    before = dict(model.plan)
    with pytest.raises(InputError):
        model.on_message(kind, msg, 2)
    assert model.plan == before


def test_shipped_layout_reads_only_what_the_view_streams():
    layout = json.loads((ROOT / 'config' / 'foxglove_layout.json').read_text())

    def panels(node):
        return [node] if isinstance(node, str) else panels(node['first']) + panels(node['second'])

    assert sorted(panels(layout['layout'])) == sorted(layout['configById'])
    paths = [s['value'] for c in layout['configById'].values() for s in c.get('paths', [])]
    paths.append(layout['configById']['RawMessages!caption']['topicPath'])
    for path in paths:
        topic, _, fieldname = path.partition('.')
        assert fieldname in CHANNELS[topic].json_schema['properties'], path
    image = layout['configById']['Image!qcoinf']['imageMode']
    assert CHANNELS[image['imageTopic']].schema_name == image['imageSchemaName']
    assert [CHANNELS[t].schema_name for t in image['annotations']] == [
        'foxglove.ImageAnnotations']
