"""
``qcoinf launch``: run one of the package's launch XML files without ROS 2 ``launch``.

Each ``<node>`` becomes a separate process (as ``ros2 launch`` does), with its parameter files,
parameters, remaps and namespace. Output is prefixed with the node's name. Ctrl-C (SIGINT) or
SIGTERM stops every node; a node with ``respawn="true"`` is restarted after ``respawn_delay``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import signal
import sys
import time

from qcoinf_ros.core.launching import list_launch_arguments, parse_launch_file
from qcoinf_ros.core.resources import share_dir
from qcoinf_ros.ros.processes import LaunchedNodes, loopback_dds_env


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf launch', description=__doc__.splitlines()[1])
    parser.add_argument('file', help='launch XML: a path, or a file name in the package share '
                                     'folder launch/ (e.g. demo.launch.xml)')
    parser.add_argument('launch_args', nargs='*', metavar='NAME:=VALUE',
                        help='launch arguments')
    parser.add_argument('--show-args', action='store_true',
                        help='list the declared arguments and exit')
    parser.add_argument('--print', dest='dry', action='store_true',
                        help='print the node commands instead of running them')
    parser.add_argument('--timeout', type=float, default=0.0,
                        help='stop everything after this many seconds (0: run until stopped)')
    return parser


def resolve_launch_file(name: str) -> Path:
    """Return ``name`` as a path, or the shipped ``launch/<name>``; ValueError if neither."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = share_dir() / 'launch' / name
    if shipped.is_file():
        return shipped
    raise ValueError(f'launch file {name!r} not found (neither a path nor in {shipped.parent})')


def launch_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """
    Return the environment of the launched nodes: DDS confined to this machine by default.

    Unless the caller configured DDS itself (``FASTDDS_DEFAULT_PROFILES_FILE`` or
    ``ROS_AUTOMATIC_DISCOVERY_RANGE`` set, e.g. for two hosts), the loopback profile and
    ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` are added (:func:`loopback_dds_env`).
    """
    env = dict(os.environ if base is None else base)
    if 'FASTDDS_DEFAULT_PROFILES_FILE' in env or 'ROS_AUTOMATIC_DISCOVERY_RANGE' in env:
        return env
    return loopback_dds_env(env)


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """
    Return ``{name: value}`` of ``name:=value`` items, by ``ros2 launch``'s rules.

    An item without ``:=``, starting with it, or ending with it when it holds one only
    (``name:=``) is malformed (``ValueError``); the last value of a name wins. Values are
    text: a substitution in one is not evaluated.
    """
    out = {}
    for item in items:
        count = item.count(':=')
        if count == 0 or item.startswith(':=') or (count == 1 and item.endswith(':=')):
            raise ValueError(f"malformed launch argument '{item}', expected format "
                             "'<name>:=<value>'")
        key, value = item.split(':=', 1)
        out[key] = value
    return out


def print_arguments(args) -> None:
    """Print the declared arguments as ``ros2 launch --show-args`` does."""
    print("Arguments (pass arguments as '<name>:=<value>'):")
    for arg in args:
        text = f"\n    '{arg.name}':{'*' if arg.conditional else ''}\n        {arg.description}"
        if arg.default is not None:
            text += f"\n        (default: '{arg.default}')"
        print(text)
    if not args:
        print('\n  No arguments.')
    elif any(a.conditional for a in args):
        print('\n* argument(s) which are only used if specific conditions occur')


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)
    try:
        path = resolve_launch_file(args.file)
        if args.show_args:
            print_arguments(list_launch_arguments(path))
            return 0
        description = parse_launch_file(path, parse_launch_arguments(args.launch_args))
    except ValueError as exc:
        print(f'qcoinf launch: {exc}', file=sys.stderr)
        return 2
    for warning in description.warnings:
        print(f'qcoinf launch: warning: {warning}', file=sys.stderr)
    if args.dry:
        for spec in description.nodes:
            print(' '.join([spec.package, spec.executable, *spec.args, '--ros-args',
                            *spec.ros_args()]))
        return 0

    env = launch_env()
    stop = {'flag': False}

    def on_signal(signum, frame):
        stop['flag'] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        nodes = LaunchedNodes(description, env=env, echo=True)
    except ValueError as exc:
        print(f'qcoinf launch: {exc}', file=sys.stderr)
        return 2
    print(f'qcoinf launch: {len(nodes.running)} node(s) from {path}', flush=True)
    began = time.monotonic()
    try:
        while not stop['flag']:
            if args.timeout and time.monotonic() - began >= args.timeout:
                break
            if not nodes.poll(lambda text: print(f'qcoinf launch: {text}', flush=True)):
                break
            time.sleep(0.1)
    finally:
        codes = nodes.stop()
    failed = {name: code for name, code in codes.items() if code != 0}
    for name, code in failed.items():  # as ros2 launch reports a process that did not exit 0
        print(f'qcoinf launch: {name} has died [exit code {code}]', file=sys.stderr, flush=True)
    return 1 if failed else 0
