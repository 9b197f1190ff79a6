"""
Leave the robot as it was found: what a frequency backend changed is recorded and written back.

:class:`RestoreRecord` snapshots the clocks (governor, min/max and set frequency, nvpmodel mode)
before the first write and keeps the snapshot in a small JSON file until it has been written
back. A process killed with SIGKILL (or a power loss) leaves the file behind; the next start
finds it and restores from it first, then snapshots afresh. The file is written atomically
(temporary file, then rename), so a kill while it is written leaves the old record or the new
one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import tempfile


def default_record_path(backend: str, target: str = '') -> Path:
    """``$ROS_HOME/qcoinf/actuator_<backend>_<hash of target>.json`` (``ROS_HOME``: ~/.ros)."""
    home = Path(os.environ.get('ROS_HOME') or Path.home() / '.ros')
    tag = hashlib.sha1(target.encode()).hexdigest()[:10]
    return home / 'qcoinf' / f'actuator_{backend}_{tag}.json'


class RestoreRecord:
    """
    The state a backend found, kept on disk until it is written back.

    ``backend``: a frequency backend (``snapshot()``, ``restore(state)``, ``name``); ``path``:
    the record file, or None for no file (a backend that changes nothing).
    """

    def __init__(self, backend, path: str | Path | None):
        self.backend = backend
        self.path = None if path is None else Path(path)
        self.state: dict | None = None
        self.changed = False  # whether apply() may have changed something since the snapshot

    def begin(self) -> str | None:
        """
        Restore what a previous, killed run left (if its record is here), then snapshot.

        Returns what was restored from a previous run, or None. Raises ``RuntimeError`` when
        the record cannot be read or written (nothing is applied without a record), or
        ``ValueError`` naming the file when it is not a record of this backend.
        """
        leftover = None
        if self.path is not None and self.path.exists():
            previous = self._load()
            leftover = (f'a previous run (pid {previous.get("pid", "?")}) did not restore: '
                        f'{self.backend.restore(previous["state"])}')
        self.state = self.backend.snapshot()
        self.changed = False
        if self.state is not None and self.path is not None:
            self._save()
        elif self.path is not None and self.path.exists():
            self.path.unlink()
        return leftover

    def _load(self) -> dict:
        try:
            text = self.path.read_text()
        except OSError as exc:
            raise RuntimeError(f'cannot read the restore record {self.path}: {exc.strerror}'
                               ) from None
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not (isinstance(record, dict) and record.get('backend') == self.backend.name
                and isinstance(record.get('state'), dict)):
            raise ValueError(f'restore record {self.path} is not a record of the '
                             f'{self.backend.name} backend: remove it after checking the '
                             'clocks by hand')
        return record

    def _save(self) -> None:
        record = {'backend': self.backend.name, 'pid': os.getpid(), 'state': self.state}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix='.restore-')
            with os.fdopen(fd, 'w') as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise RuntimeError(f'cannot write the restore record {self.path}: '
                               f'{exc.strerror}') from None

    def mark_changed(self) -> None:
        """Note that the backend is about to write (so :meth:`restore` has work to do)."""
        self.changed = True

    def restore(self, keep: bool = False) -> str | None:
        """
        Write the snapshot back if anything was applied since; return what was restored.

        ``keep``: keep the record file (the node stays configured and may apply again, e.g.
        on deactivate); otherwise it is removed once the state is back.
        """
        said = None
        if self.state is not None and self.changed:
            said = self.backend.restore(self.state)
            self.changed = False
        if not keep and self.path is not None and self.path.exists():
            self.path.unlink()
        if not keep:
            self.state = None
        return said
