"""
The wheels set-up per ROS 2 distribution (``ROS_DISTRO_WHEELS``): choice, locks, recorded name.

The suite itself runs on each distribution in CI (``.ci/run``); these tests pin the set-up's
rules: the choice is validated before anything is installed, the venv stamp includes it, the
two locks pin the same non-ROS packages, and the environment names its distribution.
"""

import os
from pathlib import Path
import re
import subprocess

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / 'requirements'


def _pins(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if '==' in line and not line.startswith('#'):
            name, version = line.split('==', 1)
            out[re.sub(r'[-_.]+', '-', name).lower()] = version
    return out


def test_an_unknown_distribution_is_refused_before_anything_is_installed(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ('ROS_DISTRO', 'QCOINF_ROS_WHEELS', 'VIRTUAL_ENV')}
    env.update(ROS_DISTRO_WHEELS='rolling', QCOINF_VENV=str(tmp_path / 'venv'))
    run = subprocess.run([str(ROOT / 'scripts' / 'setup_env.sh')], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and 'not one of: jazzy, kilted' in run.stderr
    assert not (tmp_path / 'venv').exists()


def test_each_distribution_has_its_requirements_and_a_lock_agreeing_off_ros():
    jazzy, kilted = _pins(REQ / 'constraints-jazzy.txt'), _pins(REQ / 'constraints-kilted.txt')
    assert jazzy['ros-rclpy'].startswith('7.') and kilted['ros-rclpy'].startswith('9.')
    for distro, lock in (('jazzy', jazzy), ('kilted', kilted)):
        wanted = _pins(REQ / f'ros-{distro}.txt')
        assert wanted and all(lock[name] == version for name, version in wanted.items())
        # (pip freeze leaves setuptools out of a lock: base.txt pins it alone)
        assert all(lock.get(name, version) == version
                   for name, version in _pins(REQ / 'base.txt').items()), distro
    ros = re.compile(r'^(ros-|rcl|rmw|rosidl|rcutils|rpyutils|.*-msgs$|.*-interfaces$|ament)')
    common = {n for n in jazzy.keys() & kilted.keys() if not ros.match(n)}
    assert all(jazzy[n] == kilted[n] for n in common), \
        {n: (jazzy[n], kilted[n]) for n in common if jazzy[n] != kilted[n]}


def test_the_venv_stamp_includes_the_choice_and_the_environment_names_it():
    setup = (ROOT / 'scripts' / 'setup_env.sh').read_text()
    assert 'distro=${ROS_DISTRO_WHEELS:-jazzy}' in setup
    assert 'ros=$ros_mode distro=$distro' in setup
    in_env = (ROOT / 'scripts' / 'in_env.sh').read_text()
    assert '.qcoinf-ros-distro' in in_env and 'export ROS_DISTRO' in in_env
    ci = (ROOT / '.ci' / 'run').read_text()
    assert 'make test\n' in ci and 'ROS_DISTRO_WHEELS=kilted make test' in ci
