"""
A stand-in for jetson-stats' ``jtop`` on a machine that is not a Jetson (tests only).

It mimics what the package uses of the real API (``jtop().start()``, ``.nvpmodel`` read as an
object with ``.id`` and written as an int, ``.power``, ``.close()``) and keeps the board's state
in the JSON file named by ``QCOINF_MIMIC_JTOP_STATE`` (``{"nvpmodel": 0}`` when absent), so a
test can see what a node process left behind, also after SIGKILL.
"""

import json
import os
from pathlib import Path


class JtopException(Exception):
    """As jtop raises when its service is not running."""


class _Mode:
    def __init__(self, mode_id: int):
        self.id = mode_id
        self.name = f'MODE_{mode_id}'


def _path() -> Path:
    return Path(os.environ['QCOINF_MIMIC_JTOP_STATE'])


def read_state() -> dict:
    path = _path()
    return json.loads(path.read_text()) if path.exists() else {'nvpmodel': 0}


class jtop:  # noqa: N801 - the real class's name
    def __init__(self):
        self.power = {'tot': {'power': 5000.0}}

    def start(self):
        if 'QCOINF_MIMIC_JTOP_STATE' not in os.environ:
            raise JtopException('jtop.service is not active')

    @property
    def nvpmodel(self):
        return _Mode(int(read_state()['nvpmodel']))

    @nvpmodel.setter
    def nvpmodel(self, value):
        state = read_state()
        state['nvpmodel'] = int(value)
        _path().write_text(json.dumps(state))

    def close(self):
        pass
