"""Bounded spinning of a command-line tool's own node (rclpy imported only when used)."""

from __future__ import annotations

import time


class BoundedSpin:
    """A tool's own node on a single-threaded executor, spun only for bounded times."""

    def __init__(self, name: str):
        from rclpy.executors import SingleThreadedExecutor

        from qcoinf_ros.cli.bag import rclpy_node

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
