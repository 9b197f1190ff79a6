"""ament_pep257 over the package (docstring conventions)."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]
PATHS = [str(ROOT / p) for p in ('qcoinf_ros', 'test', 'scripts', 'setup.py')]

ament_pep257 = pytest.importorskip('ament_pep257.main', reason='ament_pep257 not installed')


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = ament_pep257.main(argv=PATHS)
    assert rc == 0, 'Found code style errors / warnings'
