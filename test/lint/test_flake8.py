"""ament_flake8 over the package (99 columns, single quotes, import order, docstrings)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATHS = [str(ROOT / p) for p in ('qcoinf_ros', 'test', 'scripts', 'setup.py')]

ament_flake8 = pytest.importorskip('ament_flake8.main', reason='ament_flake8 not installed')


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = ament_flake8.main_with_errors(argv=['--config', str(ROOT / 'setup.cfg'), *PATHS])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
