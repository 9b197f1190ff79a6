"""The records as message fields and back (codec/fields.py), and the embedding's values."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from qcoinf_ros.core.codec import EmbeddingMeta, encode_embedding
from qcoinf_ros.core.codec import fields
from qcoinf_ros.core.codec.agent_model import AgentModelInfo
from qcoinf_ros.core.codec.applied import AppliedMessage
from qcoinf_ros.core.codec.caption import CaptionRecord, ORIGIN_LOCAL
from qcoinf_ros.core.codec.cost import CostMessage
from qcoinf_ros.core.codec.embedding import (
    COMPRESSIONS, pack_values, payload_values, unpack_values)
from qcoinf_ros.core.codec.plan import ProfileMessage


def _msg(values: dict):
    """Return an object with the fields as attributes, as any message class has them."""
    return SimpleNamespace(**values)


AGENT = CostMessage('agent', 'm', 'lut+qint8', 'avx2', 2, (0.004, 0.005), 0.003, 0.001, 0.99,
                    2.4e9, 'cpu', True, 'uniform', 2, 0, 'cpu', 'float32', ('lut', 'qint8'))
SERVER = CostMessage('server', 'm', 'torch', 'x', 1, (0.02,), 0.02, 0.0, 1.0, None, 'cpu',
                     False, '', 0, 20)


@pytest.mark.parametrize('record, to_fields, back', [
    (ProfileMessage('medium', 1e9, 5e9, 6, True, None, 0.4, 1.7, 0.2), fields.profile_fields,
     fields.profile_from),
    (ProfileMessage('jetson', 1e9, 5e9, 4, False, 2, 0.4, 1.7, float('nan')),
     fields.profile_fields, fields.profile_from),
    (AppliedMessage('medium', 1.5e9, None, 'cpufreq', 'clamped to 1.5 GHz', True),
     fields.applied_fields, fields.applied_from),
    (AppliedMessage('none', None, None, 'dry-run'), fields.applied_fields, fields.applied_from),
    (AGENT, fields.cost_fields, fields.cost_from),
    (SERVER, fields.cost_fields, fields.cost_from),
    (AgentModelInfo('m', 'uniform', 8, 12.5, 0.05, 1000), fields.model_fields,
     fields.model_from),
    (CaptionRecord('a red circle', ORIGIN_LOCAL, 6, 4, 0.2, 0.01, 0.1), fields.caption_fields,
     fields.caption_from),
])
def test_every_record_round_trips_through_its_message_fields(record, to_fields, back):
    values = to_fields(record)
    assert 'header' not in values
    got = back(_msg(values))
    assert type(got) is type(record)
    for name, want in vars(record).items():
        have = getattr(got, name)
        if isinstance(want, float) and math.isnan(want):
            assert isinstance(have, float) and math.isnan(have), name
        else:
            assert have == want, name


def test_missing_values_are_nan_and_minus_one_in_the_fields():
    profile = fields.profile_fields(ProfileMessage('medium', 1e9, 5e9, 6, True, None, 0.4, 1.7))
    assert profile['nvpmodel_mode'] == fields.NO_MODE == -1
    assert fields.profile_from(_msg({**profile, 'nvpmodel_mode': 3})).nvpmodel_mode == 3
    applied = fields.applied_fields(AppliedMessage('x', None, 2e9, 'cpufreq'))
    assert math.isnan(applied['f_hz']) and applied['f_server_hz'] == 2e9
    assert fields.applied_from(_msg(applied)).f is None
    cost = fields.cost_fields(SERVER)
    assert math.isnan(cost['f_ref_hz']) and fields.cost_from(_msg(cost)).f_ref_hz is None
    caption = fields.caption_fields(CaptionRecord('unstamped'))  # an old bag's caption
    assert all(math.isnan(caption[k]) for k in ('latency_s', 'encode_s', 'decode_s'))
    assert caption['bit_width'] == 0 and caption['tokens'] == 0


def test_numpy_scalars_of_a_rosbags_message_read_as_python_numbers():
    values = fields.profile_fields(ProfileMessage('m', 1e9, 5e9, 6, True, 2, 0.4, 1.7))
    values.update(f_hz=np.float64(1e9), bit_width=np.uint8(6), feasible=np.bool_(True),
                  nvpmodel_mode=np.int32(-1))
    got = fields.profile_from(_msg(values))
    assert got.nvpmodel_mode is None and got.bit_width == 6 and type(got.bit_width) is int
    assert got.feasible is True


@pytest.mark.parametrize('back, values, needle', [
    (fields.cost_from, {'part': 'agent'}, 'malformed cost message'),
    (fields.cost_from, {**fields.cost_fields(AGENT), 'seconds': [0.1] * 65}, 'seconds'),
    (fields.cost_from, {**fields.cost_fields(AGENT), 'part': 'robot'}, 'robot'),
    (fields.profile_from, {**fields.profile_fields(
        ProfileMessage('m', 1e9, 5e9, 6, True)), 'f_hz': -1.0}, 'f must be a positive'),
    (fields.profile_from, {**fields.profile_fields(
        ProfileMessage('m', 1e9, 5e9, 6, True)), 'bit_width': 99}, 'bit_width'),
    (fields.caption_from, {**fields.caption_fields(CaptionRecord('x')), 'origin': 7},
     'origin'),
    (fields.model_from, {'model_id': 'm'}, 'malformed agent model message'),
    (fields.applied_from, {**fields.applied_fields(AppliedMessage('x', 1e9, 1e9, 'b')),
                           'f_hz': float('inf')}, 'inf'),
])
def test_bad_content_is_a_value_error_naming_it(back, values, needle):
    with pytest.raises(ValueError, match=needle):
        back(_msg(values))


@pytest.mark.parametrize('compression', COMPRESSIONS)
def test_the_embedding_round_trips_through_its_message_fields(compression):
    x = np.linspace(-2.0, 3.0, 24, dtype=np.float32).reshape(4, 6)
    meta = EmbeddingMeta('qcoinf/git', 6, compression, 0.0125, captioned=True, probe=True)
    values = fields.embedding_fields(x, meta, 'uniform')
    assert values['shape'] == [4, 6] and values['codec'] == compression
    assert values['scheme'] == 'uniform' and values['encode_s'] == 0.0125
    assert len(values['data']) == 24 * {'none': 4, 'fp16': 2, 'int8': 1}[compression]
    back, got = fields.embedding_from(_msg(values))
    assert got == meta and back.dtype == np.float32 and back.shape == (4, 6)
    tolerance = {'none': 0.0, 'fp16': 2e-3, 'int8': 3.0 / 127}[compression]
    assert np.max(np.abs(back - x)) <= tolerance


@pytest.mark.parametrize('compression', COMPRESSIONS)
def test_an_old_payload_gives_the_same_values_as_the_embedding_itself(compression):
    x = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    meta = EmbeddingMeta('m', 8, compression, 0.5)
    payload = encode_embedding(x, meta)
    data, shape, scale, old_meta = payload_values(payload)
    assert (data, shape, scale) == pack_values(x, compression)  # the codes unchanged
    assert old_meta == meta
    assert fields.payload_fields(payload, 'uniform') == fields.embedding_fields(x, meta,
                                                                                'uniform')


def test_pack_unpack_refuse_what_cannot_be_an_embedding():
    data, shape, scale = pack_values(np.ones((2, 3), np.float32), 'int8')
    assert shape == (2, 3) and scale > 0
    assert np.allclose(unpack_values(data, shape, 'int8', scale), 1.0, atol=scale)
    for args, needle in (((data, shape, 'jpeg', scale), 'Invalid embedding compression'),
                         ((data[:-1], shape, 'int8', scale), 'does not match its shape'),
                         ((data, (2, 3), 'int8', float('nan')), 'scale'),
                         ((data, (2, 3), 'int8', 0.0), 'scale'),
                         ((b'\x00' * 4, (1,), 'none', 1.0), None),
                         ((np.full(1, np.inf, np.float32).tobytes(), (1,), 'none', 1.0),
                          'NaN or inf'),
                         ((data, (-1, 3), 'int8', scale), None)):
        if needle is None:
            try:
                unpack_values(*args)
            except ValueError:
                pass
            continue
        with pytest.raises(ValueError, match=needle):
            unpack_values(*args)
    for bad in (np.zeros((0,), np.float32), np.array([np.nan], np.float32)):
        with pytest.raises(ValueError):
            pack_values(bad, 'none')
