"""
``make test TEST_SCOPE=ros`` (the second distribution's pass in CI) skips the pure core's tests.

That is only sound while those tests run no ROS code: this checks that every test file under the
Makefile's ``CORE_TEST_DIRS`` names no rclpy, message package, node process, launch, ROS
fixture or install space, and that every other test folder is one that does (so a new ROS test
folder is not skipped by accident, and a core folder that starts using ROS is caught).
"""

from pathlib import Path
import re
import subprocess

ROOT = Path(__file__).resolve().parents[2]
ROS_WORDS = re.compile(
    r'rclpy|\w+_msgs\.msg\b|import \w+_msgs\b|ros_env|rclpy_node|spin_until|NodeProcess|'
    r'start_node|mark\.ros|\blaunch\b|launch_ros|in_env\.sh|colcon|install/|'
    r'qcoinf_ros\.ros\b|qcoinf_ros\.tools\.cli\.(bag|demo|monitor|launch|bench_)')


def _core_dirs() -> list[str]:
    out = subprocess.run(['make', '-s', '--no-print-directory', '-f', 'Makefile',
                          '--eval', 'print-core:\n\t@echo $(CORE_TEST_DIRS)', 'print-core'],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_core_test_folders_run_no_ros_code():
    dirs = _core_dirs()
    assert len(dirs) >= 10 and all((ROOT / 'test' / d).is_dir() for d in dirs)
    offenders = [f'{path.relative_to(ROOT)}: {match.group(0)}'
                 for d in dirs for path in sorted((ROOT / 'test' / d).rglob('*.py'))
                 for match in [ROS_WORDS.search(path.read_text())] if match]
    assert offenders == []


def test_every_other_test_folder_is_one_that_touches_ros():
    core = set(_core_dirs())
    tests = ROOT / 'test'
    others = sorted(p.relative_to(tests).as_posix() for p in tests.rglob('*')
                    if p.is_dir() and not p.relative_to(tests).parts[0] == 'data'
                    and any(p.glob('*.py')))
    others = [d for d in others if not any(d == c or d.startswith(c + '/') for c in core)]
    assert {'graph', 'ros', 'ros/nodes', 'core/bags'} <= set(others)
    quiet = [d for d in others
             if not any(ROS_WORDS.search(f.read_text()) for f in (tests / d).glob('*.py'))]
    assert quiet == []  # a ROS-free folder belongs in CORE_TEST_DIRS (or it runs twice)


def test_the_pattern_sees_what_it_must():
    for text in ('import rclpy', 'from std_msgs.msg import String', 'def test(ros_env):',
                 'NodeProcess("camera_node")', '@pytest.mark.ros',
                 'from qcoinf_ros.ros.qos import SENSOR',
                 'from qcoinf_ros.ros.nodes import camera_node',
                 'from qcoinf_ros.tools.cli.bag import main'):
        assert ROS_WORDS.search(text), text
    for text in ('import torch', 'from qcoinf_ros.core.planner import make_solver',
                 'sensor_msgs/CompressedImage frames as image_transport writes them',
                 'from qcoinf_ros.core.codec.cost import CostMessage', 'rosbags_typestore'):
        assert not ROS_WORDS.search(text), text


def test_colcon_accepts_the_scope_arguments(tmp_path):
    """
    ``colcon test`` parses the Makefile's ``--pytest-args`` for TEST_SCOPE=ros as pytest's.

    A bare ``--ignore=...`` after ``--pytest-args`` is an abbreviation of colcon's own
    ``--ignore-user-meta`` to colcon's parser, which then stops with exit code 2 before any test
    runs (CI, Kilted). This runs the real colcon with the Makefile's own quoting over an empty
    workspace, so only the argument parsing is exercised.
    """
    empty = tmp_path / 'ws'
    empty.mkdir()
    recipe = ('scope-check:\n\t@colcon --log-base $(LOGS) test --base-paths $(EMPTY) '
              '--build-base $(EMPTY)/build --install-base $(EMPTY)/install '
              '--pytest-args -ra $(SCOPE_ARGS)')
    out = subprocess.run(['make', '-s', '--no-print-directory', '-f', 'Makefile', '--eval', recipe,
                          'scope-check', 'TEST_SCOPE=ros', f'EMPTY={empty}',
                          f'LOGS={tmp_path / "log"}'],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'error' not in out.stderr.lower(), out.stderr
