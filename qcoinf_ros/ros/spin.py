"""The ``main()`` body shared by the package's nodes (the Jazzy and Kilted shutdown idiom)."""

from __future__ import annotations

import signal
import threading
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def autostart(node) -> None:
    """
    Configure and activate a lifecycle node, as a lifecycle manager would.

    Raises ``ValueError`` with the node's ``_error`` text when configuring fails (so
    :func:`run_node` exits with code 2 and the reason), except when the node says the failure
    may pass (``_error_may_pass``: a device out of memory or absent now): then the node logs
    it and keeps running unconfigured, for its lifecycle ``configure`` to be asked again.
    """
    from rclpy.lifecycle import TransitionCallbackReturn
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        error = getattr(node, '_error', '') or 'see the log'
        if getattr(node, '_error_may_pass', False):
            node.get_logger().warning(  # the reason itself: in the node's own log line
                f'staying unconfigured (configure it again with `ros2 lifecycle set '
                f'{node.get_fully_qualified_name()} configure`)')
            return
        raise ValueError(f'cannot configure: {error}')
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise ValueError('cannot activate: see the log')


def run_node(factory: Callable[[], Node], args=None, name: str = 'qcoinf_ros',
             done: Callable[[Node], bool] | None = None) -> int:
    """
    Create the node with ``factory``, spin it until shutdown (or ``done(node)``), clean up.

    A ``ValueError`` while constructing (invalid parameters) is logged once and gives exit code
    2 instead of a traceback. SIGINT ends the spin and is ignored from then on, during the
    teardown. Returns the process exit code.
    """
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = factory()
        except ValueError as exc:
            rclpy.logging.get_logger(name).fatal(f'cannot start: {exc}')
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok() and not (done is not None and done(node)):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # a stop request (SIGINT) that lands while the node is already tearing down, e.g.
        # after done(node), must not cut the teardown short with a KeyboardInterrupt
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
