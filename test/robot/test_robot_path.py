"""
The robot path of docs/robot.md, walked on an emulated apt ROS 2 Jazzy (robot_path.sh).

The emulation runs Jazzy on Python 3.11, not Ubuntu 24.04's 3.12: this machine has 3.11 only,
the one the local CPU torch wheel is built for. See robot_path.sh for what is emulated and how.
The walk needs PyPI (pip installs the robot requirements; its cache makes a rerun take about two
minutes): it is skipped where PyPI cannot be reached, or with QCOINF_ROBOT_PATH=0.

`QCOINF_RUN_SLOW=1` also runs it once per documented step left out, each of which must fail.
"""

from __future__ import annotations

import os
from pathlib import Path
import random
import re
import shutil
import subprocess
import sys

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCRIPT = HERE / 'robot_path.sh'
PAGE = ROOT / 'docs' / 'robot.md'


def _documented_steps() -> list[tuple[str, str]]:
    text = SCRIPT.read_text()
    block = text[text.index('DOC_STEPS=('):]
    block = block[:block.index('\n)\n')]
    return re.findall(r'^\s+"(\w+)\|(.+)"$', block, flags=re.M)


STEPS = [name for name, _ in _documented_steps()]


def test_the_walked_commands_are_the_page_s_verbatim():
    steps = _documented_steps()
    assert [name for name, _ in steps] == ['source_ros', 'venv', 'activate', 'torch', 'deps',
                                           'build', 'source_install']
    page = PAGE.read_text()
    missing = [cmd for _, cmd in steps if cmd not in page]
    assert not missing, f'not in {PAGE.name}: {missing}'


def _unavailable() -> str | None:
    if os.environ.get('QCOINF_ROBOT_PATH') == '0':
        return 'QCOINF_ROBOT_PATH=0'
    for tool in ('python3.11', 'git', 'tar'):
        if shutil.which(tool) is None:
            return f'no {tool}'
    inside = subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--is-inside-work-tree'],
                            capture_output=True, text=True)
    if inside.stdout.strip() != 'true':
        return 'not a git checkout (the walk copies the tree as a clone would have it)'
    try:  # the package index pip is configured with answers (as the walk's pip will need)
        probe = subprocess.run(
            [sys.executable, '-m', 'pip', 'index', 'versions', 'numpy',
             '--disable-pip-version-check'], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return 'the package index did not answer within 60 s'
    if probe.returncode != 0:
        return f'the package index cannot be reached ({probe.stderr.strip()[-200:]})'
    return None


def _walk(work: Path, skip: str = '') -> subprocess.CompletedProcess:
    """Run robot_path.sh in a clean environment, as a new login on the robot would."""
    keep = ('HOME', 'LANG', 'USER', 'LOGNAME', 'TMPDIR', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE',
            'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY')
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith('PIP_')}
    env.update(
        PATH='/usr/local/bin:/usr/bin:/bin',
        # the user's pip cache (the test session points XDG_CACHE_HOME elsewhere)
        PIP_CACHE_DIR=os.environ.get('PIP_CACHE_DIR', str(Path.home() / '.cache' / 'pip')),
        XDG_CACHE_HOME=str(work / 'cache'),
        # this run's DDS stays on this machine, apart from concurrent runs
        ROS_DOMAIN_ID=str(random.randint(1, 100)),
        ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
        QCOINF_ROBOT_SKIP=skip)
    return subprocess.run(['bash', str(SCRIPT), str(work)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=570)


def test_the_robot_path_captions(tmp_path):
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    result = _walk(tmp_path)
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:]
    out = result.stdout
    assert 'shebang of install/qcoinf_ros/lib/qcoinf_ros/camera_node: #!/usr/bin/env python3' \
        in out
    assert 'qcoinf_ros/msg/Caption round-trips: camera a red cube 4' in out
    assert re.search(r'first_caption: ".+" after', out)
    assert 'OK: the robot path captions' in out


@pytest.mark.slow
@pytest.mark.parametrize('step', STEPS)
def test_the_robot_path_fails_without_each_step(tmp_path, step):
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    result = _walk(tmp_path, skip=step)
    print(result.stdout[-3000:])
    assert f'step {step}: LEFT OUT' in result.stdout
    assert result.returncode != 0, f'the robot path passed without step {step}'
