"""The age of a message's header stamp on a node's clock (the end-to-end latency of a caption)."""

from __future__ import annotations

import math

from rclpy.time import Time

__all__ = ['stamp_age']


def stamp_age(now: Time, stamp) -> float:
    """
    Return ``now - stamp`` [s] (``stamp``: a builtin_interfaces/Time); NaN when not stamped.

    Unstamped (0 s, 0 ns) and invalid stamps (negative seconds, nanoseconds beyond 10^9 - 1,
    which rclpy's ``Time`` refuses with ``ValueError``) give NaN: there is no age to tell.
    """
    if (stamp.sec == 0 and stamp.nanosec == 0) or stamp.sec < 0 \
            or not 0 <= stamp.nanosec < 1_000_000_000:
        return math.nan
    return 1e-9 * (now - Time.from_msg(stamp, clock_type=now.clock_type)).nanoseconds
