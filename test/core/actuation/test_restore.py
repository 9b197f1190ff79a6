"""
The clocks as found are recorded before the first write and written back (mimicked sysfs, jtop).

In-process: the backends' snapshot/restore and :class:`RestoreRecord` (the record on disk, a
record left by a killed run restored first, a record that is not one refused). The node as a
process (stopped by SIGINT, SIGTERM, SIGKILL-then-restart) is in
``test/graph/test_actuator_restore.py``.
"""

import json
from pathlib import Path

import pytest

from qcoinf_ros.core.actuation import CpufreqSysfsBackend, FrequencyProfile, JtopBackend
from qcoinf_ros.core.actuation.restore import default_record_path, RestoreRecord

MIMIC = Path(__file__).resolve().parent / 'mimic'


@pytest.mark.parametrize('governors', ['performance powersave userspace', 'schedutil'])
def test_cpufreq_restore_writes_back_what_apply_changed(tmp_path, cpu_tree, cpu_state,
                                                        governors):
    root = cpu_tree(tmp_path / 'cpu', cpus=3, governors=governors)
    before = cpu_state(root)
    backend = CpufreqSysfsBackend(root)
    record = RestoreRecord(backend, tmp_path / 'record.json')
    assert record.begin() is None
    record.mark_changed()
    backend.apply(FrequencyProfile('low', f=1.0e9, f_server=1e9))
    assert cpu_state(root) != before  # userspace + setspeed, or a lower scaling_max_freq
    said = record.restore()
    assert cpu_state(root) == before
    assert said.startswith('restored cpu0 performance 1000000..2000000 kHz'), said
    assert not (tmp_path / 'record.json').exists()


def test_cpufreq_restore_from_userspace_puts_the_set_speed_back(tmp_path, cpu_tree, cpu_state):
    root = cpu_tree(tmp_path / 'cpu', cpus=1)
    d = root / 'cpu0' / 'cpufreq'
    (d / 'scaling_governor').write_text('userspace\n')
    (d / 'scaling_setspeed').write_text('2000000\n')
    before = cpu_state(root)
    backend = CpufreqSysfsBackend(root)
    record = RestoreRecord(backend, None)
    record.begin()
    record.mark_changed()
    backend.apply(FrequencyProfile('low', f=1.0e9, f_server=1e9))
    assert (d / 'scaling_setspeed').read_text() == '1000000\n'
    assert 'set 2000000' in record.restore()
    assert cpu_state(root) == before


def test_a_profile_that_fails_half_way_is_undone_too(tmp_path, cpu_tree, cpu_state):
    # cpu0 is written, then cpu1's setspeed cannot be (a stop in the middle of applying)
    root = cpu_tree(tmp_path / 'cpu', cpus=2)
    before = cpu_state(root)
    setspeed = root / 'cpu1' / 'cpufreq' / 'scaling_setspeed'
    setspeed.unlink()
    setspeed.mkdir()
    backend = CpufreqSysfsBackend(root)
    record = RestoreRecord(backend, tmp_path / 'r.json')
    record.begin()
    record.mark_changed()
    with pytest.raises(RuntimeError, match='scaling_setspeed'):
        backend.apply(FrequencyProfile('low', f=1.0e9, f_server=1e9))
    assert (root / 'cpu0' / 'cpufreq' / 'scaling_governor').read_text() == 'userspace\n'
    record.restore()
    assert cpu_state(root) == before


def test_a_record_left_by_a_killed_run_is_restored_first(tmp_path, cpu_tree, cpu_state):
    root = cpu_tree(tmp_path / 'cpu', cpus=2)
    before = cpu_state(root)
    path = tmp_path / 'record.json'
    killed = RestoreRecord(CpufreqSysfsBackend(root), path)
    killed.begin()
    killed.mark_changed()
    killed.backend.apply(FrequencyProfile('low', f=1.0e9, f_server=1e9))
    assert json.loads(path.read_text())['backend'] == 'cpufreq'  # on disk before any write
    # ... SIGKILL: nothing restored; the next start finds the record
    again = RestoreRecord(CpufreqSysfsBackend(root), path)
    said = again.begin()
    assert said is not None and 'did not restore: restored cpu0' in said, said
    assert cpu_state(root) == before
    assert json.loads(path.read_text())['state'] == again.state  # the state as found now
    assert again.restore() is None  # nothing applied since
    assert not path.exists()


def test_a_record_that_is_not_one_is_refused_naming_the_file(tmp_path, cpu_tree, cpu_state):
    root = cpu_tree(tmp_path / 'cpu', cpus=1)
    path = tmp_path / 'record.json'
    for text in ('{"backend": "jtop", "state": {"nvpmodel": 1}}', 'not json', '[]'):
        path.write_text(text)
        with pytest.raises(ValueError, match='is not a record of the cpufreq backend'):
            RestoreRecord(CpufreqSysfsBackend(root), path).begin()


def test_the_default_record_lives_under_ros_home(monkeypatch, tmp_path):
    monkeypatch.setenv('ROS_HOME', str(tmp_path))
    a = default_record_path('cpufreq', '/sys/devices/system/cpu')
    b = default_record_path('cpufreq', '/tmp/other')
    assert a.parent == tmp_path / 'qcoinf' and a != b
    assert a.name.startswith('actuator_cpufreq_') and a.suffix == '.json'


def test_jtop_restores_the_nvpmodel_mode_it_found(monkeypatch, tmp_path):
    state = tmp_path / 'jtop.json'
    state.write_text('{"nvpmodel": 2}')
    monkeypatch.setenv('QCOINF_MIMIC_JTOP_STATE', str(state))
    monkeypatch.syspath_prepend(str(MIMIC))
    monkeypatch.delitem(__import__('sys').modules, 'jtop', raising=False)
    backend = JtopBackend()
    record = RestoreRecord(backend, tmp_path / 'r.json')
    record.begin()
    assert record.state == {'nvpmodel': 2}
    record.mark_changed()
    backend.apply(FrequencyProfile('max', f=2e9, f_server=1e9, nvpmodel_mode=0))
    assert json.loads(state.read_text())['nvpmodel'] == 0
    assert record.restore() == 'restored nvpmodel mode 2'
    assert json.loads(state.read_text())['nvpmodel'] == 2
