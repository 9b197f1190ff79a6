"""
The ``main()`` body shared by the package's nodes: one start-up path and one shutdown path.

Exit codes: :data:`EXIT_OK` (0) for a requested stop (SIGINT, SIGTERM, or the node's own
``done``), :data:`EXIT_INVALID` (2) for invalid parameters (one FATAL line), :data:`EXIT_CRASH`
(1) only for a real crash (an exception out of a callback) or a teardown cut after
:data:`TEARDOWN_TIMEOUT`.

The shutdown path, in this order, while the rclpy context is still valid:

1. SIGINT/SIGTERM set a flag (:mod:`qcoinf_ros.ros.stop`; rclpy's own handlers are not
   installed, so no signal shuts the context down under a running callback or a lifecycle
   publisher); the spin loop sees it within 0.1 s;
2. a lifecycle node is taken through its ``shutdown`` transition from whatever primary state it
   is in (its ``on_shutdown`` joins its worker and restores what it changed);
3. the node is destroyed, then the context is shut down.

Later signals are recorded and ignored (``ros2 launch`` sends SIGTERM 5 s after SIGINT); a
teardown that has not finished after :data:`TEARDOWN_TIMEOUT` seconds is cut with one log line,
before launch's SIGKILL (10 s) would cut it silently: exit code 1 when the node's own shutdown
(step 2: a worker, a driver) is stuck, exit code 0 when only the middleware's part (step 3:
destroying the node's DDS entities and the context) is: the node's work is done, and Fast DDS 3.2
was seen to deadlock there (eProsima/Fast-DDS#6502) when many participants of one launch leave
together. Stuck in C code that holds the GIL, where no Python thread runs, the stacks come from
faulthandler :data:`BACKUP_DELAY` s after the bound and the exit, with the same code, from a C
timer (:mod:`qcoinf_ros.ros.exit_timer`).

The start-up is bounded as well: creating the node (its DDS participant, publishers, services
and parameters; not the model load of a lifecycle node's autostart, which may take minutes)
that has not finished after :data:`START_TIMEOUT` seconds ends the process with one line, every
thread's stack and exit code 1, for ``ros2 launch`` to respawn it where the launch file says so.
Fast DDS 3.2 (Kilted) was seen to deadlock there: a participant a few seconds old whose
announcement timer fired while a peer that had just exited was being removed (the receive
thread holding the discovery lock waits on the event thread, which waits on that lock), and the
node hung forever in ``create_publisher`` without a word.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import sys
import threading
import time
import traceback
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from qcoinf_ros.ros.exit_timer import ExitTimer
from qcoinf_ros.ros.stop import STOP, StopRequest

EXIT_OK, EXIT_CRASH, EXIT_INVALID = 0, 1, 2
#: Seconds the teardown may take before it is cut (ros2 launch: SIGTERM at 5 s, SIGKILL at 10 s).
TEARDOWN_TIMEOUT = 7.5
#: Seconds after a bound at which the backup (C code holding the GIL) prints the stacks and exits:
#: the teardown's backup must end the process before launch's SIGKILL at 10 s too.
BACKUP_DELAY = 1.0
#: Seconds creating a node may take (rclpy.init to the constructor's return or its autostart).
START_TIMEOUT = 60.0
#: Seconds a node's worker thread is given to finish its current item when it is stopped.
WORKER_JOIN_TIMEOUT = 4.0


def autostart(node) -> None:
    """
    Configure and activate a lifecycle node, as a lifecycle manager would.

    Raises ``ValueError`` with the node's ``_error`` text when configuring fails (so
    :func:`run_node` exits with code 2 and the reason), except when the node says the failure
    may pass (``_error_may_pass``: a device out of memory or absent now): then the node logs
    it and keeps running unconfigured, for its lifecycle ``configure`` to be asked again. A stop
    requested during configure (SIGINT/SIGTERM) skips the activation: the shutdown follows. It
    ends :func:`run_node`'s start-up bound: configuring may load a model for minutes.
    """
    from rclpy.lifecycle import TransitionCallbackReturn
    if _end_of_start is not None:  # the node exists: the configure (a model load) is not bounded
        _end_of_start()
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        if STOP.requested:  # configure abandoned for the stop: the shutdown follows
            return
        error = getattr(node, '_error', '') or 'see the log'
        if getattr(node, '_error_may_pass', False):
            node.get_logger().warning(  # the reason itself: in the node's own log line
                f'staying unconfigured (configure it again with `ros2 lifecycle set '
                f'{node.get_fully_qualified_name()} configure`)')
            return
        raise ValueError(f'cannot configure: {error}')
    if STOP.requested:
        return
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise ValueError('cannot activate: see the log')


def join_worker(thread: threading.Thread | None, logger, what: str,
                timeout: float = WORKER_JOIN_TIMEOUT) -> bool:
    """Join ``thread`` for at most ``timeout`` s; log once when it is still running. True: done."""
    if thread is None or thread is threading.current_thread():
        return True
    thread.join(timeout=timeout)
    if thread.is_alive():
        logger.warning(f'{what} still busy {timeout:g} s after the stop request: left to '
                       'finish as a daemon thread (its results are discarded)')
        return False
    return True


def lifecycle_shutdown(node, logger) -> str | None:
    """
    Take a lifecycle node through ``shutdown`` from its primary state; return that state.

    ``None`` for a plain node, or one already finalized. The transition runs the node's
    ``on_shutdown`` (and publishes the transition event) while the context is valid.
    """
    machine = getattr(node, '_state_machine', None)
    if machine is None:
        return None
    state = machine.current_state[1]
    if state not in ('unconfigured', 'inactive', 'active'):
        return None
    from rclpy.lifecycle import TransitionCallbackReturn
    result = node.trigger_shutdown()
    if result != TransitionCallbackReturn.SUCCESS:
        logger.warning(f'shutdown transition from {state}: {result.to_label()}')
    return state


def _cut(logger, name: str, bound: float, phase: str = 'shutdown',
         cause: str = 'a worker or a driver is stuck', stacks: bool = False,
         code: int = EXIT_CRASH) -> None:
    """Cut a stuck phase: one line (and every thread's stack), exit ``code`` (it may be in C)."""
    line = (f'[{name}] {phase} did not finish within {bound:g} s ({cause}): exiting with '
            f'code {code}\n')
    try:
        (logger.error if code else logger.warning)(line.strip())
        if stacks:
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    finally:
        os.write(2, line.encode())
        os._exit(code)


@contextlib.contextmanager
def _bounded(name: str, bound: float, code: int = EXIT_CRASH, **cut):
    """
    Run the body under a watchdog: past ``bound`` s, :func:`_cut` (``code``, ``cut``).

    A C call that holds the GIL stops that Python thread too: :data:`BACKUP_DELAY` s later
    faulthandler's own thread, which needs no GIL, prints every thread's stack, and a C timer
    exits with the cut's code just after. Yields a function that disarms them all early.
    """
    logger = rclpy.logging.get_logger(name)
    watchdog = threading.Timer(bound, _cut, args=(logger, name, bound),
                               kwargs=dict(cut, code=code))
    watchdog.daemon = True
    watchdog.start()
    exit_timer = ExitTimer()
    native = exit_timer.arm(bound + BACKUP_DELAY + 0.25, code)
    # without the C timer, faulthandler exits itself (code 1)
    faulthandler.dump_traceback_later(bound + BACKUP_DELAY, exit=not native)

    def disarm() -> None:
        watchdog.cancel()
        faulthandler.cancel_dump_traceback_later()
        exit_timer.cancel()
    try:
        yield disarm
    finally:
        disarm()


#: Disarms the start-up watchdog of :func:`run_node` (set while a node is being created).
_end_of_start: Callable[[], None] | None = None


def teardown(node: Node | None, name: str, stop: StopRequest = STOP,
             bound: float = TEARDOWN_TIMEOUT) -> None:
    """
    Shut a node down (lifecycle ``shutdown``, destroy) and then the rclpy context.

    Both steps together get ``bound`` seconds (:func:`_bounded`). Past it in the node's own
    shutdown, the process exits with code 1 and one line; past it while the middleware destroys
    the node or the context, with code 0 and one warning line (the stop is done; one start-up
    refusal on Kilted, once in a CI run, hung in the rclpy shutdown after its FATAL line for
    400 s, and a planner of a nine-node launch in its teardown until launch's SIGKILL). In C
    code holding the GIL, the stacks come first.
    """
    logger = rclpy.logging.get_logger(name)
    seen = len(stop.signals)
    deadline = time.monotonic() + bound
    try:
        with _bounded(name, bound):
            if node is not None:
                if stop.requested:
                    logger.info(f'{stop.names()[0]} received: shutting down')
                state = lifecycle_shutdown(node, logger)
                if state is not None:
                    logger.info(f'lifecycle: {state} -> finalized')
    finally:
        with _bounded(name, max(deadline - time.monotonic(), 0.5), phase='shutdown',
                      cause="the middleware destroying the node's DDS entities; the node's "
                            'own shutdown is done', stacks=True, code=EXIT_OK):
            try:
                if node is not None:
                    node.destroy_node()
                later = stop.names(1 if seen else 0)
                if len(later):
                    logger.info(f'{", ".join(later)} during the shutdown: ignored (already '
                                'stopping)')
            finally:
                rclpy.try_shutdown()


def _destroy_half_built(exc: BaseException) -> None:
    """
    Destroy the node whose constructor raised ``exc``, while the context is still valid.

    Its parameter services and publishers exist already; left to the garbage collector (a node
    is a reference cycle) they were freed at some later moment, during or after the context's
    shutdown: on Kilted a start refusal then crashed (SIGSEGV) or hung after its FATAL line, in
    two fresh-clone CI runs. The half-built node is the ``self`` of a frame of the traceback.
    """
    tb = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get('self')
        if isinstance(candidate, Node):
            # rclpy's own destroy_node (the node class's may use attributes never set)
            rclpy_class = next(c for c in type(candidate).__mro__
                               if c.__module__.startswith('rclpy.') and 'destroy_node' in vars(c))
            try:
                rclpy_class.destroy_node(candidate)
            except Exception:  # noqa: BLE001 - half-built: destroy what exists, nothing more
                pass
            break
        tb = tb.tb_next
    exc.__traceback__ = None
    gc.collect()


def run_node(factory: Callable[[], Node], args=None, name: str = 'qcoinf_ros',
             done: Callable[[Node], bool] | None = None, stop: StopRequest = STOP,
             teardown_timeout: float = TEARDOWN_TIMEOUT,
             start_timeout: float = START_TIMEOUT) -> int:
    """
    Create the node with ``factory``, spin it until a stop request (or ``done(node)``), tear down.

    A ``ValueError`` while constructing (invalid parameters) is logged once (FATAL) and gives
    exit code 2 instead of a traceback. A stop requested before or while the node is created
    ends it as soon as the constructor returns. Creating the node is bounded by
    ``start_timeout`` up to the constructor's return or its :func:`autostart`, whichever is
    first: past it, one line, the stacks and exit code 1. Returns the process exit code.
    """
    global _end_of_start
    stop.install()
    if stop.requested:  # stopped while the entry point imported the node's module
        return EXIT_OK
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = EXIT_OK
    try:
        with _bounded(name, start_timeout, phase='start-up', stacks=True,
                      cause='creating the node hung: its DDS entities or a driver, see the '
                            'stacks') as _end_of_start:
            try:
                node = factory()
            except ValueError as exc:
                rclpy.logging.get_logger(name).fatal(f'cannot start: {exc}')
                _destroy_half_built(exc)
                return EXIT_INVALID
            finally:
                _end_of_start = None
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.requested and not (done is not None and done(node)):
            executor.spin_once(timeout_sec=0.1)
        executor.remove_node(node)
        executor.shutdown(timeout_sec=1.0)
    except ExternalShutdownException:
        pass  # the context was shut down by its owner: nothing left to spin
    except Exception:  # noqa: BLE001 - a crash: the traceback, exit code 1, still a teardown
        traceback.print_exc(file=sys.stderr)
        code = EXIT_CRASH
    finally:
        teardown(node, name, stop, teardown_timeout)
    return code
