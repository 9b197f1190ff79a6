"""
A process-wide stop request: SIGINT and SIGTERM become a flag, never an exception.

No rclpy here, so the nodes' entry points (:mod:`qcoinf_ros.ros.entry`) can install it before
they import anything heavy: a stop requested while a node still imports torch, or while it is
configuring, is honoured at the next safe point instead of raising ``KeyboardInterrupt`` in the
middle of a lifecycle transition.

What ``ros2 launch`` sends (``launch.actions.ExecuteLocal``): SIGINT (unless the terminal already
delivered Ctrl-C to the process group), SIGTERM ``sigterm_timeout`` (5 s) later, SIGKILL
``sigkill_timeout`` (5 s) after that. So the first signal starts the shutdown and every later one
is recorded and ignored: the teardown that is under way finishes (within
:data:`qcoinf_ros.ros.spin.TEARDOWN_TIMEOUT`, inside launch's 10 s window).
"""

from __future__ import annotations

import signal
import threading

#: The signals that request a stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):
    """Raised by :meth:`StopRequest.check` to abandon long work (a calibration) on a stop."""


class StopRequest:
    """
    The stop requests this process has received, in order (signal numbers).

    The handler only appends to a list (no lock, no logging: it runs between two bytecodes of
    the main thread, which may be holding any lock); the node's loop reads :attr:`requested`.
    """

    def __init__(self) -> None:
        self.signals: list[int] = []
        self.installed = False

    def _handle(self, signum, frame) -> None:
        self.signals.append(signum)

    def install(self) -> bool:
        """Handle SIGINT and SIGTERM from now on (main thread only); return whether it did."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)
        self.installed = True
        return True

    @property
    def requested(self) -> bool:
        return bool(self.signals)

    def names(self, start: int = 0) -> list[str]:
        """Return the names of the signals received (from the ``start``-th on)."""
        return [signal.Signals(s).name for s in self.signals[start:]]

    def check(self) -> None:
        """Raise :class:`StopRequested` when a stop was requested (call it between steps)."""
        if self.signals:
            raise StopRequested(f'{self.names()[0]} received')

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Request a stop as if ``signum`` had arrived (for code that ends a node itself)."""
        self._handle(signum, None)


#: The process's stop request (one per process: signal handlers are process-wide).
STOP = StopRequest()
