"""
``make test`` survives a broken pytest plugin of another package (launch_testing on Kilted).

A plugin whose hook takes the ``path`` argument pytest 9 removed (as ``launch_testing``'s did
before its September 2026 fix) is installed on ``PYTHONPATH`` through a ``pytest11`` entry
point, as a system ROS 2 install provides it. pytest with autoloading fails to start; pytest
as ``make test`` runs it (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and the plugins of
``scripts/pytest_plugins.py``) starts, and the suite's own plugins are there.
"""

import os
from pathlib import Path
import subprocess
import sys

import pytest

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]


def _broken_plugin(folder: Path) -> None:
    (folder / 'old_launch_testing_plugin.py').write_text(
        'def pytest_collect_file(path, parent):\n    return None\n')
    dist = folder / 'old_launch_testing-1.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: old-launch-testing\n'
                                   'Version: 1.0\n')
    (dist / 'entry_points.txt').write_text('[pytest11]\nlaunch_testing = '
                                           'old_launch_testing_plugin\n')


def _pytest(folder: Path, env: dict, *args) -> subprocess.CompletedProcess:
    (folder / 'test_probe.py').write_text('def test_probe():\n    assert True\n')
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           '--rootdir', str(folder), *args, str(folder / 'test_probe.py')],
                          env=env, cwd=folder, capture_output=True, text=True, timeout=120)


def test_a_broken_plugin_stops_autoloading_pytest_but_not_make_test(tmp_path):
    _broken_plugin(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_DISABLE_PLUGIN_AUTOLOAD'}
    env['PYTHONPATH'] = os.pathsep.join([str(tmp_path), env.get('PYTHONPATH', '')])
    broken = _pytest(tmp_path, env)
    assert broken.returncode != 0
    assert 'PluginValidationError' in broken.stdout + broken.stderr
    assert "{'path'}" in broken.stdout + broken.stderr
    plugins = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'pytest_plugins.py')],
                             capture_output=True, text=True, check=True).stdout.split()
    assert '-p' in plugins and 'pytest_timeout' in plugins
    fixed = _pytest(tmp_path, {**env, 'PYTEST_DISABLE_PLUGIN_AUTOLOAD': '1'}, *plugins,
                    '--timeout=60')  # an option of a plugin the suite needs: it is loaded
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert '1 passed' in fixed.stdout


def test_make_test_runs_pytest_that_way():
    makefile = (ROOT / 'Makefile').read_text()
    recipe = makefile[makefile.index('\ntest: build'):makefile.index('\ntest-all:')]
    assert 'export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1' in recipe
    assert 'export QCOINF_REQUIRE_ROS=1' in recipe  # a missing rclpy fails there, not skips
    assert 'scripts/pytest_plugins.py' in recipe and '$$plugins' in recipe
