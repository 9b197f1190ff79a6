"""
The package's own message types (``msg/*.msg``) for the bag tools' typestore.

rosbags knows the standard types of each distribution; the package's (``qcoinf_ros/msg/Caption``
and the others) are added from their definitions: those installed with the package
(``share/qcoinf_ros/msg`` of a prefix on ``AMENT_PREFIX_PATH``: what the nodes were built
from), else the source tree's ``msg/``. :func:`hash_problems` compares the typestore's RIHS01
type hashes with those rosidl wrote beside the installed definitions (``<Name>.json``): the
hash a bag records (MCAP ``topic_type_hash``, ``metadata.yaml``) is the one rosbag2 and the
nodes use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rosbags.typesys import get_types_from_msg

__all__ = ['hash_problems', 'msg_folder', 'PACKAGE', 'package_types', 'TYPES']

PACKAGE = 'qcoinf_ros'
TYPES = ('AgentCost', 'AppliedProfile', 'Caption', 'Embedding', 'FrequencyProfile', 'ModelInfo')
_SOURCE = Path(__file__).resolve().parents[3] / 'msg'


def _installed() -> Path | None:
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        folder = Path(prefix) / 'share' / PACKAGE / 'msg' if prefix else None
        if folder is not None and all((folder / f'{n}.msg').is_file() for n in TYPES):
            return folder
    return None


def msg_folder() -> Path | None:
    """Return the folder the definitions are read from: installed, else the source tree's."""
    installed = _installed()
    if installed is not None:
        return installed
    return _SOURCE if all((_SOURCE / f'{n}.msg').is_file() for n in TYPES) else None


def package_types() -> dict:
    """Return the rosbags type definitions of the package's messages (empty if none is found)."""
    folder = msg_folder()
    types: dict = {}
    if folder is None:
        return types
    for name in TYPES:
        types.update(get_types_from_msg((folder / f'{name}.msg').read_text(),
                                        f'{PACKAGE}/msg/{name}'))
    return types


def hash_problems(store) -> list[str]:
    """
    Return where the typestore's hashes differ from the installed ``<Name>.json`` ones.

    Empty when every type's RIHS01 hash equals rosidl's; one line saying why where they cannot
    be checked (the package not installed).
    """
    folder = _installed()
    if folder is None:
        return [f'{PACKAGE} is not installed (no share/{PACKAGE}/msg on AMENT_PREFIX_PATH): '
                'type hashes not checked']
    problems = []
    for name in TYPES:
        full = f'{PACKAGE}/msg/{name}'
        path = folder / f'{name}.json'
        try:
            hashes = {h['type_name']: h['hash_string']
                      for h in json.loads(path.read_text())['type_hashes']}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f'{path}: unreadable ({exc})')
            continue
        ours = store.hash_rihs01(full) if full in store.fielddefs else None
        if hashes.get(full) != ours:
            problems.append(f'{full}: typestore hash {ours} != installed {hashes.get(full)}')
    return problems
