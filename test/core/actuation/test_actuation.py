"""Frequency backends against a directory tree that mimics sysfs; absent hardware fails clearly."""

from pathlib import Path

import pytest

from qcoinf_ros.core.actuation import (
    CpufreqSysfsBackend, DryRunBackend, FrequencyProfile, make_backend, RaplEnergyMeter)


def test_cpufreq_userspace_snaps_to_an_offered_frequency(tmp_path, cpu_tree):
    backend = CpufreqSysfsBackend(cpu_tree(tmp_path))
    assert backend.cpus == [0, 1]
    applied = backend.apply(FrequencyProfile('medium', f=1.6e9, f_server=5e9))
    for cpu in (0, 1):
        d = tmp_path / f'cpu{cpu}' / 'cpufreq'
        assert (d / 'scaling_governor').read_text().strip() == 'userspace'
        assert (d / 'scaling_setspeed').read_text().strip() == '1500000'
    assert applied.agent_hz == pytest.approx(1.5e9)  # read back from scaling_cur_freq
    assert applied.backend == 'cpufreq' and 'userspace' in applied.detail


def test_cpufreq_without_userspace_caps_max_and_clamps(tmp_path, cpu_tree):
    tree = cpu_tree(tmp_path, cpus=1, governors='schedutil', table=None)
    backend = CpufreqSysfsBackend(tree, cpus=[0])
    backend.apply(FrequencyProfile('turbo', f=9e9, f_server=1e9))
    d = tmp_path / 'cpu0' / 'cpufreq'
    assert (d / 'scaling_max_freq').read_text().strip() == '2000000'
    assert (d / 'scaling_min_freq').read_text().strip() == '1000000'
    assert (d / 'scaling_governor').read_text().strip() == 'performance'  # left alone
    backend.apply(FrequencyProfile('crawl', f=1.0, f_server=1e9))
    assert (d / 'scaling_max_freq').read_text().strip() == '1000000'


def test_cpufreq_missing_tree_or_cpu_is_a_clear_error(tmp_path, cpu_tree):
    with pytest.raises(RuntimeError, match='no cpu\\*/cpufreq'):
        CpufreqSysfsBackend(tmp_path)
    with pytest.raises(RuntimeError, match=r'CPUs \[5\]'):
        CpufreqSysfsBackend(cpu_tree(tmp_path), cpus=[0, 5])


def test_cpufreq_unwritable_file_is_a_clear_error(tmp_path, cpu_tree):
    root = cpu_tree(tmp_path, cpus=1)
    setspeed = root / 'cpu0' / 'cpufreq' / 'scaling_setspeed'
    setspeed.unlink()
    setspeed.mkdir()  # writing it fails as a permission problem would (IsADirectoryError)
    with pytest.raises(RuntimeError, match='cannot write .*scaling_setspeed'):
        CpufreqSysfsBackend(root).apply(FrequencyProfile('x', 1e9, 1e9))


def test_rapl_energy_accumulates_across_wrap_around(tmp_path):
    zone = tmp_path / 'intel-rapl:0'
    zone.mkdir()
    (tmp_path / 'intel-rapl:0:0').mkdir()  # a sub-zone: must not be counted twice
    (zone / 'max_energy_range_uj').write_text('1000000\n')
    (zone / 'energy_uj').write_text('900000\n')
    meter = RaplEnergyMeter(tmp_path)
    (zone / 'energy_uj').write_text('950000\n')
    assert meter.read().joules == pytest.approx(0.05)
    (zone / 'energy_uj').write_text('50000\n')  # wrapped: +50000 to the top, +50000 after
    reading = meter.read()
    assert reading.joules == pytest.approx(0.15) and reading.source == 'rapl'
    with pytest.raises(RuntimeError, match='no intel-rapl'):
        RaplEnergyMeter(tmp_path / 'nothing')


def test_dry_run_records_and_measures_nothing():
    backend = make_backend('dry_run')
    assert isinstance(backend, DryRunBackend)
    applied = backend.apply(FrequencyProfile('low', 1e9, 2e9))
    assert (applied.agent_hz, applied.server_hz) == (1e9, 2e9)
    assert backend.applied == [applied] and backend.read_energy() is None


def test_unknown_backend_and_bad_profiles_are_rejected():
    with pytest.raises(ValueError, match='Invalid frequency backend: "turbo"'):
        make_backend('turbo')
    with pytest.raises(ValueError, match='x.f'):
        FrequencyProfile('x', -1.0, 1.0)
    with pytest.raises(ValueError, match='name'):
        FrequencyProfile('', 1.0, 1.0)


@pytest.mark.skipif(Path('/etc/nv_tegra_release').exists(), reason='this is a Jetson')
def test_jtop_backend_off_jetson_fails_with_a_clear_message():
    with pytest.raises(RuntimeError, match='jtop backend'):
        make_backend('jtop')


def test_nvml_backend_without_driver_fails_with_a_clear_message():
    pynvml = pytest.importorskip('pynvml')
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip('an NVIDIA driver is present: covered by the gpu-marked test')
    except pynvml.NVMLError:
        pass
    with pytest.raises(RuntimeError, match='nvml backend'):
        make_backend('nvml')


@pytest.mark.gpu
def test_nvml_backend_reads_energy_on_a_gpu():
    backend = make_backend('nvml')
    try:
        first = backend.read_energy()
        assert first is not None and first.joules >= 0.0
    finally:
        backend.close()


@pytest.mark.jetson
def test_jtop_backend_reads_power_on_a_jetson():
    backend = make_backend('jtop')
    try:
        assert backend.read_energy() is not None
    finally:
        backend.close()


class MimicNvml:
    """Answers like pynvml on a machine with one GPU whose energy counter reads ``mj``."""

    class NVMLError(Exception):
        pass

    def __init__(self, mj=(1500, 4000), driver=True):
        self.readings, self.driver, self.calls = list(mj), driver, []

    def nvmlInit(self):
        if not self.driver:
            raise self.NVMLError('Driver Not Loaded')
        self.calls.append('init')

    def nvmlShutdown(self):
        self.calls.append('shutdown')

    def nvmlDeviceGetHandleByIndex(self, index):
        if index != 0:
            raise self.NVMLError('Invalid Argument')
        return 'gpu0'

    def nvmlDeviceGetHandleByUUID(self, uuid):
        if uuid != 'GPU-1234':
            raise self.NVMLError('Not Found')
        return 'gpu0'

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        assert handle == 'gpu0'
        if not self.readings:
            raise self.NVMLError('Not Supported')
        return self.readings.pop(0)


def test_the_nvml_energy_meter_reads_joules_and_names_what_is_missing():
    from qcoinf_ros.core.actuation.backends import NvmlEnergyMeter
    nvml = MimicNvml()
    meter = NvmlEnergyMeter(nvml=nvml, uuid='GPU-1234')
    first, second = meter.read(), meter.read()
    assert (first.joules, second.joules, first.source) == (1.5, 4.0, 'nvml')
    assert second.t >= first.t
    assert meter.read() is None  # a GPU that does not count energy: None, not an exception
    meter.close()
    assert nvml.calls == ['init', 'shutdown']
    assert NvmlEnergyMeter(nvml=MimicNvml()).read().joules == 1.5  # by index
    with pytest.raises(RuntimeError, match='GPU energy: Not Found .* GPU GPU-9 on this machine'):
        NvmlEnergyMeter(nvml=MimicNvml(), uuid='GPU-9', what='GPU energy')
    with pytest.raises(RuntimeError, match='nvml: Driver Not Loaded .* GPU 0'):
        NvmlEnergyMeter(nvml=MimicNvml(driver=False))
