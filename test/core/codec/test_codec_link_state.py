"""The link-state message codec (qcoinf/link_state, issue 27)."""

import json

import pytest

from qcoinf_ros.core.codec.link_state import (
    decode_link_state, encode_link_state, LinkStateMessage, MAX_LINK_STATE_BYTES)
from qcoinf_ros.core.failover import LinkMonitor

pytestmark = pytest.mark.check


def _message():
    monitor = LinkMonitor(now=5.0)
    monitor.decoders(1, 5.0)
    monitor.sent('f', 5.1)
    monitor.answered('f', 5.3)
    return LinkStateMessage.from_snapshot(monitor.snapshot(), since=1767225600.5)


def test_a_snapshot_round_trips():
    msg = _message()
    assert (msg.state, msg.since, msg.decoders, msg.in_flight) == ('SPLIT', 1767225600.5, 1, 0)
    assert msg.rtt_s == pytest.approx(0.2)
    assert decode_link_state(encode_link_state(msg)) == msg
    fresh = LinkStateMessage.from_snapshot(LinkMonitor().snapshot(), since=-3.0)
    assert (fresh.decoders, fresh.rtt_s, fresh.since) == (None, None, 0.0)
    assert decode_link_state(encode_link_state(fresh)) == fresh


@pytest.mark.parametrize('change, needle', [
    ({'state': 'GONE'}, "state must be one of \\['SPLIT', 'SUSPECT', 'LOST'\\], got 'GONE'"),
    ({'timeout_s': 0}, 'timeout_s must be > 0'),
    ({'since': -1.0}, 'since must be >= 0'),
    ({'missed': -1}, 'missed must be an integer >= 0, got -1'),
    ({'decoders': True}, 'decoders must be an integer >= 0, got True'),
    ({'alive': 1}, 'alive must be a boolean, got 1'),
    ({'reason': 'x' * 2000}, 'reason must be a string of at most 1024'),
    ({'extra': 1}, 'keys must be'),
])
def test_bad_content_is_refused_naming_the_field(change, needle):
    data = json.loads(encode_link_state(_message()))
    data.update(change)
    with pytest.raises(ValueError, match=needle):
        decode_link_state(json.dumps(data))


def test_an_oversized_text_is_refused_before_parsing():
    with pytest.raises(ValueError, match=f'more than {MAX_LINK_STATE_BYTES}'):
        decode_link_state('{' + ' ' * MAX_LINK_STATE_BYTES + '}')
