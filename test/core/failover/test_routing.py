"""FrameRouter: edge while the link holds, local while LOST, probes only to a present decoder."""

import pytest

from qcoinf_ros.core.failover import EDGE, FrameRouter, LOCAL, LOST, PROBE, SPLIT, SUSPECT


def test_split_and_suspect_go_to_the_edge_server():
    router = FrameRouter(local_available=True, probe_period=1.0)
    assert [router.route(s, True, t) for t, s in enumerate((SPLIT, SUSPECT, SPLIT))] == [EDGE] * 3
    assert (router.counts.edge, router.counts.local, router.counts.probe) == (3, 0, 0)


def test_lost_without_a_local_decoder_still_goes_to_the_edge():
    router = FrameRouter(local_available=False)
    assert [router.route(LOST, present, 0.1 * i)
            for i, present in enumerate((False, True, True))] == [EDGE] * 3


def test_lost_decodes_locally_and_probes_once_per_period_while_a_decoder_is_present():
    router = FrameRouter(local_available=True, probe_period=1.0)
    # no decoder at all: nothing to probe, every frame local
    assert [router.route(LOST, False, 0.25 * i) for i in range(8)] == [LOCAL] * 8
    # a decoder appears at 2.0 s: probed at once, then once per second
    routes = [router.route(LOST, True, 2.0 + 0.25 * i) for i in range(9)]
    assert routes == [PROBE, LOCAL, LOCAL, LOCAL, PROBE, LOCAL, LOCAL, LOCAL, PROBE]
    # gone and back: probed at once again (no wait for the period)
    assert router.route(LOST, False, 4.1) == LOCAL
    assert router.route(LOST, True, 4.2) == PROBE
    assert (router.counts.edge, router.counts.local, router.counts.probe) == (0, 15, 4)


def test_a_clock_that_steps_back_does_not_stop_the_probes():
    router = FrameRouter(local_available=True, probe_period=1.0)
    assert router.route(LOST, True, 100.0) == PROBE
    assert router.route(LOST, True, 5.0) == PROBE  # stepped back: probe, and restart from it
    assert router.route(LOST, True, 5.5) == LOCAL


def test_bad_values_raise_naming_them():
    with pytest.raises(ValueError, match='probe_period'):
        FrameRouter(True, probe_period=-1.0)
    with pytest.raises(ValueError, match="'DOWN'"):
        FrameRouter(True).route('DOWN', True, 0.0)


def test_an_answered_probe_makes_every_frame_a_probe_until_the_link_is_back():
    router = FrameRouter(local_available=True, probe_period=1.0)
    assert router.route(LOST, True, 0.0) == PROBE
    assert router.route(LOST, True, 0.25) == LOCAL
    router.probe_answered()  # the server is there: test it with every frame
    assert [router.route(LOST, True, 0.25 * i) for i in range(2, 5)] == [PROBE] * 3
    router.probe_missed()  # quiet again: one probe per period
    assert router.route(LOST, True, 1.1) == LOCAL and router.route(LOST, True, 2.0) == PROBE
    router.probe_answered()
    assert router.route(SPLIT, True, 2.1) == EDGE  # back: the burst ends with LOST
    assert router.route(LOST, True, 2.2) == LOCAL
