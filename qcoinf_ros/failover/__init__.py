"""The robot when the edge server is lost: detecting it (link state), for a local fallback."""

from qcoinf_ros.failover.link_state import (
    LinkMonitor, LinkSnapshot, LOST, SPLIT, STATES, SUSPECT, Transition)

__all__ = ['LinkMonitor', 'LinkSnapshot', 'LOST', 'SPLIT', 'STATES', 'SUSPECT', 'Transition']
