"""
Delay and energy of one co-inference, paper section II-D, eqs. (4)-(9).

Everything the planner needs reduces to processor *cycles*: the agent runs ``W_a(b)`` cycles
for one inference at bit-width ``b`` and the server ``W_s`` cycles, so that

    delay  = W_a(b) / f + W_s / f~ (+ t_comm)                       eqs. (4), (5), (8)
    energy = eta psi W_a(b) f^2 + eta~ psi~ W_s f~^2 (+ e_comm)      eqs. (6), (7), (9)

with ``W_s = N~_FLOP / c~``. The paper's workload model, eq. (4), is
``W_a(b) = (b / b_orig) N_FLOP / c``: it assumes the agent's work scales linearly with the
bit-width through the origin (:class:`NominalAgentCost`). Measured on real kernels it does
not: the bit-plane kernels cost ``t(b) = t_fixed + b t_plane`` (the plane passes scale with b;
tables, attention, norms and the rest do not), which :class:`AffineAgentCost` models — the
documented deviation from eq. (4), which is its special case ``t_fixed = 0``,
``t_plane = N_FLOP / (b_orig c f)``. :class:`CalibratedAgentCost` interpolates arbitrary
measured latencies. All are :class:`AgentCostModel` s and every solver works with any of them.

Clock ranges: ``0 < f <= f_max`` in the paper. ``f_min`` (and ``f_min_server``) add a floor;
``f_min = f_max`` fixes a clock the platform cannot change, so that a plan never counts on a
clock the machine will not run at.

Communication is an addition the paper omits ("LAIM inference is typically
computation-dominated", section II-D): with ``payload_bytes`` and ``link_rate_bps`` set, the
embedding upload adds ``t_comm = 8 payload_bytes / link_rate_bps`` to the delay, and with
``tx_power_w`` set the agent's radio adds ``e_comm = tx_power_w t_comm`` to the energy. The
embedding is an activation, not a weight, so its size does not depend on ``b``; both terms are
constants that simply shrink the budgets ``T0`` and ``E0``. Left at their defaults they are 0,
as in the paper.
"""

from __future__ import annotations

import abc
import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
import functools
import math

from qcoinf_ros.core.validation import (
    require_finite,
    require_int_in_range,
    require_nonnegative,
    require_positive,
)

__all__ = [
    'AffineAgentCost',
    'AgentCostModel',
    'CalibratedAgentCost',
    'NominalAgentCost',
    'SystemParams',
    'agent_delay',
    'agent_energy',
    'comm_delay',
    'comm_energy',
    'server_delay',
    'server_energy',
    'total_delay',
    'total_energy',
]

#: Largest bit-width any table is built for (a sanity bound on ``b_max`` and ``b_orig``).
MAX_BITS = 64


@dataclass(frozen=True)
class SystemParams:
    """
    Parameters of the agent, the server and (optionally) the link, paper section II-D.

    Attributes are named after the paper's symbols: ``n_flop`` = N_FLOP (agent FLOPs of one
    full-precision inference), ``n_flop_server`` = N~_FLOP, ``b_orig`` = b (bit-width of the
    original weights), ``c``/``c_server`` = c/c~ (FLOPs per cycle), ``eta``/``eta_server`` =
    eta/eta~ (PUE), ``psi``/``psi_server`` = psi/psi~ (W/(cycle/s)^3), ``f_max``/
    ``f_max_server`` = f^max/f~^max (Hz), ``b_max`` = B_max. ``f_min``/``f_min_server``
    (default 0, the paper's range) are clock floors; equal to the maximum they fix the clock.
    ``payload_bytes``, ``link_rate_bps`` and ``tx_power_w`` describe the embedding upload,
    which the paper omits (0 or ``None`` leaves it out).
    """

    n_flop: float
    n_flop_server: float
    b_orig: int = 32
    c: float = 32.0
    c_server: float = 128.0
    eta: float = 1.0
    eta_server: float = 2.0
    psi: float = 2e-29
    psi_server: float = 1e-28
    f_max: float = 2e9
    f_max_server: float = 10e9
    b_max: int = 16
    payload_bytes: float = 0.0
    link_rate_bps: float | None = None
    tx_power_w: float = 0.0
    f_min: float = 0.0
    f_min_server: float = 0.0
    # Derived once here, so that the solvers' hot path reads plain floats.
    server_cycles: float = field(init=False, repr=False, compare=False)
    k_agent: float = field(init=False, repr=False, compare=False)  # eta psi
    k_server: float = field(init=False, repr=False, compare=False)  # eta~ psi~
    comm_delay: float = field(init=False, repr=False, compare=False)
    comm_energy: float = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        setf = functools.partial(object.__setattr__, self)
        for name in ('n_flop', 'n_flop_server', 'c', 'c_server', 'eta', 'eta_server', 'psi',
                     'psi_server', 'f_max', 'f_max_server'):
            setf(name, require_positive(name, getattr(self, name)))
        for name, top in (('f_min', 'f_max'), ('f_min_server', 'f_max_server')):
            low = require_nonnegative(name, getattr(self, name))
            if low > getattr(self, top) * (1.0 + 1e-12):
                raise ValueError(f'{name} must be <= {top} ({getattr(self, top)!r}), got '
                                 f'{getattr(self, name)!r}')
            setf(name, min(low, getattr(self, top)))
        setf('b_orig', require_int_in_range('b_orig', self.b_orig, 1, MAX_BITS))
        setf('b_max', require_int_in_range('b_max', self.b_max, 1, MAX_BITS))
        if self.b_max > self.b_orig:
            raise ValueError(
                f'b_max must be <= b_orig ({self.b_orig}), got {self.b_max!r}')
        setf('payload_bytes', require_nonnegative('payload_bytes', self.payload_bytes))
        rate = self.link_rate_bps
        if rate is not None:
            rate = require_nonnegative('link_rate_bps', rate)
            setf('link_rate_bps', rate)
        setf('tx_power_w', require_nonnegative('tx_power_w', self.tx_power_w))
        setf('server_cycles', self.n_flop_server / self.c_server)
        setf('k_agent', self.eta * self.psi)
        setf('k_server', self.eta_server * self.psi_server)
        t_comm = 8.0 * self.payload_bytes / rate if rate else 0.0
        if not math.isfinite(t_comm) or not math.isfinite(self.tx_power_w * t_comm):
            # e.g. 1e10 bytes over 1e-300 bit/s: every delay would be inf, every plan NaN
            raise ValueError(f'the upload of payload_bytes {self.payload_bytes!r} at '
                             f'link_rate_bps {rate!r} takes {t_comm!r} s: not a finite time')
        setf('comm_delay', t_comm)
        setf('comm_energy', self.tx_power_w * t_comm)


class AgentCostModel(abc.ABC):
    """
    How many processor cycles the agent spends on one inference at a bit-width.

    The solvers need nothing else from the agent: delay ``W_a(b)/f`` and energy
    ``eta psi W_a(b) f^2`` follow from eqs. (4) and (6) with ``W_a(b)`` in place of
    ``b N_FLOP / (b_orig c)``.
    """

    @abc.abstractmethod
    def cycles(self, bit_width: float) -> float:
        """Agent cycles W_a(b) of one inference at bit-width ``bit_width`` (>= 1)."""

    def cycles_table(self, b_max: int) -> tuple[float, ...]:
        """``(W_a(1), ..., W_a(b_max))``, cached per model and ``b_max``."""
        return _cycles_table(self, require_int_in_range('b_max', b_max, 1, MAX_BITS))


@functools.lru_cache(maxsize=256)
def _cycles_table(cost: AgentCostModel, b_max: int) -> tuple[float, ...]:
    return tuple(float(cost.cycles(b)) for b in range(1, b_max + 1))


@dataclass(frozen=True)
class NominalAgentCost(AgentCostModel):
    """The paper's workload model, eq. (4): W_a(b) = (b / b_orig) N_FLOP / c cycles."""

    n_flop: float
    b_orig: int = 32
    c: float = 32.0

    def __post_init__(self):
        object.__setattr__(self, 'n_flop', require_positive('n_flop', self.n_flop))
        object.__setattr__(self, 'b_orig', require_int_in_range('b_orig', self.b_orig, 1))
        object.__setattr__(self, 'c', require_positive('c', self.c))

    @classmethod
    def from_params(cls, params: SystemParams) -> NominalAgentCost:
        """Build the nominal cost of the agent described by ``params``."""
        return cls(params.n_flop, params.b_orig, params.c)

    def cycles(self, bit_width: float) -> float:
        """W_a(b) = b N_FLOP / (b_orig c), the workload of eq. (4) in cycles."""
        b = _bit_width(bit_width)
        return b * self.n_flop / (self.b_orig * self.c)


@dataclass(frozen=True)
class AffineAgentCost(AgentCostModel):
    """
    Measured affine workload: W_a(b) = (t_fixed + b t_plane) f_ref cycles.

    ``t_fixed`` and ``t_plane`` (seconds) are the intercept and the per-bit slope of the agent
    latency measured at the clock ``f_ref`` (Hz)
    (:func:`qcoinf_ros.core.system.calibration.fit_affine`). This replaces eq. (4)'s
    ``t(b) = b N_FLOP / (b_orig f c)`` (intercept 0) with what the machine does; the 1/f
    scaling of eq. (4) is kept (compute-bound work), so at a clock ``f`` the delay is
    ``(t_fixed + b t_plane) f_ref / f`` and the energy follows eq. (6) with these cycles.
    """

    t_fixed: float
    t_plane: float
    f_ref: float

    def __post_init__(self):
        object.__setattr__(self, 't_fixed', require_nonnegative('t_fixed', self.t_fixed))
        object.__setattr__(self, 't_plane', require_nonnegative('t_plane', self.t_plane))
        object.__setattr__(self, 'f_ref', require_positive('f_ref', self.f_ref))
        if self.t_fixed + self.t_plane <= 0.0:
            raise ValueError(f'the agent latency at b = 1 must be > 0, got t_fixed '
                             f'{self.t_fixed!r} + t_plane {self.t_plane!r}')

    def latency_at_ref(self, bit_width: float) -> float:
        """Agent latency t_fixed + b t_plane at ``f_ref`` (seconds)."""
        return self.t_fixed + _bit_width(bit_width) * self.t_plane

    def cycles(self, bit_width: float) -> float:
        """W_a(b) = (t_fixed + b t_plane) f_ref cycles."""
        return self.latency_at_ref(bit_width) * self.f_ref


@dataclass(frozen=True)
class CalibratedAgentCost(AgentCostModel):
    """
    Agent cycles from measured latencies: W_a(b) = t_ref(b) f_ref.

    ``latency_s`` maps a bit-width to the measured agent latency (seconds) of one inference
    at the reference clock ``f_ref`` (Hz). A latency measured at ``f_ref`` means
    ``t_ref f_ref`` cycles; at another clock ``f`` the delay is ``t_ref f_ref / f`` (the 1/f
    scaling of eq. (4)) and the energy ``eta psi (t_ref f_ref) f^2`` (eq. (6) with these
    cycles), so measured and modelled costs share one parameterisation. Between measured
    bit-widths the latency is interpolated linearly in ``b``; outside the measured range the
    nearest measurement is used (no extrapolation: measure the range you plan over).
    Assumes the agent's work is compute-bound, i.e. scales with 1/f; memory-bound phases do
    not, which makes this model optimistic at low clocks.
    """

    # given as {b: seconds} (or pairs); held as ((b, seconds), ...) sorted by b
    latency_s: Mapping[int, float] | tuple[tuple[int, float], ...]
    f_ref: float

    def __post_init__(self):
        items = (self.latency_s.items() if isinstance(self.latency_s, Mapping)
                 else self.latency_s)
        if not items:
            raise ValueError('latency_s must hold at least one measurement, got none')
        table: list[tuple[int, float]] = []
        for b, seconds in items:
            b = require_int_in_range('latency_s bit-width', b, 1, MAX_BITS)
            table.append((b, require_positive(f'latency_s[{b}]', seconds)))
        table.sort()
        if len({b for b, _ in table}) != len(table):
            raise ValueError(f'latency_s has a repeated bit-width: {self.latency_s!r}')
        object.__setattr__(self, 'latency_s', tuple(table))
        object.__setattr__(self, 'f_ref', require_positive('f_ref', self.f_ref))

    def latency_at_ref(self, bit_width: float) -> float:
        """Measured (or interpolated) agent latency at ``f_ref`` for ``bit_width``."""
        b = _bit_width(bit_width)
        table = self.latency_s
        assert isinstance(table, tuple)  # __post_init__ made it the sorted pairs
        bits = [m for m, _ in table]
        i = bisect.bisect_left(bits, b)
        if i == 0:
            return table[0][1]
        if i == len(bits):
            return table[-1][1]
        (b0, t0), (b1, t1) = table[i - 1], table[i]
        return t0 + (t1 - t0) * (b - b0) / (b1 - b0)

    def cycles(self, bit_width: float) -> float:
        """W_a(b) = t_ref(b) f_ref cycles."""
        return self.latency_at_ref(bit_width) * self.f_ref


def _bit_width(bit_width) -> float:
    b = require_finite('bit_width', bit_width)
    if b < 1.0:
        raise ValueError(f'bit_width must be >= 1, got {bit_width!r}')
    return b


def _cost(params: SystemParams, agent_cost: AgentCostModel | None) -> AgentCostModel:
    return NominalAgentCost.from_params(params) if agent_cost is None else agent_cost


def _agent_cycles(params, bit_width, agent_cost) -> float:
    b = _bit_width(bit_width)
    if b > params.b_orig:
        raise ValueError(f'bit_width must be <= b_orig ({params.b_orig}), got {bit_width!r}')
    return _cost(params, agent_cost).cycles(b)


def _frequency(name: str, value, f_max: float, f_min: float = 0.0) -> float:
    f = require_nonnegative(name, value)
    if f > f_max * (1.0 + 1e-12):
        raise ValueError(f'{name} must be <= {f_max!r} Hz, got {value!r}')
    if f < f_min * (1.0 - 1e-12):
        raise ValueError(f'{name} must be >= {f_min!r} Hz (the clock floor), got {value!r}')
    return f


def agent_delay(params: SystemParams, bit_width: float, f: float,
                agent_cost: AgentCostModel | None = None) -> float:
    """
    t(b, f) = b N_FLOP / (b_orig f c), eq. (4); W_a(b)/f for a calibrated cost.

    ``f = 0`` gives an infinite delay (the paper's range is 0 <= f <= f^max).
    """
    cycles = _agent_cycles(params, bit_width, agent_cost)
    f = _frequency('f', f, params.f_max, params.f_min)
    return cycles / f if f > 0.0 else math.inf


def server_delay(params: SystemParams, f_server: float) -> float:
    """t~(f~) = N~_FLOP / (f~ c~), eq. (5)."""
    g = _frequency('f_server', f_server, params.f_max_server,
                   params.f_min_server)
    return params.server_cycles / g if g > 0.0 else math.inf


def agent_energy(params: SystemParams, bit_width: float, f: float,
                 agent_cost: AgentCostModel | None = None) -> float:
    """e(b, f) = eta (b N_FLOP / (b_orig c)) psi f^2, eq. (6); eta psi W_a(b) f^2 in general."""
    cycles = _agent_cycles(params, bit_width, agent_cost)
    f = _frequency('f', f, params.f_max, params.f_min)
    return params.k_agent * cycles * f * f


def server_energy(params: SystemParams, f_server: float) -> float:
    """e~(f~) = eta~ (N~_FLOP / c~) psi~ f~^2, eq. (7)."""
    g = _frequency('f_server', f_server, params.f_max_server,
                   params.f_min_server)
    return params.k_server * params.server_cycles * g * g


def comm_delay(params: SystemParams) -> float:
    """Embedding upload time 8 payload_bytes / link_rate_bps (not in the paper; 0 if omitted)."""
    return params.comm_delay


def comm_energy(params: SystemParams) -> float:
    """Agent radio energy tx_power_w x upload time (not in the paper; 0 if omitted)."""
    return params.comm_energy


def total_delay(params: SystemParams, bit_width: float, f: float, f_server: float,
                agent_cost: AgentCostModel | None = None) -> float:
    """T(b, f, f~) = t(b, f) + t~(f~), eq. (8), plus the upload time when configured."""
    return (agent_delay(params, bit_width, f, agent_cost) + server_delay(params, f_server)
            + params.comm_delay)


def total_energy(params: SystemParams, bit_width: float, f: float, f_server: float,
                 agent_cost: AgentCostModel | None = None) -> float:
    """E(b, f, f~) = e(b, f) + e~(f~), eq. (9), plus the upload energy when configured."""
    return (agent_energy(params, bit_width, f, agent_cost) + server_energy(params, f_server)
            + params.comm_energy)
