"""The frequency actuator node in its own process, on a directory tree that mimics sysfs."""

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def _profile(name, f, g, b=8, energy=1.25):
    from qcoinf_ros.core.codec.plan import ProfileMessage
    from qcoinf_ros.ros.messages import profile_msg
    return profile_msg(ProfileMessage(name, f, g, b, True, None, 0.5, energy))


def test_profiles_reach_cpufreq_and_energy_is_measured(start_node, rclpy_node, spin_until,
                                                       tmp_path, cpu_tree):
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Header

    from qcoinf_ros.core.codec.caption import CaptionRecord
    from qcoinf_ros.ros.messages import (
        applied_from_msg, AppliedProfile, Caption, caption_msg, FrequencyProfile)
    from qcoinf_ros.ros.qos import LATCHED, reliable

    sysfs = cpu_tree(tmp_path / 'cpu', cpus=2)
    zone = tmp_path / 'powercap' / 'intel-rapl:0'
    zone.mkdir(parents=True)
    (zone / 'energy_uj').write_text('1000000\n')
    node = rclpy_node
    profiles = node.create_publisher(FrequencyProfile, 'qcoinf/frequency_profile', LATCHED)
    captions = node.create_publisher(Caption, 'qcoinf/caption', reliable(10))
    applied, diag = [], []
    node.create_subscription(AppliedProfile, 'qcoinf/applied_profile',
                             lambda m: applied.append(applied_from_msg(m)), LATCHED)
    node.create_subscription(DiagnosticArray, '/diagnostics',
                             lambda m: diag.extend(m.status), 10)
    params = ['-p', 'backend:=cpufreq', '-p', f'sysfs_root:={sysfs}',
              '-p', f'rapl_root:={tmp_path / "powercap"}', '-p', 'max_agent_hz:=3.0e9',
              '-p', 'diagnostics_period:=0.2']
    setspeed = sysfs / 'cpu1' / 'cpufreq' / 'scaling_setspeed'
    with start_node('frequency_actuator_node', params) as proc:
        profiles.publish(_profile('medium', 1.6e9, 5e9))
        assert spin_until(lambda: applied), proc.output
        assert setspeed.read_text().strip() == '1500000'
        assert applied[-1].f == pytest.approx(1.5e9) and applied[-1].name == 'medium'
        assert applied[-1].backend == 'cpufreq' and not applied[-1].clamped
        # refused: above the node's limit; and garbage: dropped; the last profile stays
        # (one at a time: the latched topic keeps only the last message)
        profiles.publish(_profile('turbo', 4.0e9, 5e9))
        assert spin_until(lambda: 'exceed the limits' in proc.output), proc.output
        profiles.publish(FrequencyProfile(name='nope', f_hz=-1.0, f_server_hz=5e9, bit_width=8))
        assert spin_until(lambda: 'f must be a positive finite clock' in proc.output), \
            proc.output
        assert setspeed.read_text().strip() == '1500000' and len(applied) == 1
        # two inferences and 3 J used -> 1.5 J per inference, measured by RAPL
        for _ in range(2):
            captions.publish(caption_msg(CaptionRecord('a caption'), Header()))
        (zone / 'energy_uj').write_text('4000000\n')

        def measured():
            for s in diag:
                v = {kv.key: kv.value for kv in s.values}
                if v.get('energy_source') == 'measured (rapl)' and v['inferences'] == '2':
                    return float(v['energy_per_inference_J'])
            return None
        assert spin_until(lambda: measured() is not None), proc.output
        assert measured() == pytest.approx(1.5)
        assert proc.returncode is None


def test_dry_run_reports_predicted_energy(start_node, rclpy_node, spin_until):
    from diagnostic_msgs.msg import DiagnosticArray
    from qcoinf_ros.ros.messages import FrequencyProfile
    from qcoinf_ros.ros.qos import LATCHED

    node = rclpy_node
    profiles = node.create_publisher(FrequencyProfile, 'qcoinf/frequency_profile', LATCHED)
    diag = []
    node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diag.extend(m.status),
                             10)

    def predicted():
        for status in diag:
            v = {kv.key: kv.value for kv in status.values}
            if v.get('energy_source', '').startswith('predicted'):
                return v
        return None

    with start_node('frequency_actuator_node', ['-p', 'diagnostics_period:=0.2']) as proc:
        profiles.publish(_profile('low', 5e8, 2.5e9, energy=0.75))
        assert spin_until(lambda: predicted() is not None), proc.output
        found = predicted()
        assert float(found['energy_per_inference_J']) == pytest.approx(0.75)
        assert found['backend'] == 'dry_run' and float(found['applied_f_hz']) == 5e8


def test_absent_hardware_backend_exits_with_a_clear_reason(start_node, tmp_path):
    proc = start_node('frequency_actuator_node',
                      ['-p', 'backend:=cpufreq', '-p', f'sysfs_root:={tmp_path}'])
    assert proc.wait(timeout=20.0) == 2, proc.output
    proc.stop()
    assert 'no cpu*/cpufreq' in proc.output
