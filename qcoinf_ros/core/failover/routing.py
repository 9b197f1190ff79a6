"""
Where each encoded frame goes while the edge server may be lost (issue 27, item 2).

:class:`FrameRouter` picks, per frame, from the link state (:mod:`.link_state`):

``EDGE``
    the embedding goes to the edge server (split inference): the link is ``SPLIT`` or
    ``SUSPECT``, or there is no local decoder (local mode off, or the model's decoder does not
    fit the robot: then no caption comes while the server is lost, and the node says so).
``LOCAL``
    the robot decodes the frame itself: the link is ``LOST`` and a local decoder is loaded. The
    embedding still goes out (for recorders and monitors) marked captioned, so a server that
    comes back late never captions the frame a second time; no answer is awaited for it.
``PROBE``
    the link is ``LOST`` but a decoder is present (matched and alive): one frame per
    ``probe_period`` seconds is also sent to the server, marked a probe, at once when a
    decoder has just (re)appeared. The robot captions it as any ``LOCAL`` frame; the server
    decodes it and answers on ``qcoinf/probe_answer`` without a caption. That answer is how the
    link monitor sees the server back (recovery needs answers); an unanswered probe is counted
    missed, and costs no frame. Once a probe is answered (:meth:`FrameRouter.probe_answered`)
    every frame is a probe until the link is back or a probe goes unanswered
    (:meth:`FrameRouter.probe_missed`): recovery takes a few frames, not a few probe periods.
    While no decoder is present at all nothing is probed.

No rclpy: times are seconds of a monotonic clock the caller injects. Not thread-safe: the
caller serializes (the agent holds its link lock).
"""

from __future__ import annotations

from dataclasses import dataclass

from qcoinf_ros.core.failover.link_state import LOST, STATES
from qcoinf_ros.core.validation import require_physical

__all__ = ['EDGE', 'FrameRouter', 'LOCAL', 'PROBE', 'ROUTES', 'RouteCounts']

EDGE, LOCAL, PROBE = 'edge', 'local', 'probe'
#: Every route a frame can take.
ROUTES = (EDGE, LOCAL, PROBE)


@dataclass
class RouteCounts:
    """Frames routed each way since the start (the node's ``/diagnostics``)."""

    edge: int = 0
    local: int = 0
    probe: int = 0


class FrameRouter:
    """Route encoded frames to the edge server, the local decoder, or a probe of the server."""

    def __init__(self, local_available: bool, probe_period: float = 1.0):
        self.local_available = bool(local_available)
        self.probe_period = require_physical('probe_period', probe_period, high=86400.0)
        self.counts = RouteCounts()
        self._last_probe: float | None = None
        self._present_before = False
        self._burst = False  # a probe was answered: probe every frame while LOST

    def probe_answered(self) -> None:
        """Take a probe answered in time: probe every frame until the link is back."""
        self._burst = True

    def probe_missed(self) -> None:
        """Take a probe gone unanswered: back to one probe per ``probe_period``."""
        self._burst = False

    def route(self, state: str, decoder_present: bool, now: float) -> str:
        """
        Return where the frame encoded at ``now`` goes, given the link ``state``.

        ``decoder_present``: a decoder is matched and alive (the link monitor's view). Raises
        ``ValueError`` on an unknown state.
        """
        if state not in STATES:
            raise ValueError(f'Invalid link state: {state!r} (expected one of {STATES})')
        appeared = decoder_present and not self._present_before
        self._present_before = bool(decoder_present)
        if state != LOST:
            self._burst = False
        if state != LOST or not self.local_available:
            route = EDGE
        elif decoder_present and (appeared or self._burst or self._last_probe is None
                                  or now - self._last_probe >= self.probe_period
                                  or now < self._last_probe):  # a clock that stepped back
            self._last_probe = now
            route = PROBE
        else:
            route = LOCAL
        setattr(self.counts, route, getattr(self.counts, route) + 1)
        return route
