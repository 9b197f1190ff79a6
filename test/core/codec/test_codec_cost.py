"""The measured-cost message codec (qcoinf/agent_cost, qcoinf/server_cost)."""

import json

from hypothesis import given, settings, strategies as st
import pytest

from qcoinf_ros.core.codec.cost import CostMessage, decode_cost, encode_cost, MAX_COST_BYTES

pytestmark = pytest.mark.check


def agent(**changes):
    base = {'part': 'agent', 'model_id': 'm', 'kernel': 'lut', 'isa': 'avx2', 'threads': 1,
            'seconds': (0.004, 0.005, 0.006), 't_fixed': 0.003, 't_plane': 0.001, 'r2': 0.99,
            'f_ref_hz': 2.4e9, 'cpu': 'AMD EPYC', 'cached': False, 'scheme': 'uniform',
            'b_max': 3, 'max_new_tokens': 0}
    return CostMessage(**{**base, **changes})


@settings(max_examples=100, deadline=None)
@given(seconds=st.lists(st.floats(1e-6, 10.0), min_size=1, max_size=16),
       t_fixed=st.floats(0.0, 10.0, allow_subnormal=False), t_plane=st.floats(1e-6, 1.0),
       r2=st.floats(-5.0, 1.0),
       clock=st.one_of(st.none(), st.floats(1e6, 1e10)), cached=st.booleans(),
       threads=st.integers(1, 64))
def test_round_trip(seconds, t_fixed, t_plane, r2, clock, cached, threads):
    msg = agent(seconds=tuple(seconds), b_max=len(seconds), t_fixed=t_fixed, t_plane=t_plane,
                r2=r2, f_ref_hz=clock, cached=cached, threads=threads)
    assert decode_cost(encode_cost(msg)) == msg


def test_latency_is_the_affine_fit():
    assert agent().latency(2) == pytest.approx(0.005)


def test_a_scaled_cost_scales_every_time_and_is_not_cached():
    cost = agent(cached=True).scaled(1.5)
    assert cost.seconds == pytest.approx((0.006, 0.0075, 0.009)) and not cost.cached
    assert (cost.t_fixed, cost.t_plane) == pytest.approx((0.0045, 0.0015))
    assert cost.latency(2) == pytest.approx(1.5 * agent().latency(2))
    assert (cost.model_id, cost.kernel, cost.f_ref_hz) == ('m', 'lut', 2.4e9)


@pytest.mark.parametrize('changes, needle', [
    ({'part': 'robot'}, 'part must be'),
    ({'model_id': ''}, 'model_id'),
    ({'threads': 0}, 'threads'),
    ({'seconds': ()}, 'seconds must be a list'),
    ({'seconds': (0.1, float('nan'), 0.1)}, 'seconds must not be NaN'),
    ({'seconds': (0.1, -1.0, 0.1)}, 'seconds must be > 0'),
    ({'seconds': (0.1, 1e-310, 0.1)}, 'seconds must not be subnormal'),
    ({'t_plane': float('inf')}, 't_plane'),
    ({'t_fixed': 0.0, 't_plane': 0.0}, 't_fixed \\+ t_plane must be > 0'),
    ({'r2': 2.0}, 'r2'),
    ({'f_ref_hz': 0.0}, 'f_ref_hz'),
    ({'cached': 'yes'}, 'cached'),
    ({'b_max': 4}, 'one latency per bit-width'),
    ({'cpu': 'x' * 300}, 'cpu must be a string'),
])
def test_bad_content_is_refused_with_the_reason(changes, needle):
    with pytest.raises(ValueError, match=needle):
        agent(**changes)


@pytest.mark.parametrize('text, needle', [
    ('not json', 'not JSON'),
    ('[1]', 'JSON object'),
    ('{"part": "agent"}', 'keys must be'),
    ('[' * 100000, 'more than'),
    ('[' * 5000 + ']' * 5000, 'nests 5000 deep'),  # deep nesting under the size bound
])
def test_bad_text_raises_value_error_only(text, needle):
    with pytest.raises(ValueError, match=needle):
        decode_cost(text)


def test_numbers_python_cannot_hold_are_refused():
    data = json.loads(encode_cost(agent()))
    data['threads'] = 10 ** 400
    with pytest.raises(ValueError, match='integer 1000.* beyond the 64-bit range'):
        decode_cost(json.dumps(data))
    text = encode_cost(agent()).replace('0.003', '1e999')
    with pytest.raises(ValueError):
        decode_cost(text)
    assert len(encode_cost(agent(seconds=(1.0,) * 64, b_max=64))) < MAX_COST_BYTES
