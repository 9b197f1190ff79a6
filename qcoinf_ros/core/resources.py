"""Locate files the package ships (config, launch) whether installed by colcon or not."""

from __future__ import annotations

from pathlib import Path

PACKAGE = 'qcoinf_ros'
_SOURCE_ROOT = Path(__file__).resolve().parents[2]
#: The one home of the model data the package ships (inside the Python package, installed with
#: it): ``captioner/default``, ``captioner/tiny`` (the embedded captioners) and
#: ``fcdnn16_digits.safetensors`` (FCDNN-16 of section VI).
WEIGHTS_DIR = Path(__file__).resolve().parent / 'weights'


def share_dir() -> Path:
    """Return the package's share directory (ament index), or the source tree as a fallback."""
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - not installed or ament_index missing: use the source tree
        return _SOURCE_ROOT


def share_file(relative: str) -> Path:
    """
    Return the path of a shipped file, such as ``config/demo.yaml``.

    Raises ``ValueError`` naming the file when it exists neither installed nor in the source tree.
    """
    for base in (share_dir(), _SOURCE_ROOT):
        candidate = base / relative
        if candidate.is_file():
            return candidate
    raise ValueError(f'{PACKAGE} ships no file {relative!r}')
