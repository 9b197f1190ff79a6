"""
The nodes' console entry points (``ros2 run qcoinf_ros <node>``).

Each one installs the stop request (:mod:`qcoinf_ros.ros.stop`) first, then imports its node's
module and runs its ``main()``: a SIGINT or SIGTERM that lands while rclpy, torch or the model
are still being imported ends the process with exit code 0 at the first safe point, never with
a ``KeyboardInterrupt`` traceback. Only the standard library is imported at module level.
"""

from __future__ import annotations

import importlib
import os
import sys

from qcoinf_ros.ros.stop import STOP

#: The package's node executables (each ``qcoinf_ros.ros.nodes.<name>`` has a ``main()``).
NODE_EXECUTABLES = ('agent_encoder_node', 'camera_node', 'edge_decoder_node',
                    'foxglove_node', 'frequency_actuator_node', 'monitor_node', 'planner_node',
                    'scenario_node')


def run(executable: str) -> int:
    """
    Install the stop request, import ``qcoinf_ros.ros.nodes.<executable>``, run its ``main()``.

    The process then ends with ``main()``'s exit code at once (``os._exit`` after flushing the
    output): the node, its context and its workers are already torn down, and the interpreter's
    own finalization — garbage-collecting torch and rclpy objects after the context is gone —
    was seen to hang for seconds (until launch's SIGKILL) after a configure cut short by a stop.
    """
    if executable not in NODE_EXECUTABLES:
        raise ValueError(f'unknown node executable {executable!r} (one of '
                         f'{", ".join(NODE_EXECUTABLES)})')
    STOP.install()
    code = importlib.import_module(f'qcoinf_ros.ros.nodes.{executable}').main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(code)


def _entry_point(executable: str):
    def main() -> int:
        return run(executable)
    main.__name__ = main.__qualname__ = executable
    main.__doc__ = f'``ros2 run qcoinf_ros {executable}``.'
    return main


# agent_encoder_node(), camera_node(), ...: the console_scripts of setup.py
for _executable in NODE_EXECUTABLES:
    globals()[_executable] = _entry_point(_executable)


if __name__ == '__main__':  # python -m qcoinf_ros.ros.entry <executable> [--ros-args ...]
    name = sys.argv.pop(1) if len(sys.argv) > 1 else ''
    sys.exit(run(name))
