"""The robot when the edge server is lost: detecting it (link state), routing frames locally."""

from qcoinf_ros.core.failover.link_state import (
    LinkMonitor, LinkSnapshot, LOST, SPLIT, STATES, SUSPECT, Transition)
from qcoinf_ros.core.failover.routing import EDGE, FrameRouter, LOCAL, PROBE, RouteCounts, ROUTES

__all__ = ['EDGE', 'FrameRouter', 'LinkMonitor', 'LinkSnapshot', 'LOCAL', 'LOST', 'PROBE',
           'ROUTES', 'RouteCounts', 'SPLIT', 'STATES', 'SUSPECT', 'Transition']
