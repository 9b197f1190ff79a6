"""The bounded, strict JSON decoder of every JSON topic (issue 14)."""

import math

import pytest

from qcoinf_ros.core.codec.agent_model import (
    AgentModelInfo, decode_agent_model, encode_agent_model)
from qcoinf_ros.core.codec.json_text import loads_bounded, MAX_JSON_BYTES

pytestmark = pytest.mark.check


@pytest.mark.parametrize('text, needle', [
    ('1' + '0' * 400, 'beyond the 64-bit range'), (str(2 ** 63), 'beyond the 64-bit range'),
    ('[1e999]', 'beyond the float range'), ('{"a": NaN}', 'holds NaN'),
    ('[-Infinity]', 'holds -Infinity'), ('[' * 17 + ']' * 17, 'nests 17 deep'),
    ('[' * 100_000, f'more than {MAX_JSON_BYTES}'), ('{"a": ', 'not JSON'),
    (b'\xff\xfe', 'not UTF-8'), (None, 'must be a string')])
def test_what_json_loads_accepts_and_python_cannot_use_is_refused(text, needle):
    with pytest.raises(ValueError, match=needle):
        loads_bounded(text)


def test_brackets_inside_strings_do_not_count_and_good_text_is_read():
    text = '{"s": "[[[[[[[[[[[[[[[[[[[[\\\\\\"{{{", "n": [1, 2.5, -3, ' + str(2 ** 63 - 1) + ']}'
    assert loads_bounded(text) == {'s': '[' * 20 + '\\"{{{', 'n': [1, 2.5, -3, 2 ** 63 - 1]}
    assert math.isnan(loads_bounded('[NaN]', allow_nan=True)[0])
    with pytest.raises(ValueError, match='holds Infinity'):
        loads_bounded('[Infinity]', allow_nan=True)


def test_the_agent_model_message_round_trips_and_refuses_bad_content():
    info = AgentModelInfo('git:abc', 'uniform', 8, 12.5, 0.03, 1000)
    assert decode_agent_model(encode_agent_model(info)) == info
    for text, needle in (('{"lam": 1}', 'keys must be'),
                         (encode_agent_model(info).replace('12.5', '1e-310'), 'subnormal'),
                         (encode_agent_model(info).replace('0.03', '1.5'), 'ks must be <= 1'),
                         ('x' * 5000, 'more than 4096')):
        with pytest.raises(ValueError, match=needle):
            decode_agent_model(text)


def test_the_applied_profile_message_round_trips_and_refuses_bad_content():
    from qcoinf_ros.core.codec.applied import AppliedMessage, decode_applied, encode_applied
    msg = AppliedMessage('medium', 1.5e9, None, 'cpufreq', 'snapped to 1.5 GHz', True)
    assert decode_applied(encode_applied(msg)) == msg
    for text, needle in (('{"name": "x"}', 'keys must be'),
                         (encode_applied(msg).replace('1500000000.0', '1e-310'), 'subnormal'),
                         (encode_applied(msg).replace('true', '1'), 'clamped'),
                         ('[' * 1000, 'nests')):
        with pytest.raises(ValueError, match=needle):
            decode_applied(text)
