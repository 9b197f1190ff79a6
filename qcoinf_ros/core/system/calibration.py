"""
Measured cost of the agent (per bit-width) and of the server, for planning on this machine.

The planner's delay and energy model needs the agent's cycles ``W_a(b)`` and the server's
``W_s`` (eqs. (4)-(5)). The paper computes them from FLOP counts and a nominal FLOPs-per-cycle;
a robot has a real processor, so the agent measures ``t(b)`` at configure time
(:func:`measure_latency_per_bit`: a short, bounded, interleaved sweep on a real input), fits
``t(b) = t_fixed + b t_plane`` (:func:`fit_affine`, the :class:`~qcoinf_ros.core.system.model.
AffineAgentCost` the planner uses), reads the clock it ran at (:func:`cpu_clock_hz`) and
caches the result per model, kernel, thread count and machine (:class:`CostCache`), so a
restart is instant. The decoder measures its caption time the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
import os
from pathlib import Path
import platform
import statistics
import time
from typing import Callable, Iterable

import numpy as np

from qcoinf_ros.core.validation import require_int_in_range, require_positive

__all__ = ['AffineFit', 'fit_affine', 'nondecreasing', 'measure_latency_per_bit',
           'measure_latency',
           'calibrate_agent', 'calibrate_server',
           'cpu_clock_hz', 'cpu_clock_range_hz', 'cpu_model', 'device_key', 'machine_key',
           'CostCache',
           'default_cache_dir']


@dataclass(frozen=True)
class AffineFit:
    """``t(b) = t_fixed + t_plane b`` (seconds) fitted to measurements, with its R^2."""

    t_fixed: float
    t_plane: float
    r2: float

    def __call__(self, bit_width):
        """Return the fitted latency at ``bit_width`` (scalar or array)."""
        return self.t_fixed + self.t_plane * np.asarray(bit_width, dtype=np.float64)


def fit_affine(bits, seconds, nonnegative: bool = False) -> AffineFit:
    """
    Least-squares ``t = t_fixed + t_plane b``; needs two distinct bit-widths, times > 0.

    ``nonnegative``: constrain both coefficients to be >= 0 (a planner's cost must not fall
    with ``b`` or start below zero; noise on a flat curve can make either slightly negative):
    a negative slope gives the flat fit (the mean), a negative intercept the fit through the
    origin. R^2 is that of the returned line.
    """
    b = np.asarray(bits, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if b.shape != t.shape or b.ndim != 1:
        raise ValueError(f'bits and seconds must be 1-D of one length, got {b.shape}, {t.shape}')
    if np.unique(b).size < 2:
        raise ValueError(f'fit_affine needs at least two distinct bit-widths, got {bits!r}')
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f'seconds must be finite and > 0, got {seconds!r}')
    slope, intercept = np.polyfit(b, t, 1)
    if nonnegative and slope < 0.0:
        slope, intercept = 0.0, float(t.mean())
    elif nonnegative and intercept < 0.0:
        slope, intercept = float(np.dot(b, t) / np.dot(b, b)), 0.0
    residual = float(np.sum((t - (intercept + slope * b)) ** 2))
    total = float(np.sum((t - t.mean()) ** 2))
    return AffineFit(float(intercept), float(slope), 1.0 - residual / total if total > 0 else 1.0)


def nondecreasing(values) -> list[float]:
    """
    Return the least-squares nondecreasing fit of ``values`` (pool adjacent violators).

    Each run of values that falls is replaced by its mean, until none falls. Used on an agent's
    per-bit-width times: the faster of two kernels whose costs do not fall with ``b`` does not
    fall with ``b`` either, so a dip in the medians is measurement noise (a flat int8 kernel
    measured 27, 25, 29 ms), and a planner or a scenario reading it as "more bits, less time"
    would be planning on noise.
    """
    pools: list[list[float]] = []  # [sum, count]
    for v in values:
        pools.append([float(v), 1.0])
        while len(pools) > 1 and pools[-2][0] / pools[-2][1] > pools[-1][0] / pools[-1][1]:
            total, count = pools.pop()
            pools[-1][0] += total
            pools[-1][1] += count
    return [total / count for total, count in pools for _ in range(int(count))]


def measure_latency(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup``."""
    repeats = require_int_in_range('repeats', repeats, 1)
    for _ in range(require_int_in_range('warmup', warmup, 0)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_latency_per_bit(set_bit_width: Callable[[int], object], run: Callable[[], object],
                            bit_widths: Iterable[int], repeats: int = 5, warmup: int = 1,
                            budget_s: float = 10.0, pause_s: float = 0.0) -> dict[int, float]:
    """
    Median latency (seconds) of ``run()`` at each bit-width, measured in interleaved rounds.

    Each round visits every bit-width once (so slow drifts of the machine spread over all of
    them rather than biasing the last); rounds stop after ``repeats`` or once ``budget_s`` is
    spent, whichever comes first (at least one timed call per bit-width). ``pause_s`` seconds
    pass before each timed call, untimed: frames from a camera arrive with gaps, and a call after
    a gap runs slower than back-to-back calls (colder caches; measured here on the default
    captioner: 3.3 ms back-to-back, 4.1 ms after 10 ms, 5.7 ms after 0.5 s). ``set_bit_width``
    is left at the last bit-width of the list.
    """
    bits = list(dict.fromkeys(require_int_in_range('bit_width', b, 1) for b in bit_widths))
    if not bits:
        raise ValueError('bit_widths must name at least one bit-width')
    repeats = require_int_in_range('repeats', repeats, 1)
    budget_s = require_positive('budget_s', budget_s)
    if not 0.0 <= pause_s <= 3600.0:
        raise ValueError(f'pause_s must be in [0, 3600] seconds, got {pause_s!r}')
    start = time.perf_counter()
    for b in bits:
        set_bit_width(b)
        for _ in range(require_int_in_range('warmup', warmup, 0)):
            run()
    samples: dict[int, list[float]] = {b: [] for b in bits}
    for _ in range(repeats):
        for b in bits:
            set_bit_width(b)
            if pause_s:
                time.sleep(pause_s)
            t = time.perf_counter()
            run()
            samples[b].append(time.perf_counter() - t)
        if time.perf_counter() - start > budget_s:
            break
    return {b: statistics.median(v) for b, v in samples.items()}


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding='utf-8') as stream:
            return stream.read(65536)
    except (OSError, UnicodeDecodeError):
        return None


def cpu_clock_hz(sysfs_cpu: str | os.PathLike = '/sys/devices/system/cpu',
                 cpuinfo: str | os.PathLike = '/proc/cpuinfo') -> float | None:
    """
    Return the CPU clock now (Hz).

    cpufreq's ``scaling_cur_freq`` of cpu0, else ``cpu MHz`` of ``/proc/cpuinfo``; ``None``
    where neither is readable (the planner then treats the measured cost as a time at an
    unknown, fixed clock).
    """
    text = _read(Path(sysfs_cpu) / 'cpu0' / 'cpufreq' / 'scaling_cur_freq')
    try:
        if text is not None and float(text) > 0:
            return float(text) * 1e3  # kHz
    except ValueError:
        pass
    text = _read(Path(cpuinfo)) or ''
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() == 'cpu MHz':
            try:
                mhz = float(value)
            except ValueError:
                return None
            return mhz * 1e6 if mhz > 0 else None
    return None


def cpu_clock_range_hz(sysfs_cpu: str | os.PathLike = '/sys/devices/system/cpu'
                       ) -> tuple[float, float] | None:
    """``(cpuinfo_min_freq, cpuinfo_max_freq)`` of cpu0 in Hz, ``None`` without cpufreq."""
    base = Path(sysfs_cpu) / 'cpu0' / 'cpufreq'
    try:
        low = float(_read(base / 'cpuinfo_min_freq') or 'x') * 1e3
        high = float(_read(base / 'cpuinfo_max_freq') or 'x') * 1e3
    except ValueError:
        return None
    return (low, high) if 0 < low <= high else None


def cpu_model(cpuinfo: str | os.PathLike = '/proc/cpuinfo') -> str:
    """Return the processor's model name (``/proc/cpuinfo``), else the platform's."""
    for line in (_read(Path(cpuinfo)) or '').splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('model name', 'Model', 'Hardware') and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or 'unknown'


def device_key(device: str) -> str:
    """``cpu``, or a CUDA device with its name (a cost measured on one GPU is not another's)."""
    if not str(device).startswith('cuda'):
        return 'cpu'
    import torch
    return f'{device} {torch.cuda.get_device_name(torch.device(device))}'


def machine_key() -> dict[str, str | int]:
    """Return what makes a measurement valid here only: CPU, core count, versions."""
    import torch

    from qcoinf_ros.core.lut.library import library_status, load_library
    lib = load_library()
    return {'cpu': cpu_model(), 'cores': os.cpu_count() or 0, 'machine': platform.machine(),
            'torch': torch.__version__,
            'kernels': (f'{lib.variant_name}:{lib.path.stat().st_size}:'
                        f'{int(lib.path.stat().st_mtime)}' if lib else library_status())}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/qcoinf_ros/cost`` (``~/.cache/qcoinf_ros/cost``)."""
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'qcoinf_ros' / 'cost'


class CostCache:
    """
    JSON files of measured costs, one per key (model, kernel, threads, machine, ...).

    A missing, unreadable or foreign file is a miss (never an error): the caller measures again
    and :meth:`store` overwrites it. Writes go through a temporary file and a rename.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory else default_cache_dir()

    def path(self, key: dict) -> Path:
        """Return the file of ``key`` (a digest of its canonical JSON)."""
        text = json.dumps(key, sort_keys=True, default=str)
        return self.directory / f'{hashlib.sha256(text.encode()).hexdigest()[:24]}.json'

    def load(self, key: dict) -> dict | None:
        """Return the stored value of ``key``, or ``None``."""
        text = _read(self.path(key))
        if text is None:
            return None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get('key') != json.loads(
                json.dumps(key, sort_keys=True, default=str)):
            return None
        value = data.get('value')
        return value if isinstance(value, dict) else None

    def store(self, key: dict, value: dict) -> Path | None:
        """Write ``value`` under ``key``; return the file, or ``None`` if it cannot be written."""
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f'.{os.getpid()}.tmp')
            tmp.write_text(json.dumps({'key': key, 'value': value}, sort_keys=True,
                                      default=str), encoding='utf-8')
            tmp.replace(path)
        except OSError:
            return None
        return path


def _from_cache(cache: CostCache | None, key: dict, refresh: bool):
    from qcoinf_ros.core.codec.cost import CostMessage
    if cache is None or refresh:
        return None
    value = cache.load(key)
    if value is None:
        return None
    try:
        return CostMessage(**{**value, 'cached': True})
    except (TypeError, ValueError):
        return None  # a stale or foreign entry: measure again


#: How an agent cost is made (part of its cache key: entries made another way are misses).
AGENT_METHOD = 'per-b faster kernel, nondecreasing medians'


def _route(runtime, cost) -> bool:
    """Route ``runtime`` as ``cost.kernels`` says and trim it; False if it cannot."""
    routes = tuple(cost.kernels) or (cost.kernel,) * runtime.b_max
    if len(routes) != runtime.b_max:
        return False
    try:
        runtime.set_routes(routes)
    except ValueError:  # a kernel it does not hold (or no longer: trimmed)
        return False
    runtime.trim()
    return True


def calibrate_agent(model_id: str, runtime, run: Callable[[], object], *, threads: int,
                    repeats: int = 5, budget_s: float = 10.0, pause_s: float = 0.0,
                    cache: CostCache | None = None, refresh: bool = False):
    """
    Return the agent's measured cost per bit-width (a cost message), the runtime routed.

    ``runtime``: an :class:`~qcoinf_ros.core.runtime.AgentRuntime`; ``run()``: one encode of
    a real input (preprocessing included). Uses the cache entry of this model, kernel, scheme,
    thread count and machine when there is one (``refresh`` forces a measurement); otherwise
    :func:`measure_latency_per_bit` over b = 1..b_max on every kernel the runtime can route
    (``runtime.choices``: the lookup tables and the int8 kernels for ``lut+qint8``), all
    interleaved in the same rounds, stored in the cache. Each ``b`` is routed to the faster
    kernel (``kernels``; ``seconds``: the chosen kernels' medians made nondecreasing in ``b``,
    :func:`nondecreasing`), the runtime trimmed to
    what the routes use (:meth:`~qcoinf_ros.core.runtime.AgentRuntime.trim`); ``t_fixed + b
    t_plane`` is the affine fit (coefficients >= 0) of the lookup kernels' times where they
    ran, else of ``seconds``. The runtime is left at the bit-width it had.
    """
    from qcoinf_ros.core.codec.cost import CostMessage
    device = getattr(runtime, 'device', 'cpu')
    key = {'part': 'agent', 'model_id': model_id, 'kernel': runtime.kernel, 'isa': runtime.isa,
           'scheme': runtime.config.scheme, 'granularity': runtime.config.granularity,
           'b_max': runtime.b_max, 'threads': threads, 'pause_s': pause_s,
           'machine': machine_key(), 'device': device_key(device),
           'method': AGENT_METHOD}
    hit = _from_cache(cache, key, refresh)
    if hit is not None and _route(runtime, hit):
        return hit
    bits = list(range(1, runtime.b_max + 1))
    choices = tuple(runtime.choices)
    configs = [(kernel, b) for kernel in choices for b in bits]

    def select(i: int) -> None:
        kernel, b = configs[i - 1]
        if len(choices) > 1:
            runtime.set_routes((kernel,) * runtime.b_max)
        runtime.set_bit_width(b)

    before = runtime.bit_width
    try:
        measured = measure_latency_per_bit(select, run, range(1, len(configs) + 1),
                                           repeats=repeats, budget_s=budget_s, pause_s=pause_s)
    finally:
        runtime.set_bit_width(before)
    table = {config: measured[i] for i, config in enumerate(configs, 1)}
    routes = tuple(min(choices, key=lambda k: table[k, b]) for b in bits)  # ties: the first
    times = nondecreasing([table[k, b] for k, b in zip(routes, bits)])
    described = [table['lut', b] for b in bits] if 'lut' in choices else times
    if len(bits) >= 2:
        fit = fit_affine(bits, described, nonnegative=True)
    else:
        fit = AffineFit(described[0], 0.0, 1.0)
    msg = CostMessage('agent', model_id, runtime.kernel, runtime.isa, threads, tuple(times),
                      fit.t_fixed, fit.t_plane, fit.r2, cpu_clock_hz(), cpu_model(), False,
                      runtime.config.scheme, runtime.b_max, 0, device, 'float32', routes)
    _route(runtime, msg)
    if cache is not None:
        from dataclasses import asdict
        cache.store(key, {**asdict(msg), 'seconds': list(msg.seconds),
                          'kernels': list(msg.kernels)})
    return msg


def calibrate_server(model_id: str, decode: Callable[[int], object], *, threads: int,
                     max_new_tokens: int, repeats: int = 3, budget_s: float = 10.0,
                     cache: CostCache | None = None, refresh: bool = False,
                     device: str = 'cpu', dtype: str = 'float32', batches: int = 1):
    """
    Return the server's measured caption time per batch size (``max_new_tokens``) as a cost.

    ``decode(n)``: one decode of ``n`` real-shaped embeddings together, returning when its
    result is on the host; ``device`` and ``dtype``: where it ran. Batch sizes 1..``batches``
    are timed (``repeats`` each, the median kept; the larger ones only while ``budget_s``
    lasts, so ``seconds`` may stop short of ``batches``). ``seconds[n - 1]`` is the time of a
    batch of ``n``; with more than one size ``t_fixed + n t_plane`` is its affine fit, else the
    cost is flat (``t_fixed = seconds[0]``). Cached like :func:`calibrate_agent`.
    """
    from qcoinf_ros.core.codec.cost import CostMessage
    batches = require_int_in_range('batches', batches, 1, 64)
    repeats = require_int_in_range('repeats', repeats, 1)
    key = {'part': 'server', 'model_id': model_id, 'threads': threads,
           'max_new_tokens': max_new_tokens, 'machine': machine_key(),
           'device': device_key(device), 'dtype': dtype, 'batches': batches}
    hit = _from_cache(cache, key, refresh)
    if hit is not None:
        return hit
    start = time.perf_counter()
    decode(1)  # warm-up
    seconds: list[float] = []
    for size in range(1, batches + 1):
        if size > 1 and time.perf_counter() - start > budget_s:
            break
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            decode(size)
            times.append(time.perf_counter() - t)
            if time.perf_counter() - start > budget_s:
                break
        seconds.append(statistics.median(times))
    if len(seconds) > 1:
        fit = fit_affine(list(range(1, len(seconds) + 1)), seconds, nonnegative=True)
    else:
        fit = AffineFit(seconds[0], 0.0, 1.0)
    msg = CostMessage('server', model_id, 'torch', 'torch', threads, tuple(seconds), fit.t_fixed,
                      fit.t_plane, fit.r2, cpu_clock_hz(), cpu_model(), False, '', 0,
                      max_new_tokens, device, dtype)
    if cache is not None:
        from dataclasses import asdict
        cache.store(key, {**asdict(msg), 'seconds': list(msg.seconds)})
    return msg
