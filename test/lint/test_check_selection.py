"""
``make check`` runs the tests marked ``check``: the selection is not empty and needs no ROS graph.

The Makefile selects by marker (``CHECK_MARKERS``), no hand-kept list. A check test runs from
the venv and the source tree in well under a minute with the others: no ROS graph (no node
process, no rclpy context: none of the fixtures that start one, no ``ros`` or ``netns``
marker, nothing under ``test/graph``, ``test/ros/nodes``, ``test/robot`` or ``test/fuzz``), no
colcon install space, and importing the check test modules loads no rclpy, launch or message
package. The selection is collected by pytest itself, as ``make check`` collects it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[2]
ROS_FIXTURES = {'ros_env', 'context', 'rclpy_node', 'spin_until', 'set_params'}
ROS_MARKERS = {'ros', 'netns', 'jetson'}
ROS_FOLDERS = ('graph/', 'ros/nodes/', 'robot/', 'fuzz/')
FORBIDDEN = ('rclpy', 'rosidl', 'launch', 'launch_ros', 'rosbag2_py')

PLUGIN = """
import json, os


def pytest_collection_finish(session):
    items = [{'nodeid': item.nodeid, 'path': str(item.path),
              'markers': sorted({m.name for m in item.iter_markers()}),
              'fixtures': sorted(getattr(item, 'fixturenames', ()))}
             for item in session.items]
    with open(os.environ['QCOINF_CHECK_SELECTION'], 'w') as out:
        json.dump(items, out)
"""


def _markers() -> str:
    found = re.search(r'^CHECK_MARKERS := (.+)$', (ROOT / 'Makefile').read_text(), re.MULTILINE)
    assert found, 'Makefile: no CHECK_MARKERS'
    return found.group(1).strip()


def _selection(tmp_path: Path) -> list[dict]:
    (tmp_path / 'check_selection_plugin.py').write_text(PLUGIN)
    out = tmp_path / 'items.json'
    # as `make check` collects: without the PYTEST_ADDOPTS that `colcon test` passes its
    # --pytest-args in (TEST_SCOPE=ros's --ignore of the core folders emptied the selection)
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_ADDOPTS'}
    env.update(PYTEST_DISABLE_PLUGIN_AUTOLOAD='1', QCOINF_CHECK_SELECTION=str(out),
               PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path),
                                                        os.environ.get('PYTHONPATH')])))
    run = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '--collect-only', '-p', 'no:cacheprovider',
         '-p', 'pytest_timeout', '-p', 'check_selection_plugin', '-m', _markers(), 'test'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(out.read_text())


def test_make_check_selects_by_marker_only():
    makefile = (ROOT / 'Makefile').read_text()
    recipe = makefile[makefile.index('\ncheck:'):].split('\n\n')[0]
    assert "-m '$(CHECK_MARKERS)' test" in recipe
    assert 'CHECK_TESTS' not in makefile and not re.search(r'test/\w+/test_\w+\.py', recipe)
    assert _markers().split(' and ')[0] == 'check'  # test/conftest.py's collection shortcut


def test_make_check_types_the_whole_package():
    """setup.cfg [mypy] checks every module; the ones not yet clean are listed one by one."""
    import configparser
    config = configparser.ConfigParser()
    config.read(ROOT / 'setup.cfg')
    assert config['mypy']['files'].strip() == 'qcoinf_ros'
    relaxed = [name for name in config.sections() if name.startswith('mypy-')]
    assert all('*' not in name for name in relaxed)  # a module at a time, no wildcard
    core = ('qcoinf_ros.core.theory', 'qcoinf_ros.core.planner', 'qcoinf_ros.core.codec')
    assert not any(m.startswith(core)
                   for name in relaxed for m in name[len('mypy-'):].split(','))
    makefile = (ROOT / 'Makefile').read_text()
    assert '$(ENV) python -m mypy --no-error-summary' in makefile


def test_the_check_selection_is_not_empty_and_needs_no_ros_graph_or_colcon(tmp_path):
    items = _selection(tmp_path)
    files = {Path(i['path']).relative_to(ROOT / 'test').as_posix() for i in items}
    assert len(items) > 300 and len(files) > 25, files
    assert 'lint/test_layering.py' in files and 'core/planner/test_planner_core.py' in files
    offenders = [f"{i['nodeid']}: {reason}" for i in items for reason in (
        *(f'marker {m}' for m in ROS_MARKERS.intersection(i['markers'])),
        *(f'fixture {f}' for f in ROS_FIXTURES.intersection(i['fixtures'])),
        *(['in ' + i['nodeid'].split('::')[0]]
          if i['nodeid'].split('/', 1)[1].startswith(ROS_FOLDERS) else []))]
    assert 'check' in set().union(*(i['markers'] for i in items))
    assert all('check' in i['markers'] for i in items)
    assert offenders == []
    texts = {f: (ROOT / 'test' / f).read_text() for f in files}
    assert [f for f, text in texts.items() if re.search(r'\binstall/|colcon build', text)] == []
    # importing the check test modules (as pytest does) loads no ROS package
    code = ('import importlib.util, sys\n'
            f'sys.path[:0] = [{str(ROOT / "test")!r}, {str(ROOT)!r}]\n'
            f'for path in {sorted(str(ROOT / "test" / f) for f in files)!r}:\n'
            '    name = path.rsplit("/", 1)[1][:-3]\n'
            '    spec = importlib.util.spec_from_file_location(name, path)\n'
            '    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n'
            'print(sorted({m.split(".")[0] for m in sys.modules}))')
    run = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = set(eval(run.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own output
    assert [m for m in loaded if m in FORBIDDEN or m.endswith(('_msgs', '_interfaces'))] == []
