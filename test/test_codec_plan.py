"""The frequency-profile message codec."""

import json

from hypothesis import given, settings, strategies as st
import pytest

from qcoinf_ros.codec.plan import decode_profile, encode_profile, ProfileMessage


@settings(max_examples=100, deadline=None)
@given(name=st.text(min_size=1, max_size=12), f=st.floats(1.0, 1e11), g=st.floats(1.0, 1e11),
       b=st.integers(1, 64), feasible=st.booleans(),
       mode=st.one_of(st.none(), st.integers(0, 10)))
def test_round_trip(name, f, g, b, feasible, mode):
    msg = ProfileMessage(name, f, g, b, feasible, mode)
    assert decode_profile(encode_profile(msg)) == msg


@pytest.mark.parametrize('text, needle', [
    ('not json', 'not JSON'),
    ('[1, 2]', 'JSON object'),
    ('{"name": "x"}', 'keys must be'),
    (json.dumps({'name': 'x', 'f': -1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': True,
                 'nvpmodel_mode': None}), 'f must be'),
    (json.dumps({'name': 'x', 'f': 1.0, 'f_server': 1.0, 'bit_width': 0, 'feasible': True,
                 'nvpmodel_mode': None}), 'bit_width'),
    (json.dumps({'name': '', 'f': 1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': True,
                 'nvpmodel_mode': None}), 'name'),
    (json.dumps({'name': 'x', 'f': 1.0, 'f_server': 1.0, 'bit_width': 4, 'feasible': 'yes',
                 'nvpmodel_mode': None}), 'feasible'),
])
def test_bad_profiles_are_rejected(text, needle):
    with pytest.raises(ValueError, match=needle):
        decode_profile(text)
