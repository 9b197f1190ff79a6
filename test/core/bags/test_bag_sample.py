"""The sample bag: deterministic, small, and the committed copy is what the script writes."""

from pathlib import Path

import numpy as np
import pytest

from qcoinf_ros.core.bags import BagReader
from qcoinf_ros.core.bags.cdr import check_message
from qcoinf_ros.core.bags.sample import (
    BATTERY, CAMERA, DEADLINE, sample_messages, SampleScenario, START_NS)
from qcoinf_ros.tools.cli.make_sample_bag import main

COMMITTED = Path(__file__).resolve().parents[2] / 'data' / 'sample_bag'


def test_sample_is_a_pure_function_of_its_scenario():
    first, second = sample_messages(), sample_messages()
    assert first == second
    other = sample_messages(SampleScenario(frames=3, start_ns=START_NS + 1))
    assert [m[1] for m in other][0] == START_NS + 1 and len(other) < len(first)


def test_sample_content_and_timing():
    scenario = SampleScenario()
    messages = sample_messages(scenario)
    by_topic = {t: [m for m in messages if m[0] == t] for t in (CAMERA, BATTERY, DEADLINE)}
    assert len(by_topic[CAMERA]) == 10 and len(by_topic[DEADLINE]) == 3
    frames = [check_message(d, 'sensor_msgs/msg/Image') for _, _, d in by_topic[CAMERA]]
    assert scenario.image_size == 96  # the default captioner's input size
    assert all(f.width == f.height == 96 and f.encoding == 'rgb8' for f in frames)
    assert len({bytes(f.data) for f in frames}) == 10  # ten different scenes
    assert [f.header.stamp.sec * 10**9 + f.header.stamp.nanosec for f in frames] == \
        [t for _, t, _ in by_topic[CAMERA]]
    pct = [check_message(d, 'sensor_msgs/msg/BatteryState').percentage
           for _, _, d in by_topic[BATTERY]]
    assert pct[0] == pytest.approx(1.0) and np.all(np.diff(pct) < 0) and min(pct) >= 0.1 - 1e-6
    deadlines = [check_message(d, 'std_msgs/msg/Float64').data for _, _, d in by_topic[DEADLINE]]
    assert deadlines == [2.5, 1e-4, 2.5]
    # every frame is >= 0.3 s after the last planner input before it
    inputs = sorted(t for _, t, _ in by_topic[BATTERY] + by_topic[DEADLINE])
    for _, t, _ in by_topic[CAMERA]:
        assert t - max(i for i in inputs if i < t) >= 0.3e9 - 1


def test_committed_sample_bag_matches_the_generator_and_is_small():
    """
    Check the committed bag against the generator, except the pixels of its frames.

    The frames come from the scene generator, which may evolve; the committed bag (and the
    replay expectation made from it) stays as it is until regenerated on purpose.
    """
    assert sum(p.stat().st_size for p in COMMITTED.iterdir()) < 2 * 1024 * 1024
    reader = BagReader(COMMITTED)
    committed = [(m.topic, m.timestamp, m.data) for m in reader.messages()]
    generated = sample_messages()
    assert reader.problems == [] and reader.info.storage == 'mcap'
    assert [m[:2] for m in committed] == [m[:2] for m in generated]
    for (topic, _, data), (_, _, fresh) in zip(committed, generated):
        if topic == CAMERA:
            old, new = (check_message(d, 'sensor_msgs/msg/Image') for d in (data, fresh))
            assert (old.header, old.height, old.width, old.encoding, old.step) == \
                (new.header, new.height, new.width, new.encoding, new.step)
        else:
            assert data == fresh, f'{topic}: regenerate with qcoinf make sample-bag --force'


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_script_writes_and_refuses_to_overwrite(tmp_path, storage, capsys):
    out = tmp_path / 'sample'
    assert main([str(out), '--storage', storage]) == 0
    assert '23 messages' in capsys.readouterr().out
    assert [(m.topic, m.timestamp, m.data) for m in BagReader(out).messages()] == \
        sample_messages()
    with pytest.raises(SystemExit):
        main([str(out)])
    assert main([str(out), '--force']) == 0
    with pytest.raises(SystemExit):
        main([str(tmp_path), '--force'])  # not a bag: never deleted


def test_scenario_is_validated():
    with pytest.raises(ValueError, match='frames'):
        SampleScenario(frames=0)
    with pytest.raises(ValueError, match='increasing'):
        SampleScenario(deadline_times=(1.0, 0.5), deadline_values=(1.0, 2.0))
    with pytest.raises(ValueError, match='same length'):
        SampleScenario(deadline_times=(1.0,), deadline_values=(1.0, 2.0))
    with pytest.raises(ValueError, match='> 0'):
        SampleScenario(deadline_times=(1.0,), deadline_values=(0.0,))
