"""Old bags (before 0.2): JSON Strings and the CompressedImage embedding read as today's types."""

import math

import numpy as np
import pytest

from qcoinf_ros.core.bags.cdr import build, check_message, header, serialize
from qcoinf_ros.core.bags.legacy import conversion, convert, converted, LEGACY_TOPICS
from qcoinf_ros.core.bags.storage import BagMessage
from qcoinf_ros.core.codec import decode_embedding, EmbeddingMeta, encode_embedding, FORMAT
from qcoinf_ros.core.codec.agent_model import AgentModelInfo, encode_agent_model
from qcoinf_ros.core.codec.applied import AppliedMessage, encode_applied
from qcoinf_ros.core.codec.cost import CostMessage, encode_cost
from qcoinf_ros.core.codec.embedding import payload_values
from qcoinf_ros.core.codec.fields import (
    applied_from, caption_from, cost_from, embedding_from, model_from, profile_from)
from qcoinf_ros.core.codec.plan import encode_profile, ProfileMessage

STRING, COMPRESSED = 'std_msgs/msg/String', 'sensor_msgs/msg/CompressedImage'
T = 1_700_000_000_123_456_789


def _string(text):
    return serialize(build(STRING, data=text), STRING)


def _old(topic, data, msgtype=STRING):
    return BagMessage(topic, msgtype, T, data)


def _compressed(payload, fmt=FORMAT, stamp_ns=T - 5):
    msg = build(COMPRESSED, header=header(stamp_ns, 'camera'), format=fmt,
                data=np.frombuffer(payload, np.uint8))
    return serialize(msg, COMPRESSED)


COST = CostMessage('agent', 'm', 'lut', 'avx2', 1, (0.004, 0.005), 0.003, 0.001, 0.99, None,
                   'cpu', False, 'uniform', 2, 0)
PROFILE = ProfileMessage('jetson', 1e9, 5e9, 4, True, None, 0.4, 1.7, 0.2)


@pytest.mark.parametrize('topic, text, new_type, read, record', [
    ('/robot1/qcoinf/frequency_profile', encode_profile(PROFILE),
     'qcoinf_ros/msg/FrequencyProfile', profile_from, PROFILE),
    ('qcoinf/applied_profile', encode_applied(AppliedMessage('x', 1e9, None, 'cpufreq')),
     'qcoinf_ros/msg/AppliedProfile', applied_from, AppliedMessage('x', 1e9, None, 'cpufreq')),
    ('qcoinf/agent_cost', encode_cost(COST), 'qcoinf_ros/msg/AgentCost', cost_from, COST),
    ('/a/b/qcoinf/local_cost', encode_cost(COST), 'qcoinf_ros/msg/AgentCost', cost_from, COST),
    ('qcoinf/agent_model', encode_agent_model(AgentModelInfo('m', 'uniform', 8, 12.5, 0.05, 10)),
     'qcoinf_ros/msg/ModelInfo', model_from, AgentModelInfo('m', 'uniform', 8, 12.5, 0.05, 10)),
])
def test_an_old_json_string_reads_as_the_new_type(topic, text, new_type, read, record):
    new = convert(_old(topic, _string(text)))
    assert (new.topic, new.msgtype, new.timestamp) == (topic, new_type, T)
    msg = check_message(new.data, new_type)
    assert read(msg) == record
    if hasattr(msg, 'header'):  # stamped with the time the recorder received it
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(T, 10**9)


def test_an_old_caption_is_a_caption_with_what_it_cannot_know_missing():
    new = convert(_old('qcoinf/caption', _string('a red circle')))
    caption = caption_from(check_message(new.data, 'qcoinf_ros/msg/Caption'))
    assert caption.text == 'a red circle' and caption.bit_width == 0 and caption.tokens == 0
    assert all(math.isnan(t) for t in (caption.latency_s, caption.encode_s, caption.decode_s))


@pytest.mark.parametrize('compression', ['none', 'fp16', 'int8'])
def test_an_old_embedding_reads_as_an_embedding_with_its_codes_unchanged(compression):
    x = np.random.default_rng(2).standard_normal((5, 8)).astype(np.float32)
    meta = EmbeddingMeta('qcoinf/git', 6, compression, 0.0125, captioned=True)
    payload = encode_embedding(x, meta)
    new = convert(_old('/r/qcoinf/embedding', _compressed(payload), COMPRESSED))
    assert new.msgtype == 'qcoinf_ros/msg/Embedding'
    msg = check_message(new.data, new.msgtype)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(T - 5, 10**9)
    assert msg.header.frame_id == 'camera'  # the frame's header, kept
    data, shape, scale, _ = payload_values(payload)
    assert bytes(msg.data) == data and tuple(msg.shape) == shape and msg.scale == np.float32(scale)
    values, got = embedding_from(msg)
    assert got == meta and msg.scheme == ''
    assert np.array_equal(values, decode_embedding(payload)[0])


@pytest.mark.parametrize('topic, data, msgtype, needle', [
    ('qcoinf/agent_cost', _string('{"part": "agent"'), STRING, '\'{"part": "agent"\''),
    ('qcoinf/frequency_profile', _string('{"nope": 1}'), STRING, 'nope'),
    ('qcoinf/agent_model', _string('[1e999]'), STRING, '[1e999]'),
    ('qcoinf/caption', _string('x' * 100_000), STRING, 'xxxx'),
    ('qcoinf/embedding', _compressed(b'garbage'), COMPRESSED, None),
    ('qcoinf/embedding', _compressed(b'\xff\xd8', fmt='jpeg'), COMPRESSED, "'jpeg'"),
    ('qcoinf/agent_cost', b'\x00\x01\x00\x00\xff', STRING, None),  # not CDR of a String
])
def test_bad_old_content_is_a_value_error_naming_it(topic, data, msgtype, needle):
    with pytest.raises(ValueError) as info:
        convert(_old(topic, data, msgtype))
    if needle is not None:
        assert needle in str(info.value)
    problems = []
    good = _old('qcoinf/caption', _string('fine'))
    assert [m.msgtype for m in converted([_old(topic, data, msgtype), good], problems)] == \
        ['qcoinf_ros/msg/Caption']
    assert len(problems) == 1 and topic in problems[0] and 'not replayed' in problems[0]


def test_only_the_old_type_of_a_changed_topic_is_converted():
    assert set(LEGACY_TOPICS) >= {'qcoinf/caption', 'qcoinf/embedding', 'qcoinf/server_cost'}
    assert conversion('qcoinf/caption', 'qcoinf_ros/msg/Caption') is None  # today's: as it is
    assert conversion('qcoinf/notes', STRING) is None  # not a changed topic
    assert conversion('qcoinf/caption', 'not a type') is None
    assert conversion('/robot2/qcoinf/caption', 'std_msgs/String').new_type == \
        'qcoinf_ros/msg/Caption'
    today = BagMessage('qcoinf/notes', STRING, T, _string('kept'))
    assert convert(today) is today
