"""
Frequency actuator node: applies the planner's frequency profile to the hardware.

Topic in: ``qcoinf/frequency_profile`` (qcoinf_ros/FrequencyProfile, latched);
``qcoinf/caption`` (qcoinf_ros/Caption) only to count inferences for the energy per inference.
Topics out: ``qcoinf/applied_profile`` (qcoinf_ros/AppliedProfile, latched,
:mod:`qcoinf_ros.core.codec.applied`: what the backend really set) and ``/diagnostics`` (backend,
requested vs applied clocks, energy per inference labelled ``measured`` with its source, or
``predicted`` by the system model).

Lifecycle (autostart by default, like the agent and the decoder): ``configure`` opens the
backend and records the clocks as found (governor, min/max and set frequency, nvpmodel mode) in
a restore record on disk before anything is written (:mod:`qcoinf_ros.core.actuation.restore`);
``activate`` starts applying profiles; ``deactivate`` writes the recorded clocks back;
``cleanup`` and ``shutdown`` (SIGINT, SIGTERM: :mod:`qcoinf_ros.ros.spin`) write them back and
remove the record. After a SIGKILL the record stays, and the next start restores from it first.
Each restore is logged with what it wrote.

Safety: a profile whose clocks exceed ``max_agent_hz`` / ``max_server_hz`` is refused (logged
once, the last applied profile stays in force); the limits themselves are bounded parameters.
Below those limits the backend never writes a clock outside the hardware's own range
(``cpuinfo_min_freq``..``cpuinfo_max_freq``, the GPU's graphics clocks): it clamps, and the
node logs a warning.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from qcoinf_ros.core.actuation import BACKENDS, make_backend, RaplEnergyMeter
from qcoinf_ros.core.actuation.restore import default_record_path, RestoreRecord
from qcoinf_ros.core.codec.applied import AppliedMessage
from qcoinf_ros.core.planner.profiles import FrequencyProfile
from qcoinf_ros.core.status_names import FREQUENCY_ACTUATOR, resolve_hardware_id
from qcoinf_ros.ros.diagnostics import HARDWARE_ID_PARAM, OK, publish_status, WARN
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.messages import (
    applied_msg, AppliedProfile, Caption, FrequencyProfile as ProfileMsg, profile_from_msg)
from qcoinf_ros.ros.params import declare_all, ParamSpec
from qcoinf_ros.ros.qos import LATCHED, reliable, subscribe_state
from qcoinf_ros.ros.spin import autostart, run_node

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
    ParamSpec('restore_record', '', 'File that keeps the clocks as found until they are '
              'written back (survives a SIGKILL; the next start restores from it); "" = '
              '$ROS_HOME/qcoinf/actuator_<backend>_<hash>.json.', read_only=True),
    ParamSpec('autostart', True, 'Configure and activate at start.', read_only=True),
    HARDWARE_ID_PARAM,
]


class FrequencyActuatorNode(LifecycleNode):
    """Applies frequency profiles through a backend, reports energy, restores the clocks."""

    def __init__(self, **kwargs):
        super().__init__('frequency_actuator_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        self._hardware_id = resolve_hardware_id(self._p['hardware_id'])
        self._backend = self._record = None
        self._drops = DropLog(self.get_logger())
        self._requested = None
        self._applied = None
        self._inferences = 0
        self._energy_start = None
        self._applied_pub = self._diag_pub = self._timer = None
        self._subs = []
        self._error = ''
        self._active = False
        self._pending: ProfileMsg | None = None  # the last profile heard while inactive
        if self._p['autostart']:
            autostart(self)

    # -- lifecycle -----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        backend = self._p['backend']
        state_subs = []
        try:
            # first: a bad qos_overrides start value refuses the configure before any write
            state_subs = subscribe_state(self, ProfileMsg, 'qcoinf/frequency_profile',
                                         self._on_profile)
            if backend == 'cpufreq':
                meter = RaplEnergyMeter(self._p['rapl_root']) if self._p['rapl_root'] else None
                self._backend = make_backend('cpufreq', root=self._p['sysfs_root'],
                                             energy_meter=meter)
                target = str(self._backend.root.resolve())
            elif backend == 'nvml':
                self._backend = make_backend('nvml', index=self._p['gpu_index'])
                target = f'gpu{self._p["gpu_index"]}'
            else:
                self._backend = make_backend(backend)
                target = ''
            path = self._p['restore_record'] or default_record_path(backend, target)
            self._record = RestoreRecord(self._backend, path)
            leftover = self._record.begin()
        except (RuntimeError, ValueError, OSError) as exc:  # absent hardware, a bad record
            self._error = str(exc)
            self.get_logger().error(f'configure failed: {exc}')
            self._close_backend()
            for sub in state_subs:
                self.destroy_subscription(sub)
            return TransitionCallbackReturn.FAILURE
        if leftover is not None:
            self.get_logger().warning(leftover)
        self._energy_start = self._backend.read_energy()
        self._applied_pub = self.create_publisher(AppliedProfile, 'qcoinf/applied_profile',
                                                  LATCHED)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._subs = [
            *state_subs,
            self.create_subscription(Caption, 'qcoinf/caption', self._on_caption, reliable(10)),
        ]
        self._timer = self.create_timer(self._p['diagnostics_period'], self._publish_diagnostics)
        self.get_logger().info(
            f'frequency actuator: backend {backend}' + (
                f', clocks as found recorded in {self._record.path}'
                if self._record.state is not None else ''))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = True
        pending, self._pending = self._pending, None
        if pending is not None:  # the profile in force (latched) when it was deactivated
            self._on_profile(pending)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._restore(keep=True)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._restore(keep=False)
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self.destroy_timer(self._timer)
        self.destroy_publisher(self._applied_pub)
        self.destroy_publisher(self._diag_pub)
        self._applied_pub = self._diag_pub = self._timer = None
        self._requested = self._applied = None
        self._close_backend()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._restore(keep=False)
        self._close_backend()
        return TransitionCallbackReturn.SUCCESS

    def _restore(self, keep: bool) -> None:
        """Write the clocks as found back (logged with what was written)."""
        if self._record is None:
            return
        try:
            said = self._record.restore(keep=keep)
        except (RuntimeError, OSError) as exc:
            self.get_logger().error(f'could not restore the clocks: {exc}')
            return
        if said is not None:
            self.get_logger().info(f'{self._backend.name}: {said}')
        if not keep:
            self._record = None

    def _close_backend(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self._backend = None

    @property
    def applied(self):
        return self._applied

    def _on_caption(self, _msg: Caption) -> None:
        self._inferences += 1

    def _on_profile(self, msg: ProfileMsg) -> None:
        if not self._active:  # applied on activation
            self._pending = msg
            return
        try:
            request = profile_from_msg(msg)
        except ValueError as exc:
            self._drops.drop('frequency_profile.malformed', str(exc))
            return
        if request.f > self._p['max_agent_hz'] or request.f_server > self._p['max_server_hz']:
            self._drops.drop('frequency_profile.above_limit', (
                f'clocks {request.f:g} / {request.f_server:g} Hz exceed the limits '
                f'{self._p["max_agent_hz"]:g} / {self._p["max_server_hz"]:g} Hz'))
            return
        profile = FrequencyProfile(request.name, request.f, request.f_server,
                                   request.nvpmodel_mode)
        try:
            self._record.mark_changed()
            applied = self._backend.apply(profile)
        except (RuntimeError, ValueError) as exc:
            self._drops.drop('frequency_profile.backend_failed',
                             f'backend {self._backend.name}: {exc}')
            return
        self._requested, self._applied = request, applied
        self._applied_pub.publish(applied_msg(AppliedMessage(
            applied.profile, applied.agent_hz, applied.server_hz, applied.backend,
            applied.detail[:1024], bool(applied.clamped)), self.get_clock().now().to_msg()))
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
        self._drops.tick()  # a summary of the drops since the last one, when due
        if self._backend is None:
            return
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
            **self._drops.diagnostic_values(),
        }
        publish_status(self, self._diag_pub, FREQUENCY_ACTUATOR, OK if ok else WARN,
                       f'profile {self._applied.profile!r} applied' if ok
                       else 'waiting for a frequency profile', values,
                       self._hardware_id)

    def destroy_node(self):
        # a node destroyed without its shutdown transition still leaves the clocks as found
        if getattr(self, '_record', None) is not None:
            self._restore(keep=False)
        if getattr(self, '_backend', None) is not None:  # absent when the constructor refused
            self._close_backend()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(FrequencyActuatorNode, args, 'frequency_actuator_node')


if __name__ == '__main__':
    sys.exit(main())
