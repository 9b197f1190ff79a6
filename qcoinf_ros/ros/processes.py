"""
Start package nodes as separate OS processes and stop them cleanly (demo, tests, launcher).

No rclpy here: the child processes are real ROS 2 nodes, this module only manages them.
"""

from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

from qcoinf_ros.core.resources import PACKAGE, share_file


#: ``ros2 launch``'s defaults (launch.actions.ExecuteLocal): SIGTERM this long after SIGINT...
SIGTERM_TIMEOUT = 5.0
#: ... and SIGKILL this long after SIGTERM.
SIGKILL_TIMEOUT = 5.0


def loopback_dds_env(base: dict[str, str] | None = None, domain_id: int | None = None
                     ) -> dict[str, str]:
    """
    Return ``base`` (default: this process's env) set up for DDS confined to this machine.

    Values already present win, except ``domain_id`` which, when given, is forced.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    profile = share_file('config/fastdds_localhost.xml')
    env.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(profile))
    env.setdefault('PYTHONUNBUFFERED', '1')
    if domain_id is not None:
        if not 0 <= int(domain_id) <= 232:
            raise ValueError(f'domain_id must be in [0, 232], got {domain_id!r}')
        env['ROS_DOMAIN_ID'] = str(int(domain_id))
    return env


def node_command(executable: str, package: str = PACKAGE) -> list[str]:
    """
    Return the command that runs ``executable`` of ``package``, as ``ros2 run`` would.

    The installed entry point (``<prefix>/lib/<package>/<executable>``) when it exists. For this
    package, when it is not installed, ``python -m qcoinf_ros.ros.nodes.<executable>`` with this
    interpreter. Raises ``ValueError`` when another package's executable cannot be found.
    """
    try:
        from ament_index_python.packages import get_package_prefix
        exe = Path(get_package_prefix(package)) / 'lib' / package / executable
        if exe.is_file() and os.access(exe, os.X_OK):
            if package == PACKAGE:  # our entry points are Python: run them with this venv
                return [sys.executable, str(exe)]
            return [str(exe)]
    except Exception:  # noqa: BLE001 - not installed: fall back to the module
        pass
    if package != PACKAGE:
        raise ValueError(f'executable {executable!r} of package {package!r} not found '
                         '(is its workspace sourced?)')
    return [sys.executable, '-m', f'{PACKAGE}.ros.entry', executable]


class NodeProcess:
    """
    A node in a child process; its output is kept (``output``) and echoed if asked.

    Stopped as ``ros2 launch`` stops a process (:func:`stop_all`): SIGINT, then SIGTERM after
    ``sigterm_timeout``, then SIGKILL after ``sigkill_timeout`` more.
    """

    def __init__(self, executable: str, ros_args: list[str] | None = None,
                 env: dict[str, str] | None = None, echo: bool = False, name: str = '',
                 package: str = PACKAGE, args: list[str] | None = None,
                 prefix: list[str] | None = None, command: list[str] | None = None):
        """
        Start ``executable`` of ``package`` with ``args`` and ``--ros-args ros_args``.

        ``prefix`` goes before the command (e.g. ``ip netns exec NS``); ``command`` replaces the
        looked-up executable (e.g. ``python -m some.module``).
        """
        self.name = name or executable
        base = list(command) if command is not None else node_command(executable, package)
        self.cmd = [*(prefix or []), *base, *(args or []), '--ros-args', *(ros_args or [])]
        self._lines: list[str] = []
        self._proc = subprocess.Popen(
            self.cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self._reader = threading.Thread(target=self._read, args=(echo,), daemon=True)
        self._reader.start()

    def _read(self, echo: bool) -> None:
        for line in self._proc.stdout:
            self._lines.append(line)
            if echo:
                sys.stdout.write(f'[{self.name}] {line}')

    @property
    def output(self) -> str:
        return ''.join(self._lines)

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds; return the exit code, or None if still running."""
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def send(self, sig: int) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, sig)

    def stop(self, timeout: float = SIGTERM_TIMEOUT) -> int:
        """Stop the node (SIGINT, then SIGTERM, then SIGKILL) and return its exit code."""
        return stop_all([self], timeout, timeout)[0]

    def finish(self) -> int:
        """Wait for the (ended or killed) process and its output; return its exit code."""
        code = self._proc.wait()
        self._reader.join(timeout=1.0)
        return code

    def __enter__(self) -> 'NodeProcess':
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_all(procs: list[NodeProcess], sigterm_timeout: float = SIGTERM_TIMEOUT,
             sigkill_timeout: float = SIGKILL_TIMEOUT) -> list[int]:
    """
    Stop processes together as ``ros2 launch`` does; return their exit codes, in order.

    SIGINT to every one still running, SIGTERM to those still running ``sigterm_timeout`` s
    later, SIGKILL to those still running ``sigkill_timeout`` s after that (launch's timers
    run per process, all started at the shutdown, so the whole stop takes at most the sum).
    """
    for sig, wait in ((signal.SIGINT, sigterm_timeout), (signal.SIGTERM, sigkill_timeout),
                      (signal.SIGKILL, None)):
        running = [p for p in procs if p.returncode is None]
        for proc in running:
            try:
                proc.send(sig)
            except ProcessLookupError:
                pass
        if wait is None or not running:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(p.returncode is None for p in running):
            time.sleep(0.02)
    return [p.finish() for p in procs]


class LaunchedNodes:
    """
    The nodes of an evaluated launch file, each in its own process.

    ``description``: a :class:`~qcoinf_ros.core.launching.xml_launch.LaunchDescription`. The nodes
    start in file order, are respawned as the file says and are stopped together; ``qcoinf
    launch`` and ``qcoinf demo`` run the graph through it. A node is named by its namespace and
    name (``robot1/agent_encoder_node``; the name alone without a namespace), in ``codes`` and
    for ``graph[name]``: two agents of one name in two namespaces are two entries.
    """

    def __init__(self, description, env: dict[str, str] | None = None, echo: bool = False):
        import tempfile
        self._env, self._echo = env, echo
        self._params_dir = tempfile.mkdtemp(prefix='qcoinf_launch_')
        self._respawn_at: dict[int, float] = {}
        self.codes: dict[str, int] = {}  # exit codes of the nodes that ended (not respawned)
        self.running: list = []
        try:
            for spec in description.nodes:
                self.running.append((spec, self._start(spec)))
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def key(spec) -> str:
        """``namespace/name`` of a node spec (the name alone without a namespace)."""
        return '/'.join(p for p in (spec.namespace.strip('/'), spec.name or spec.executable) if p)

    def _start(self, spec) -> NodeProcess:
        return NodeProcess(spec.executable, spec.ros_args(self._params_dir), env=self._env,
                           echo=self._echo, name=spec.name or spec.executable,
                           package=spec.package, args=spec.args)

    def __getitem__(self, name: str) -> NodeProcess:
        """Return the process of the node ``name`` (``[ns/]node``; ``KeyError`` if none)."""
        for spec, proc in self.running:
            if self.key(spec) == name:
                return proc
        raise KeyError(name)

    def poll(self, log=None) -> bool:
        """
        Respawn what is due, record exit codes; return True while any node runs (or will).

        ``log(text)`` hears of each exit and respawn.
        """
        alive = False
        for i, (spec, proc) in enumerate(self.running):
            code = proc.returncode
            if code is None:
                alive = True
            elif spec.respawn:
                alive = True
                due = self._respawn_at.setdefault(i, time.monotonic() + spec.respawn_delay)
                if time.monotonic() >= due:
                    if log is not None:
                        log(f'respawning {self.key(spec)} (exit code {code})')
                    self.running[i] = (spec, self._start(spec))
                    self._respawn_at.pop(i)
            elif self.key(spec) not in self.codes:
                self.codes[self.key(spec)] = code
                if log is not None:
                    log(f'{self.key(spec)} exited with code {code}')
        return alive

    def stop(self) -> dict[str, int]:
        """Stop every node together (:func:`stop_all`); return every node's exit code by name."""
        import shutil
        codes = stop_all([proc for _, proc in self.running])
        for (spec, _), code in zip(self.running, codes):
            self.codes.setdefault(self.key(spec), code)
        shutil.rmtree(self._params_dir, ignore_errors=True)
        return dict(self.codes)

    def __enter__(self) -> 'LaunchedNodes':
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
