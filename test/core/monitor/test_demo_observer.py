"""The demo's observer (pure): frames paired by stamp, lines to print, the record it keeps."""

import hashlib

from types import SimpleNamespace

from qcoinf_ros.core.codec.cost import CostMessage
from qcoinf_ros.core.codec.fields import cost_fields, profile_fields
from qcoinf_ros.core.codec.plan import ProfileMessage
from qcoinf_ros.core.monitor.demo_report import DemoObserver, DemoRecord


def _observer():
    image = b'scene zero'
    return DemoObserver(DemoRecord(), {hashlib.sha1(image).hexdigest(): 0},
                        {0: ['a red circle']}), image


def _message(**fields):
    """Return a message as the observer reads it: by attribute (rclpy's or rosbags' alike)."""
    return SimpleNamespace(**fields)


def test_a_frame_is_paired_by_stamp_and_printed_against_the_plan_and_deadline():
    observer, image = _observer()
    observer.on_caption('an early caption')
    assert observer.on_latency((1, 0), 0.05, now=10.0) is None  # before the scenario: dropped
    observer.on_battery(0.9, now=100.0)  # the scenario's clock starts
    assert 'deadline T0 = 100.0 ms' in observer.on_deadline(0.1, now=100.0)
    observer.on_profile(_message(**profile_fields(ProfileMessage(
        'continuous', 1e9, 1e9, 6, True, None, 0.1, 0.2, 0.012))), now=100.1)
    observer.on_profile(_message(name=''), now=100.1)  # unreadable: ignored
    observer.on_image((5, 0), image)
    observer.on_embedding((5, 0), 6, 0.011)
    observer.on_caption('A red circle')
    line = observer.on_latency((5, 0), 0.08, now=101.0)
    assert line is not None and 'b=6' in line and 'encode pred 12.0 / meas 11.0 ms' in line
    assert '[green]met[/]' in line and '[green]OK[/] A red circle' in line
    frame, = observer.record.frames
    assert (frame.t, frame.bit_width, frame.t0, frame.references) == (1.0, 6, 0.1,
                                                                      ['a red circle'])
    assert observer.elapsed(102.5) == 2.5


def test_ready_once_the_model_and_both_costs_arrived():
    observer, _ = _observer()
    observer.on_cost('agent', _message(part='agent'))  # no latencies: ignored
    assert not observer.ready()
    observer.on_agent_model()
    assert not observer.ready() and observer.record.costs == {}
    for part, seconds in (('agent', (0.01, 0.02)), ('server', (0.05,))):
        observer.on_cost(part, _message(**cost_fields(CostMessage(
            part, 'm', 'torch', 'x', 1, seconds, seconds[0], 0.0, 1.0, None, 'cpu', False, '',
            len(seconds) if part == 'agent' else 0, 20 if part == 'server' else 0))))
    assert observer.ready() and observer.record.costs['server'].seconds == (0.05,)
