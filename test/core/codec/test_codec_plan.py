"""The frequency-profile message codec."""

import json

from hypothesis import given, settings, strategies as st
import pytest

from qcoinf_ros.core.codec.plan import decode_profile, encode_profile, ProfileMessage

pytestmark = pytest.mark.check


@settings(max_examples=100, deadline=None)
@given(name=st.text(min_size=1, max_size=12), f=st.floats(1.0, 1e11), g=st.floats(1.0, 1e11),
       b=st.integers(1, 64), feasible=st.booleans(),
       mode=st.one_of(st.none(), st.integers(0, 10)), t=st.floats(0, 1e3, allow_subnormal=False),
       e=st.floats(0, 1e3, allow_subnormal=False),
       a=st.floats(0, 1e3, allow_subnormal=False))
def test_round_trip(name, f, g, b, feasible, mode, t, e, a):
    msg = ProfileMessage(name, f, g, b, feasible, mode, t, e, a)
    assert decode_profile(encode_profile(msg)) == msg


def test_predictions_default_to_nan_and_survive_the_round_trip():
    back = decode_profile(encode_profile(ProfileMessage('x', 1.0, 1.0, 3, True)))
    assert back.predicted_delay_s != back.predicted_delay_s  # NaN
    assert back.predicted_agent_delay_s != back.predicted_agent_delay_s


def test_messages_recorded_before_the_agent_delay_existed_still_decode():
    old = {'name': 'x', 'f': 1.0, 'f_server': 2.0, 'bit_width': 4, 'feasible': True,
           'nvpmodel_mode': None, 'predicted_delay_s': 0.5, 'predicted_energy_j': 1.0}
    back = decode_profile(json.dumps(old))
    assert back.predicted_delay_s == 0.5 and back.bit_width == 4
    assert back.predicted_agent_delay_s != back.predicted_agent_delay_s  # NaN
    with pytest.raises(ValueError, match='predicted_agent_delay_s'):
        decode_profile(json.dumps({**old, 'predicted_agent_delay_s': -1.0}))


@pytest.mark.parametrize('text, needle', [
    ('not json', 'not JSON'),
    ('[1, 2]', 'JSON object'),
    ('{"name": "x"}', 'keys must be'),
    (json.dumps({'name': 'x', 'f': -1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': True,
                 'nvpmodel_mode': None}), 'keys must be'),
    (json.dumps({'name': 'x', 'f': -1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': True,
                 'nvpmodel_mode': None, 'predicted_delay_s': 1.0,
                 'predicted_energy_j': 1.0}), 'f must be'),
    (json.dumps({'name': 'x', 'f': 1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': True,
                 'nvpmodel_mode': None, 'predicted_delay_s': -1.0,
                 'predicted_energy_j': 1.0}), 'predicted_delay_s'),
    (json.dumps({'name': 'x', 'f': 1.0, 'f_server': 1.0, 'bit_width': 0, 'feasible': True,
                 'nvpmodel_mode': None, 'predicted_delay_s': 1.0,
                 'predicted_energy_j': 1.0}), 'bit_width'),
    (json.dumps({'name': '', 'f': 1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': True,
                 'nvpmodel_mode': None, 'predicted_delay_s': 1.0,
                 'predicted_energy_j': 1.0}), 'name'),
    (json.dumps({'name': 'x', 'f': 1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': 'yes',
                 'nvpmodel_mode': None, 'predicted_delay_s': 1.0,
                 'predicted_energy_j': 1.0}), 'feasible'),
])
def test_bad_profiles_are_rejected(text, needle):
    with pytest.raises(ValueError, match=needle):
        decode_profile(text)
