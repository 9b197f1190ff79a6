"""
One graph-test harness: every test that talks to nodes uses the fixtures of ``test/conftest.py``.

Node processes come from ``start_node`` (stopped SIGINT-first when the test ends, exit code
checked), the test's DDS domain from ``ros_env``/``module_ros_env``, the rclpy context and the
test node from ``context``/``rclpy_node``, and every wait on the graph is ``spin_until``. This
checks that no test file builds its own: a ``NodeProcess``, an rclpy context (``rclpy.init``,
``Context()``), an executor or a ``spin_once`` loop, a test node, a DDS environment. The few
files whose subject is one of these are listed with the reason.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]
OWN = {
    'a node process (use start_node)': r'\bNodeProcess\(',
    'an rclpy context (use the context fixture)': r'rclpy\.init\(|\bContext\(\)',
    'an executor or a spin loop (use spin_until)':
        r'\b(SingleThreaded|MultiThreaded)Executor\(|\bspin_once\(',
    'a test node (use rclpy_node)': r'rclpy\.create_node\(',
    'a DDS environment (use ros_env or module_ros_env)': r'\bloopback_dds_env\(',
}
#: file -> (what it may build: the start of an OWN key, ...), why
SUBJECT = {
    'test/ros/test_launched_nodes.py': (('a node process',), 'NodeProcess itself is under test'),
    'test/graph/test_safe_defaults.py': (
        ('a DDS environment',),
        'loopback_dds_env itself is under test; each start refusal gets a domain of its own'),
    'test/robot/first_caption.py': (
        ('an rclpy context', 'an executor', 'a test node'),
        'a ROS user program run inside the emulated robot install, without pytest'),
}


def _allowed(path: str, what: str) -> bool:
    return any(what.startswith(w) for w in SUBJECT.get(path, ((), ''))[0])


def _violations() -> list[str]:
    found = []
    for path in sorted((ROOT / 'test').rglob('*.py')):
        rel = path.relative_to(ROOT).as_posix()
        if rel == 'test/conftest.py' or rel.startswith(('test/lint/', 'test/data/')):
            continue
        text = path.read_text()
        for what, pattern in OWN.items():
            for match in re.finditer(pattern, text):
                if not _allowed(rel, what):
                    line = text.count('\n', 0, match.start()) + 1
                    found.append(f'{rel}:{line}: builds {what}')
    return found


def test_no_test_builds_its_own_harness():
    assert _violations() == []


def test_the_rule_sees_what_it_must(tmp_path, monkeypatch):
    samples = {
        "proc = NodeProcess('planner_node', [], env=env)": 'a node process',
        'rclpy.init(context=ctx)': 'an rclpy context',
        'ctx = Context()': 'an rclpy context',
        'executor = SingleThreadedExecutor()': 'an executor',
        'rclpy.spin_once(node, timeout_sec=0.1)': 'an executor',
        "node = rclpy.create_node('x')": 'a test node',
        'env = loopback_dds_env(domain_id=3)': 'a DDS environment',
    }
    for text, what in samples.items():
        hits = [w for w, pattern in OWN.items() if re.search(pattern, text)]
        assert len(hits) == 1 and hits[0].startswith(what), (text, hits)
    for text in ("proc = start_node('planner_node', [])", 'class NetnsNodeProcess(NodeProcess):',
                 'spin_until(lambda: got, timeout=5)', 'env = dict(ros_env)'):
        assert not any(re.search(p, text) for p in OWN.values()), text


def test_the_exceptions_are_still_needed():
    """A listed file that no longer builds what it is excused for loses its exception."""
    for path, (whats, _) in SUBJECT.items():
        text = (ROOT / path).read_text()
        for wanted in whats:
            assert any(re.search(p, text) for w, p in OWN.items() if w.startswith(wanted)), \
                (path, wanted)
