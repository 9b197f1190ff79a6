"""
Wire format of measured costs: ``qcoinf/agent_cost`` and ``qcoinf/server_cost`` (std_msgs/String).

The agent encoder measures its latency per bit-width at configure time, the edge decoder its
caption time; each publishes the result latched, as compact JSON (``ros2 topic echo`` reads it)::

    {"part": "agent", "model_id": "qcoinf/git-scenes-96", "kernel": "lut", "isa": "avx2",
     "threads": 1, "scheme": "uniform", "b_max": 8, "seconds": [0.0031, ..., 0.0040],
     "t_fixed": 0.0030, "t_plane": 0.00012, "r2": 0.97, "f_ref_hz": 2.45e9,
     "cpu": "AMD EPYC", "cached": false, "max_new_tokens": 0, "device": "cpu",
     "dtype": "float32", "kernels": ["lut", "lut", "lut", "qint8", ..., "qint8"]}

``seconds``: the agent's median latency at b = 1..b_max (the server's: the time of a batch of
1..``max_batch`` captions of ``max_new_tokens`` tokens, one value with ``max_batch`` 1);
``kernels``: the kernel each bit-width runs on (the agent's per-``b`` choice, e.g. the lookup
tables up to ``b = 3`` and the int8 kernels above: ``seconds`` is then the table of the chosen
kernels, which the planner plans with; empty in older messages and for the server);
``t_fixed + b t_plane`` is the affine fit with R^2 of the lookup kernels' times where they ran,
else of ``seconds`` (:func:`qcoinf_ros.core.system.calibration.fit_affine`; the server's in the
batch size, flat with one value): a description, not the table; the planner plans a caption
with ``seconds[0]``, one embedding decoded alone; ``f_ref_hz`` the clock
it was measured at (``null`` where unreadable); ``cached``: read from the cost cache, not
measured in this process; ``device`` (``cpu`` or ``cuda:N``) and ``dtype``: where and in what
precision the part ran (older messages without them: ``cpu``, ``float32``). The planner
builds its :class:`~qcoinf_ros.core.system.model.AffineAgentCost` and the server's cycles from
these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
import json

from qcoinf_ros.core.codec.json_text import decode_record
from qcoinf_ros.core.validation import (
    physical_quantity_reason, require_finite, require_int_in_range)

__all__ = ['CostMessage', 'encode_cost', 'decode_cost', 'PARTS', 'MAX_COST_BYTES']

PARTS = ('agent', 'server')
#: Longest accepted message (a 64-bit-width cost is ~2 KB).
MAX_COST_BYTES = 16384
_TEXT_LIMIT = 256
#: Longest latency a cost may hold [s] (a day): beyond, cycles x clock overflow the model.
MAX_SECONDS = 86400.0
#: Highest reference clock [Hz].
MAX_CLOCK_HZ = 1e12


def _number(key: str, value, positive: bool = False, high: float = MAX_SECONDS) -> float:
    reason = physical_quantity_reason(value, positive=positive, high=high)
    if reason is not None:
        raise ValueError(f'{key} {reason}')
    return float(value)


def _text(key: str, value, allow_empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > _TEXT_LIMIT or (not allow_empty and not value):
        raise ValueError(f'{key} must be a string of at most {_TEXT_LIMIT} characters, got '
                         f'{value!r:.80}')
    return value


@dataclass(frozen=True)
class CostMessage:
    """The content of one ``qcoinf/agent_cost`` or ``qcoinf/server_cost`` message."""

    part: str
    model_id: str
    kernel: str
    isa: str
    threads: int
    seconds: tuple[float, ...]
    t_fixed: float
    t_plane: float
    r2: float
    f_ref_hz: float | None
    cpu: str
    cached: bool
    scheme: str = ''
    b_max: int = 0
    max_new_tokens: int = 0
    device: str = 'cpu'
    dtype: str = 'float32'
    kernels: tuple[str, ...] = ()

    def __post_init__(self):
        if self.part not in PARTS:
            raise ValueError(f'part must be one of {PARTS}, got {self.part!r}')
        _text('model_id', self.model_id, allow_empty=False)
        for key in ('kernel', 'isa', 'cpu', 'scheme', 'device', 'dtype'):
            _text(key, getattr(self, key))
        require_int_in_range('threads', self.threads, 1, 4096)
        seconds = self.seconds
        if not isinstance(seconds, (list, tuple)) or not 1 <= len(seconds) <= 64:
            raise ValueError(f'seconds must be a list of 1 to 64 latencies, got {seconds!r:.80}')
        object.__setattr__(self, 'seconds', tuple(_number('seconds', s, positive=True)
                                                  for s in seconds))
        for key in ('t_fixed', 't_plane'):
            object.__setattr__(self, key, _number(key, getattr(self, key)))
        if self.t_fixed + self.t_plane <= 0:
            raise ValueError(f't_fixed + t_plane must be > 0, got {self.t_fixed!r} + '
                             f'{self.t_plane!r}')
        r2 = require_finite('r2', self.r2)
        if r2 > 1.0 + 1e-9:
            raise ValueError(f'r2 must be a finite number <= 1, got {self.r2!r}')
        object.__setattr__(self, 'r2', r2)
        if self.f_ref_hz is not None:
            clock = _number('f_ref_hz', self.f_ref_hz, True, MAX_CLOCK_HZ)
            object.__setattr__(self, 'f_ref_hz', clock)
        if not isinstance(self.cached, bool):
            raise ValueError(f'cached must be a boolean, got {self.cached!r}')
        require_int_in_range('b_max', self.b_max, 0, 64)
        require_int_in_range('max_new_tokens', self.max_new_tokens, 0, 100000)
        if self.part == 'agent' and self.b_max != len(self.seconds):
            raise ValueError(f'an agent cost holds one latency per bit-width 1..b_max = '
                             f'{self.b_max}, got {len(self.seconds)}')
        kernels = self.kernels
        if not isinstance(kernels, (list, tuple)) or (kernels and len(kernels) != len(seconds)):
            raise ValueError(f'kernels must name one kernel per latency ({len(seconds)}) or '
                             f'none, got {kernels!r:.80}')
        object.__setattr__(self, 'kernels', tuple(_text('kernels', k, allow_empty=False)
                                                  for k in kernels))

    def latency(self, bit_width: int = 1) -> float:
        """
        Return the latency [s] at ``bit_width`` and the reference clock.

        An agent's: the measured table ``seconds[b - 1]`` (what the planner plans with, right
        where the kernel changes with ``b``); otherwise the fit ``t_fixed + b t_plane``.
        """
        if self.part == 'agent' and isinstance(bit_width, int) \
                and 1 <= bit_width <= len(self.seconds):
            return self.seconds[bit_width - 1]
        return self.t_fixed + bit_width * self.t_plane

    def kernel_at(self, bit_width: int) -> str:
        """Return the kernel ``bit_width`` runs on (``kernel`` where no per-b table was sent)."""
        if self.kernels and 1 <= bit_width <= len(self.kernels):
            return self.kernels[bit_width - 1]
        return self.kernel

    def kernel_summary(self) -> str:
        """Return ``lut b 1-3, qint8 b 4-8`` (runs of equal kernels), else the kernel's name."""
        if not self.kernels or len(set(self.kernels)) == 1:
            return self.kernels[0] if self.kernels else self.kernel
        runs: list[list] = []
        for b, k in enumerate(self.kernels, 1):
            if runs and runs[-1][0] == k and runs[-1][2] == b - 1:
                runs[-1][2] = b
            else:
                runs.append([k, b, b])
        return ', '.join(f'{k} b {lo}' if lo == hi else f'{k} b {lo}-{hi}' for k, lo, hi in runs)

    def scaled(self, k: float) -> 'CostMessage':
        """Return this cost with every time scaled by ``k`` (not cached: measured running)."""
        return replace(self, seconds=tuple(k * t for t in self.seconds),
                       t_fixed=k * self.t_fixed, t_plane=k * self.t_plane, cached=False)


def encode_cost(msg: CostMessage) -> str:
    """Serialize to the JSON text carried in ``std_msgs/String.data``."""
    data = asdict(msg)
    data['seconds'] = list(msg.seconds)
    data['kernels'] = list(msg.kernels)
    return json.dumps(data, sort_keys=True)


def decode_cost(text: str) -> CostMessage:
    """
    Inverse of :func:`encode_cost`; ``ValueError`` with the reason for bad content.

    The text is bounded (:data:`MAX_COST_BYTES`) before it is parsed; ``ValueError`` is the
    only exception raised, whatever ``text`` holds.
    """
    return decode_record(text, CostMessage, what='cost message', max_bytes=MAX_COST_BYTES,
                         optional=frozenset({'kernels'}))
