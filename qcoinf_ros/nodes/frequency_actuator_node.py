"""
Frequency actuator node: applies the planner's frequency profile to the hardware.

Topic in: ``qcoinf/frequency_profile`` (std_msgs/String JSON, latched); ``qcoinf/caption``
(std_msgs/String) only to count inferences for the energy per inference.
Topics out: ``qcoinf/applied_profile`` (std_msgs/String JSON, latched,
:mod:`qcoinf_ros.codec.applied`: what the backend really set) and ``/diagnostics`` (backend,
requested vs applied clocks, energy per inference labelled ``measured`` with its source, or
``predicted`` by the system model).

Safety: a profile whose clocks exceed ``max_agent_hz`` / ``max_server_hz`` is refused (logged
once, the last applied profile stays in force); the limits themselves are bounded parameters.
Below those limits the backend never writes a clock outside the hardware's own range
(``cpuinfo_min_freq``..``cpuinfo_max_freq``, the GPU's graphics clocks): it clamps, and the
node logs a warning.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from std_msgs.msg import String

from qcoinf_ros.actuation import BACKENDS, make_backend, RaplEnergyMeter
from qcoinf_ros.codec.applied import AppliedMessage, encode_applied
from qcoinf_ros.codec.plan import decode_profile
from qcoinf_ros.planner.profiles import FrequencyProfile
from qcoinf_ros.ros.diagnostics import OK, publish_status, WARN
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.params import declare_all, ParamSpec
from qcoinf_ros.ros.qos import LATCHED, reliable
from qcoinf_ros.ros.spin import run_node

PARAMS = [
    ParamSpec('backend', 'dry_run', 'How clocks are set.', choices=BACKENDS, read_only=True),
    ParamSpec('sysfs_root', '/sys/devices/system/cpu', 'cpufreq sysfs root (backend cpufreq).',
              read_only=True),
    ParamSpec('rapl_root', '', 'powercap root for RAPL energy (backend cpufreq); "" = none.',
              read_only=True),
    ParamSpec('gpu_index', 0, 'NVML device index (backend nvml).', low=0, high=64,
              read_only=True),
    ParamSpec('max_agent_hz', 5.0e9, 'Refuse profiles with an agent clock above this [Hz].',
              low=1.0, high=1e11, read_only=True),
    ParamSpec('max_server_hz', 2.0e10, 'Refuse profiles with a server clock above this [Hz].',
              low=1.0, high=1e12, read_only=True),
    ParamSpec('diagnostics_period', 1.0, 'Period of the /diagnostics status [s].',
              low=0.05, high=60.0, read_only=True),
]


class FrequencyActuatorNode(Node):
    """Applies frequency profiles through a backend and reports energy."""

    def __init__(self, **kwargs):
        super().__init__('frequency_actuator_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        backend = self._p['backend']
        try:
            if backend == 'cpufreq':
                meter = RaplEnergyMeter(self._p['rapl_root']) if self._p['rapl_root'] else None
                self._backend = make_backend('cpufreq', root=self._p['sysfs_root'],
                                             energy_meter=meter)
            elif backend == 'nvml':
                self._backend = make_backend('nvml', index=self._p['gpu_index'])
            else:
                self._backend = make_backend(backend)
        except RuntimeError as exc:  # absent hardware: a clear reason, exit code 2
            raise ValueError(str(exc)) from None
        self._drops = DropLog(self.get_logger())
        self._requested = None
        self._applied = None
        self._inferences = 0
        self._energy_start = self._backend.read_energy()
        self._applied_pub = self.create_publisher(String, 'qcoinf/applied_profile', LATCHED)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(String, 'qcoinf/frequency_profile', self._on_profile, LATCHED)
        self.create_subscription(String, 'qcoinf/caption', self._on_caption, reliable(10))
        self.create_timer(self._p['diagnostics_period'], self._publish_diagnostics)
        self.get_logger().info(f'frequency actuator: backend {backend}')

    @property
    def applied(self):
        return self._applied

    def _on_caption(self, _msg: String) -> None:
        self._inferences += 1

    def _on_profile(self, msg: String) -> None:
        try:
            request = decode_profile(msg.data)
        except ValueError as exc:
            self._drops.drop('frequency_profile', str(exc))
            return
        if request.f > self._p['max_agent_hz'] or request.f_server > self._p['max_server_hz']:
            self._drops.drop('frequency_profile', (
                f'clocks {request.f:g} / {request.f_server:g} Hz exceed the limits '
                f'{self._p["max_agent_hz"]:g} / {self._p["max_server_hz"]:g} Hz'))
            return
        profile = FrequencyProfile(request.name, request.f, request.f_server,
                                   request.nvpmodel_mode)
        try:
            applied = self._backend.apply(profile)
        except (RuntimeError, ValueError) as exc:
            self._drops.drop('frequency_profile', f'backend {self._backend.name}: {exc}')
            return
        self._requested, self._applied = request, applied
        self._applied_pub.publish(String(data=encode_applied(AppliedMessage(
            applied.profile, applied.agent_hz, applied.server_hz, applied.backend,
            applied.detail[:1024], bool(applied.clamped)))))
        log = self.get_logger().warning if applied.clamped else self.get_logger().info
        log(f'applied profile {applied.profile!r}: {applied.detail}')
        self._publish_diagnostics()

    def _energy_per_inference(self) -> tuple[float | None, str]:
        reading = self._backend.read_energy()
        if reading is not None and self._energy_start is not None and self._inferences:
            joules = (reading.joules - self._energy_start.joules) / self._inferences
            return joules, f'measured ({reading.source})'
        if self._requested is not None:
            return self._requested.predicted_energy_j, 'predicted (system model, eq. (9))'
        return None, 'none'

    def _publish_diagnostics(self) -> None:
        energy, label = self._energy_per_inference()
        ok = self._applied is not None
        values = {
            'backend': self._backend.name,
            'requested_f_hz': self._requested.f if self._requested else 'n/a',
            'requested_f_server_hz': self._requested.f_server if self._requested else 'n/a',
            'applied_f_hz': self._applied.agent_hz if ok else 'n/a',
            'applied_f_server_hz': self._applied.server_hz if ok else 'n/a',
            'energy_per_inference_J': 'n/a' if energy is None else f'{energy:.6g}',
            'energy_source': label, 'inferences': self._inferences,
            'dropped_inputs': self._drops.total,
        }
        publish_status(self, self._diag_pub, 'qcoinf: frequency actuator', OK if ok else WARN,
                       f'profile {self._applied.profile!r} applied' if ok
                       else 'waiting for a frequency profile', values,
                       hardware_id=self._backend.name)

    def destroy_node(self):
        backend = getattr(self, '_backend', None)  # absent when the constructor refused
        if backend is not None:
            backend.close()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(FrequencyActuatorNode, args, 'frequency_actuator_node')


if __name__ == '__main__':
    sys.exit(main())
