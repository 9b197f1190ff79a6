"""ament_flake8 over the package (99 columns, single quotes, import order, docstrings)."""

from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATHS = [str(ROOT / p) for p in ('qcoinf_ros', 'test', 'scripts', 'setup.py')]

pytest.importorskip('ament_flake8.main', reason='ament_flake8 not installed')


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    # In a fresh interpreter: flake8 forks a worker pool, and forking this process (torch,
    # rclpy and DDS threads alive after the graph tests) made the workers segfault.
    code = ('import sys\nfrom ament_flake8.main import main\n'
            f'sys.exit(main(argv={["--config", str(ROOT / "setup.cfg"), *PATHS]!r}))')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=500)
    assert run.returncode == 0, f'code style errors / warnings:\n{run.stdout}{run.stderr}'
