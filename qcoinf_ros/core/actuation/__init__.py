"""Apply frequency profiles to real hardware and measure energy where the platform allows."""

from qcoinf_ros.core.actuation.backends import (
    AppliedProfile, BACKENDS, CpufreqSysfsBackend, DryRunBackend, EnergyReading,
    FrequencyBackend, FrequencyProfile, JtopBackend, make_backend, NvmlBackend,
    RaplEnergyMeter)

__all__ = ['AppliedProfile', 'BACKENDS', 'CpufreqSysfsBackend', 'DryRunBackend',
           'EnergyReading', 'FrequencyBackend', 'FrequencyProfile', 'JtopBackend', 'make_backend',
           'NvmlBackend', 'RaplEnergyMeter']
