"""
The rclpy glue of the command-line tools and the tests.

A node in a context of its own, bounded spinning, signals turned into a stop request. rclpy is
imported only when used, so the tools' pure commands (``qcoinf bag info``) run without it.
"""

from __future__ import annotations

import signal
import threading
import time


class StopOnSignals:
    """
    Turn Ctrl-C (SIGINT) and SIGTERM into a request to stop, so a loop ends cleanly.

    Used as a context manager after ``rclpy.init`` (it replaces rclpy's handlers while active,
    and restores the previous ones). A second signal raises ``KeyboardInterrupt``.
    """

    def __init__(self):
        self.requested = False
        self._saved = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> 'StopOnSignals':
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved = {}


def rclpy_node(name: str):
    """Return ``(context, node)``: an rclpy context of this command's own and a node in it."""
    import rclpy
    from rclpy.context import Context
    context = Context()
    rclpy.init(context=context)
    return context, rclpy.create_node(name, context=context,
                                      start_parameter_services=False)


class BoundedSpin:
    """A tool's own node on a single-threaded executor, spun only for bounded times."""

    def __init__(self, name: str):
        from rclpy.executors import SingleThreadedExecutor

        self.context, self.node = rclpy_node(name)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin(self, seconds: float, step: float = 0.05) -> None:
        """Spin for ``seconds``, in steps of at most ``step`` seconds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(step, max(0.0, end - time.monotonic())))

    def spin_until(self, predicate, timeout: float) -> bool:
        """Spin until ``predicate()`` is true or ``timeout`` seconds passed; return its value."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            self.executor.spin_once(timeout_sec=0.05)
        return bool(predicate())

    def close(self) -> None:
        """Shut the executor down, destroy the node, shut its context down."""
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
