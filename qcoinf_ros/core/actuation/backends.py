"""
Frequency backends: how a planned (f, f~) operating point reaches the hardware.

* :class:`CpufreqSysfsBackend` — Linux cpufreq (``/sys/devices/system/cpu/cpu*/cpufreq``): the
  requested clock is snapped to a frequency the CPU offers and written as ``scaling_setspeed``
  (userspace governor) or, failing that, as ``scaling_max_freq``; the value read back is
  reported. Nothing outside ``[cpuinfo_min_freq, cpuinfo_max_freq]`` is ever written: a request
  outside is clamped, and the result says so (``clamped``). Needs root on a real machine;
  tested against a directory tree that mimics sysfs.
* :class:`JtopBackend` — NVIDIA Jetson through jetson-stats: a profile maps to an nvpmodel mode
  (jtop has no setter for an arbitrary clock); energy from the INA3221 power rails.
* :class:`NvmlBackend` — a server GPU through NVML: ``nvmlDeviceSetGpuLockedClocks`` (root),
  clamped to the GPU's own graphics clock range, and the board's energy counter.
* :class:`DryRunBackend` — changes nothing, reports what it would set.

Every backend labels energy as ``measured`` or ``predicted``; a backend that cannot measure
returns ``None`` and the caller falls back to the system model's prediction. A backend whose
service or device is absent raises ``RuntimeError`` with a message saying what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Protocol

from qcoinf_ros.core.planner.profiles import FrequencyProfile


@dataclass(frozen=True)
class AppliedProfile:
    """What a backend actually set [Hz] (may differ from the request: clocks are discrete)."""

    profile: str
    agent_hz: float | None
    server_hz: float | None
    backend: str
    detail: str = ''
    clamped: bool = False  # the request was outside the hardware's range and was clamped


@dataclass(frozen=True)
class EnergyReading:
    """A cumulative energy counter value [J] at a monotonic time [s]."""

    joules: float
    t: float
    source: str


class FrequencyBackend(Protocol):
    """What the frequency actuator node needs from a backend."""

    name: str

    def apply(self, profile: FrequencyProfile) -> AppliedProfile:
        ...

    def read_energy(self) -> EnergyReading | None:
        ...

    def snapshot(self) -> dict | None:
        """Return what :meth:`apply` may change, as found (JSON-able); None: nothing."""
        ...

    def restore(self, state: dict) -> str:
        """Write ``state`` (from :meth:`snapshot`) back; return what was restored."""
        ...

    def close(self) -> None:
        ...


@dataclass
class DryRunBackend:
    """Sets nothing; records and reports the request."""

    name: str = 'dry_run'
    applied: list[AppliedProfile] = field(default_factory=list)

    def apply(self, profile: FrequencyProfile) -> AppliedProfile:
        result = AppliedProfile(profile.name, profile.f, profile.f_server, self.name,
                                'dry run: nothing written')
        self.applied.append(result)
        return result

    def read_energy(self) -> EnergyReading | None:
        return None

    def snapshot(self) -> dict | None:
        return None

    def restore(self, state: dict) -> str:
        return 'nothing to restore (dry run)'

    def close(self) -> None:
        pass


#: The cpufreq files :meth:`CpufreqSysfsBackend.apply` may write, as a snapshot records them.
CPUFREQ_FILES = ('scaling_governor', 'scaling_min_freq', 'scaling_max_freq', 'scaling_setspeed')


class CpufreqSysfsBackend:
    """Linux cpufreq through sysfs, for the agent's CPU clock (``agent_hz``)."""

    name = 'cpufreq'

    def __init__(self, root: str | Path = '/sys/devices/system/cpu',
                 cpus: list[int] | None = None, energy_meter: 'RaplEnergyMeter | None' = None):
        self.root = Path(root)
        found = sorted(int(p.parent.name[3:]) for p in self.root.glob('cpu[0-9]*/cpufreq'))
        if not found:
            raise RuntimeError(f'cpufreq backend: no cpu*/cpufreq under {self.root} '
                               '(no cpufreq driver on this machine)')
        self.cpus = found if cpus is None else list(cpus)
        missing = sorted(set(self.cpus) - set(found))
        if missing:
            raise RuntimeError(
                f'cpufreq backend: CPUs {missing} have no cpufreq under {self.root}')
        self.energy_meter = energy_meter

    def _dir(self, cpu: int) -> Path:
        return self.root / f'cpu{cpu}' / 'cpufreq'

    def hardware_khz(self, cpu: int) -> tuple[int, int]:
        """Return the CPU's ``(cpuinfo_min_freq, cpuinfo_max_freq)`` [kHz]."""
        d = self._dir(cpu)
        try:
            lo = int((d / 'cpuinfo_min_freq').read_text())
            hi = int((d / 'cpuinfo_max_freq').read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f'cpufreq backend: cannot read the hardware limits of cpu{cpu} '
                               f'({exc}); nothing written') from None
        if not 0 < lo <= hi:
            raise RuntimeError(f'cpufreq backend: cpu{cpu} reports implausible limits '
                               f'{lo}..{hi} kHz; nothing written')
        return lo, hi

    def available_khz(self, cpu: int) -> list[int]:
        """
        Frequencies the CPU offers [kHz] within its hardware limits.

        The ``scaling_available_frequencies`` table without any entry outside
        ``[cpuinfo_min_freq, cpuinfo_max_freq]``, or just those limits when no table is exposed.
        """
        d = self._dir(cpu)
        lo, hi = self.hardware_khz(cpu)
        table = d / 'scaling_available_frequencies'
        if table.is_file():
            try:
                values = sorted({int(v) for v in table.read_text().split()})
            except ValueError:
                values = []
            values = [v for v in values if lo <= v <= hi]
            if values:
                return values
        return [lo, hi]

    def apply(self, profile: FrequencyProfile) -> AppliedProfile:
        details, read_back, clamped = [], [], False
        for cpu in self.cpus:
            d = self._dir(cpu)
            choices = self.available_khz(cpu)
            want = profile.f / 1e3
            lo, hi = choices[0], choices[-1]
            hw_lo, hw_hi = self.hardware_khz(cpu)
            if len(choices) > 2 or (d / 'scaling_available_frequencies').is_file():
                target = min(choices, key=lambda f: (abs(f - want), f))
            else:
                target = int(min(max(want, lo), hi))
            target = min(max(target, hw_lo), hw_hi)  # never outside the hardware's range
            if not hw_lo <= want <= hw_hi:
                clamped = True
                details.append(f'cpu{cpu}: request {want:.0f} kHz outside cpuinfo '
                               f'{hw_lo}..{hw_hi} kHz, clamped')
            try:
                governors = (d / 'scaling_available_governors').read_text().split() \
                    if (d / 'scaling_available_governors').is_file() else []
                if 'userspace' in governors:
                    (d / 'scaling_governor').write_text('userspace\n')
                    (d / 'scaling_setspeed').write_text(f'{target}\n')
                    how = 'userspace setspeed'
                else:
                    (d / 'scaling_min_freq').write_text(f'{lo}\n')
                    (d / 'scaling_max_freq').write_text(f'{target}\n')
                    how = 'scaling_max_freq'
            except OSError as exc:
                raise RuntimeError(f'cpufreq backend: cannot write {exc.filename}: '
                                   f'{exc.strerror} (run the actuator as root, or use the '
                                   'dry_run backend)') from None
            cur = d / 'scaling_cur_freq'
            read_back.append(int(cur.read_text()) if cur.is_file() else target)
            details.append(f'cpu{cpu}: {how} {target} kHz')
        agent_hz = 1e3 * min(read_back)
        return AppliedProfile(profile.name, agent_hz, None, self.name, '; '.join(details),
                              clamped)

    def read_energy(self) -> EnergyReading | None:
        return None if self.energy_meter is None else self.energy_meter.read()

    def snapshot(self) -> dict | None:
        """
        Return the governor, min/max and (userspace governor) set frequency of each CPU.

        ``scaling_setspeed`` is recorded only under the userspace governor (elsewhere it reads
        ``<unsupported>``). Raises ``RuntimeError`` when a file cannot be read.
        """
        cpus = {}
        for cpu in self.cpus:
            d = self._dir(cpu)
            found = {}
            try:
                for name in CPUFREQ_FILES:
                    if (d / name).is_file():
                        found[name] = (d / name).read_text().strip()
            except OSError as exc:
                raise RuntimeError(f'cpufreq backend: cannot read {exc.filename}: '
                                   f'{exc.strerror}') from None
            if found.get('scaling_governor') != 'userspace':
                found.pop('scaling_setspeed', None)
            cpus[str(cpu)] = found
        return {'root': str(self.root), 'cpus': cpus}

    def restore(self, state: dict) -> str:
        """
        Write a :meth:`snapshot` back: governor, then max before min, then the set speed.

        The maximum first so that a minimum above the current maximum is never refused; every
        CPU is tried even when one fails (``RuntimeError`` naming them afterwards).
        """
        done, failed = [], []
        for cpu, found in sorted(state.get('cpus', {}).items(), key=lambda kv: int(kv[0])):
            d = self.root / f'cpu{int(cpu)}' / 'cpufreq'
            try:
                for name in ('scaling_governor', 'scaling_max_freq', 'scaling_min_freq',
                             'scaling_setspeed'):
                    if name in found:
                        (d / name).write_text(f'{found[name]}\n')
            except OSError as exc:
                failed.append(f'cpu{cpu} ({exc.filename}: {exc.strerror})')
                continue
            done.append(f'cpu{cpu} {found.get("scaling_governor", "?")} '
                        f'{found.get("scaling_min_freq", "?")}..'
                        f'{found.get("scaling_max_freq", "?")} kHz'
                        + (f' set {found["scaling_setspeed"]}' if 'scaling_setspeed' in found
                           else ''))
        if failed:
            raise RuntimeError(f'cpufreq backend: could not restore {", ".join(failed)}')
        return 'restored ' + '; '.join(done)

    def close(self) -> None:
        pass


class RaplEnergyMeter:
    """Cumulative package energy from Linux powercap RAPL (``energy_uj``), wrap-around aware."""

    def __init__(self, root: str | Path = '/sys/class/powercap'):
        self.zones = sorted(p for p in Path(root).glob('intel-rapl:[0-9]*')
                            if p.name.count(':') == 1 and (p / 'energy_uj').is_file())
        if not self.zones:
            raise RuntimeError(f'RAPL energy meter: no intel-rapl:N/energy_uj under {root}')
        self._last = [self._raw(z) for z in self.zones]
        self._total_uj = 0

    @staticmethod
    def _raw(zone: Path) -> int:
        return int((zone / 'energy_uj').read_text())

    def read(self) -> EnergyReading:
        for i, zone in enumerate(self.zones):
            now = self._raw(zone)
            delta = now - self._last[i]
            if delta < 0:  # the counter wrapped
                wrap = zone / 'max_energy_range_uj'
                delta += int(wrap.read_text()) if wrap.is_file() else 0
            self._total_uj += max(delta, 0)
            self._last[i] = now
        return EnergyReading(self._total_uj * 1e-6, time.monotonic(), 'rapl')


class JtopBackend:
    """NVIDIA Jetson via jetson-stats: nvpmodel modes and INA3221 power rails."""

    name = 'jtop'

    def __init__(self):
        try:
            from jtop import jtop, JtopException
        except ImportError:
            raise RuntimeError('jtop backend: jetson-stats is not installed '
                               '(pip install jetson-stats)') from None
        self._jetson = jtop()
        try:
            self._jetson.start()
        except JtopException as exc:
            raise RuntimeError(f'jtop backend: {exc} — is this a Jetson with the jtop service '
                               'running (sudo systemctl start jtop.service)?') from None
        self._energy_j = 0.0
        self._last_t = time.monotonic()

    def apply(self, profile: FrequencyProfile) -> AppliedProfile:
        if profile.nvpmodel_mode is None:
            raise ValueError(f'profile {profile.name!r} names no nvpmodel_mode for the jtop '
                             'backend')
        self._jetson.nvpmodel = int(profile.nvpmodel_mode)
        return AppliedProfile(profile.name, profile.f, None, self.name,
                              f'nvpmodel mode {profile.nvpmodel_mode}')

    def snapshot(self) -> dict | None:
        """Return the nvpmodel mode in force (its id), as found."""
        mode = self._jetson.nvpmodel
        if mode is None:
            return None
        return {'nvpmodel': int(getattr(mode, 'id', mode))}

    def restore(self, state: dict) -> str:
        mode = int(state['nvpmodel'])
        self._jetson.nvpmodel = mode
        return f'restored nvpmodel mode {mode}'

    def read_energy(self) -> EnergyReading | None:
        # Integrate total board power [mW] between reads (jtop reports power, not energy).
        now = time.monotonic()
        power = self._jetson.power.get('tot', {}).get('power')
        if power is None:
            return None
        self._energy_j += float(power) * 1e-3 * (now - self._last_t)
        self._last_t = now
        return EnergyReading(self._energy_j, now, 'jtop')

    def close(self) -> None:
        self._jetson.close()


class NvmlEnergyMeter:
    """
    The board energy counter of one NVIDIA GPU through NVML (reading it needs no root).

    The GPU is ``uuid`` (``GPU-...``, as ``torch.cuda.get_device_properties(i).uuid`` names it:
    CUDA's and NVML's device numbers can differ) or else NVML's ``index``. ``nvml``: the NVML
    binding (default: ``pynvml`` from nvidia-ml-py). Raises ``RuntimeError`` saying what is
    missing when there is no binding, driver or such GPU.
    """

    def __init__(self, index: int = 0, nvml=None, what: str = 'nvml', uuid: str = ''):
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError:
                raise RuntimeError(f'{what}: nvidia-ml-py is not installed') from None
        try:
            nvml.nvmlInit()
            self.handle = (nvml.nvmlDeviceGetHandleByUUID(uuid) if uuid
                           else nvml.nvmlDeviceGetHandleByIndex(int(index)))
        except nvml.NVMLError as exc:
            raise RuntimeError(f'{what}: {exc} — no NVIDIA driver or GPU {uuid or index} '
                               'on this machine') from None
        self.nvml = nvml

    def read(self) -> EnergyReading | None:
        """Return the energy counter [J] now, ``None`` where this GPU does not count it."""
        try:
            mj = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        except self.nvml.NVMLError:
            return None
        return EnergyReading(mj * 1e-3, time.monotonic(), 'nvml')

    def close(self) -> None:
        """Release NVML (each meter holds one reference of its initialisation)."""
        self.nvml.nvmlShutdown()


class NvmlBackend:
    """A server GPU via NVML: locked graphics clocks and the board energy counter."""

    name = 'nvml'

    def __init__(self, index: int = 0):
        self._meter = NvmlEnergyMeter(index, what='nvml backend')
        self._nvml, self._handle = self._meter.nvml, self._meter.handle

    def graphics_range_mhz(self) -> tuple[int, int]:
        """Return the GPU's (lowest supported, highest) graphics clock [MHz]."""
        nvml = self._nvml
        try:
            hi = int(nvml.nvmlDeviceGetMaxClockInfo(self._handle, nvml.NVML_CLOCK_GRAPHICS))
        except nvml.NVMLError as exc:
            raise RuntimeError(f'nvml backend: cannot read the maximum graphics clock ({exc}); '
                               'nothing written') from None
        lo = hi
        try:
            for mem in nvml.nvmlDeviceGetSupportedMemoryClocks(self._handle):
                clocks = nvml.nvmlDeviceGetSupportedGraphicsClocks(self._handle, mem)
                lo = min([lo, *(int(c) for c in clocks)])
        except nvml.NVMLError:
            lo = min(lo, 1)  # no table: only the maximum is known
        return lo, hi

    def apply(self, profile: FrequencyProfile) -> AppliedProfile:
        want = int(round(profile.f_server / 1e6))
        lo, hi = self.graphics_range_mhz()
        mhz = min(max(want, lo), hi)  # never above the GPU's maximum graphics clock
        try:
            self._nvml.nvmlDeviceSetGpuLockedClocks(self._handle, mhz, mhz)
        except self._nvml.NVMLError as exc:
            raise RuntimeError(f'nvml backend: cannot lock clocks at {mhz} MHz: {exc} '
                               '(needs root)') from None
        note = '' if mhz == want else f' (request {want} MHz outside {lo}..{hi} MHz, clamped)'
        return AppliedProfile(profile.name, None, mhz * 1e6, self.name,
                              f'locked GPU clocks {mhz} MHz{note}', mhz != want)

    def read_energy(self) -> EnergyReading | None:
        return self._meter.read()

    def snapshot(self) -> dict | None:
        """Return the GPU (NVML cannot read locked clocks back: restoring resets them)."""
        return {'gpu': 'locked clocks reset to the default'}

    def restore(self, state: dict) -> str:
        try:
            self._nvml.nvmlDeviceResetGpuLockedClocks(self._handle)
        except self._nvml.NVMLError as exc:
            raise RuntimeError(f'nvml backend: cannot reset the locked clocks: {exc}') from None
        return 'reset the GPU locked clocks to the default'

    def close(self) -> None:
        try:
            self._nvml.nvmlDeviceResetGpuLockedClocks(self._handle)
        finally:
            self._meter.close()


BACKENDS = ('dry_run', 'cpufreq', 'jtop', 'nvml')


def make_backend(name: str, **kwargs) -> FrequencyBackend:
    """Create a backend by name (one of :data:`BACKENDS`)."""
    if name == 'dry_run':
        return DryRunBackend()
    if name == 'cpufreq':
        return CpufreqSysfsBackend(**kwargs)
    if name == 'jtop':
        return JtopBackend()
    if name == 'nvml':
        return NvmlBackend(**kwargs)
    raise ValueError(f'Invalid frequency backend: "{name}" (expected one of '
                     f'{", ".join(BACKENDS)})')
