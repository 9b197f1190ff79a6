"""Shared pytest configuration: optional-hardware markers and per-test DDS isolation."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import random

import pytest


def _cuda_available() -> bool:
    try:
        import torch
        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - torch missing or broken: no GPU
        return False


def _on_jetson() -> bool:
    return Path('/etc/nv_tegra_release').exists() or os.environ.get('QCOINF_JETSON') == '1'


@pytest.fixture(autouse=True, scope='session')
def _one_torch_thread():
    """
    Run torch with one intra-op thread during the tests.

    The CI machine has 2 cores shared by the test process and the node processes it starts;
    two torch threads thrash there (a 1 s test took 19 s).
    """
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope='session')
def _private_cost_cache(tmp_path_factory):
    """
    Point the measured-cost cache (``$XDG_CACHE_HOME/qcoinf_ros/cost``) at a session folder.

    Node processes inherit it: no test reads a cost measured by an earlier run (or writes into
    the user's cache); within the session, restarts find their own measurements as on a robot.
    """
    saved = os.environ.get('XDG_CACHE_HOME')
    os.environ['XDG_CACHE_HOME'] = str(tmp_path_factory.mktemp('xdg_cache'))
    yield
    if saved is None:
        os.environ.pop('XDG_CACHE_HOME', None)
    else:
        os.environ['XDG_CACHE_HOME'] = saved


@pytest.fixture(autouse=True)
def _running_nodes_exit_cleanly(monkeypatch):
    """
    Every node process still running when a test (or a harness it calls) stops it exits 0.

    Stopping is SIGINT first, what ``ros2 launch`` and Ctrl-C send; a node that dies of it,
    raises on the way out or needs SIGTERM/SIGKILL fails the test. A process that had already
    exited when stopped (a refused parameter: exit 2, a crash the test provoked) is the test's
    own business.
    """
    from qcoinf_ros.ros.processes import NodeProcess
    unclean = []
    original = NodeProcess.stop

    def stop(self, timeout: float = 5.0) -> int:
        running = self.returncode is None
        code = original(self, timeout)
        if running and code != 0:
            unclean.append(f'{self.name} exited {code} when stopped:\n{self.output[-2000:]}')
        return code

    monkeypatch.setattr(NodeProcess, 'stop', stop)
    yield
    assert not unclean, '\n'.join(unclean)


def _netns_unavailable() -> str | None:
    from qcoinf_ros.tools.bench.netns import netns_unavailable
    return netns_unavailable()


def pytest_ignore_collect(collection_path, config):
    """
    Under ``-m 'check and ...'`` (``make check``) skip a test file that cannot hold the mark.

    A conjunction whose first term is ``check`` selects only tests marked check, so a file whose
    text never says ``mark.check`` has none to give: it is not imported. The selection stays
    the marker's alone; this saves ``make check`` importing the graph, fuzz and model tests
    (about 15 s of collection) only to deselect them.
    """
    if (config.getoption('markexpr', '') or '').split(' and ')[0].strip() != 'check':
        return None
    if collection_path.suffix == '.py' and collection_path.name.startswith('test_'):
        if 'mark.check' not in collection_path.read_text(errors='replace'):
            return True
    return None


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get('QCOINF_RUN_SLOW') == '1'
    # markers, not keywords: a parameter id such as [gpu] is a keyword but marks nothing
    netns_reason = (_netns_unavailable()
                    if any(item.get_closest_marker('netns') for item in items) else None)
    skips = {
        'slow': None if run_slow else pytest.mark.skip(
            reason='slow: set QCOINF_RUN_SLOW=1 (or run `make test-all`)'),
        'gpu': None if _cuda_available() else pytest.mark.skip(
            reason='gpu: no CUDA device (torch.cuda.is_available() is False)'),
        'jetson': None if _on_jetson() else pytest.mark.skip(
            reason='jetson: not an NVIDIA Jetson (/etc/nv_tegra_release missing)'),
        'netns': None if not netns_reason else pytest.mark.skip(reason=f'netns: {netns_reason}'),
    }
    for item in items:
        for name, skip in skips.items():
            if skip is not None and item.get_closest_marker(name) is not None:
                item.add_marker(skip)


#: Set by `make test`: the ROS stack is part of the set-up there, so a test skipped because
#: rclpy (or a message package) is missing is a broken set-up, reported as a failure.
REQUIRE_ROS = os.environ.get('QCOINF_REQUIRE_ROS') == '1'


def _missing_ros(report) -> bool:
    return report.skipped and 'rclpy missing' in str(report.longrepr)


def _fail_missing_ros(report) -> None:
    if REQUIRE_ROS and _missing_ros(report):
        report.outcome = 'failed'
        report.longrepr = f'QCOINF_REQUIRE_ROS=1 but: {report.longrepr}'


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_missing_ros(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_missing_ros(outcome.get_result())


def _make_cpu_tree(root: Path, cpus=2, governors='performance powersave userspace',
                   table='1000000 1500000 2000000', cur=1500000):
    for i in range(cpus):
        d = root / f'cpu{i}' / 'cpufreq'
        d.mkdir(parents=True)
        (d / 'cpuinfo_min_freq').write_text('1000000\n')
        (d / 'cpuinfo_max_freq').write_text('2000000\n')
        if table is not None:
            (d / 'scaling_available_frequencies').write_text(table + ' \n')
        (d / 'scaling_available_governors').write_text(governors + '\n')
        (d / 'scaling_governor').write_text('performance\n')
        (d / 'scaling_setspeed').write_text('<unsupported>\n')  # as outside userspace
        (d / 'scaling_min_freq').write_text('1000000\n')
        (d / 'scaling_max_freq').write_text('2000000\n')
        (d / 'scaling_cur_freq').write_text(f'{cur}\n')
    (root / 'cpuidle').mkdir()  # not a CPU: must be ignored
    return root


def _cpu_tree_state(root: Path) -> dict:
    """
    Every cpufreq file the backend may write, per CPU, as the kernel would show it.

    ``scaling_setspeed`` counts only under the userspace governor: elsewhere the kernel reads it
    as ``<unsupported>`` whatever was written last (the mimicked tree keeps the last write).
    """
    state = {}
    for d in sorted(root.glob('cpu*/cpufreq')):
        governor = (d / 'scaling_governor').read_text()
        for name in ('scaling_governor', 'scaling_min_freq', 'scaling_max_freq',
                     'scaling_setspeed'):
            if (d / name).is_file() and (name != 'scaling_setspeed'
                                         or governor == 'userspace\n'):
                state[str((d / name).relative_to(root))] = (d / name).read_text()
    return state


@pytest.fixture
def cpu_state():
    """Return ``state(root)``: a mimicked cpufreq tree's files as the kernel shows them."""
    return _cpu_tree_state


@pytest.fixture
def cpu_tree():
    """Return ``make(root, cpus=2, ...)`` building a directory tree that mimics cpufreq sysfs."""
    return _make_cpu_tree


@contextlib.contextmanager
def _dds_environment():
    from qcoinf_ros.ros.processes import loopback_dds_env

    domain = random.SystemRandom().randint(1, 100)
    env = loopback_dds_env(domain_id=domain)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def ros_env():
    """
    Environment for child node processes: loopback DDS on a domain of this test's own.

    Also applied to this process (restored afterwards) so an in-test rclpy context joins the
    same domain. Domain ids are drawn per test to keep concurrent runs apart.
    """
    with _dds_environment() as env:
        yield env


@pytest.fixture(scope='module')
def module_ros_env():
    """:func:`ros_env` for a module-scoped fixture (a graph several tests of a module share)."""
    with _dds_environment() as env:
        yield env


# -- The graph-test harness -------------------------------------------------------------------
# One way for every test under test/graph and test/ros/nodes (and any test that talks to nodes):
#
#   ros_env        the DDS environment of a domain of the test's own (node processes and this one);
#                  module_ros_env: the same for a module-scoped fixture
#   context        the test's rclpy context; nodes under test built in this process use it
#   rclpy_node     the test's own node (in ``context``): publishers, subscriptions, clients
#   spin_until     spin_until(predicate, timeout) -> bool: every wait, bounded; spins the test node
#                  and the in-process nodes given to spin_until.add(node) (.remove(node))
#   listen         listen(msg_type, topic, qos) -> list that fills with the topic's messages: the
#                  one way to wait for a topic is spin_until(lambda: len(got) >= n)
#   start_node     start_node(executable, ros_args) -> NodeProcess on ros_env, stopped (SIGINT
#                  first, exit code checked) when the test ends
#   set_params     set_params(node_name, [Parameter, ...]) on a node process, with retries


@pytest.fixture
def context(ros_env):
    """Yield the test's rclpy context on its own domain (the test node's and in-process nodes')."""
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    try:
        yield ctx
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.fixture
def rclpy_node(context):
    """Yield the test's rclpy node, in the test's context; tear it down afterwards."""
    import rclpy

    node = rclpy.create_node(f'qcoinf_test_{os.getpid()}', context=context)
    try:
        yield node
    finally:
        node.destroy_node()


@pytest.fixture
def spin_until(rclpy_node):
    """
    Give a bounded spin of the test node, as a function of a predicate and a timeout.

    Spins until ``predicate()`` is true or ``timeout`` seconds pass, and returns the predicate's
    last value: every wait in a test is bounded. ``spin_until.add(node)`` spins an in-process
    node (built in the ``context`` fixture's context) in the same executor (``remove(node)``
    before destroying it); ``spin_until.executor`` is that executor.
    """
    import time

    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=rclpy_node.context)
    executor.add_node(rclpy_node)

    def spin(predicate, timeout=20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            executor.spin_once(timeout_sec=0.05)
        return predicate()

    spin.executor = executor
    spin.add, spin.remove = executor.add_node, executor.remove_node
    yield spin
    executor.shutdown()


@pytest.fixture
def listen(rclpy_node):
    """
    Give the test node's subscriptions, as lists that fill with the topic's messages.

    ``listen(msg_type, topic, qos, convert=None)`` returns the list.

    The test node subscribes; ``convert`` maps each message before it is kept. Waiting for a
    topic is ``spin_until(lambda: len(got) >= n)`` on that list.
    """
    def subscribe(msg_type, topic: str, qos, convert=None, **kwargs) -> list:
        got: list = []
        rclpy_node.create_subscription(
            msg_type, topic, got.append if convert is None else lambda m: got.append(convert(m)),
            qos, **kwargs)
        return got

    return subscribe


@pytest.fixture
def start_node(ros_env):
    """
    Start node processes on the test's DDS domain.

    ``start_node(executable, ros_args=None, **kwargs)`` returns the process; keyword arguments go
    to :class:`~qcoinf_ros.ros.processes.NodeProcess` (``env`` defaults to
    ``ros_env``). Every process still running when the test ends is stopped, last started first
    (and must exit 0 then: ``_running_nodes_exit_cleanly``).
    """
    from qcoinf_ros.ros.processes import NodeProcess

    started = []

    def start(executable: str, ros_args=None, **kwargs):
        kwargs.setdefault('env', ros_env)
        proc = NodeProcess(executable, list(ros_args or ()), **kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.stop()


@pytest.fixture
def set_params(rclpy_node, spin_until):
    """
    Set parameters of a node process and return the results (``SetParametersResult`` list).

    Called as ``set_params(node_name, [Parameter, ...])``.

    The request is sent again when no reply came within 3 s: a reply is lost when the server
    has not yet discovered the client's response reader (a known ROS 2 service race; the server
    logs "failed to send response"). Setting the same values twice is harmless. Bounded: at
    most ``attempts`` tries.
    """
    from rclpy.parameter_client import AsyncParameterClient

    clients = {}

    def call(node_name, parameters, attempts=5):
        client = clients.get(node_name)
        if client is None:
            client = clients[node_name] = AsyncParameterClient(rclpy_node, node_name)
            assert spin_until(client.services_are_ready, 30.0), f'{node_name}: no services'
        for _ in range(attempts):
            future = client.set_parameters(list(parameters))
            if spin_until(future.done, 3.0):
                return future.result().results
        raise AssertionError(f'{node_name}: no reply to set_parameters after {attempts} tries')

    return call
