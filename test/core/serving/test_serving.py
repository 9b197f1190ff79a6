"""The serving core: per-agent queues, batches of coinciding embeddings, queueing delay."""

import threading
import time

import numpy as np
import pytest

from qcoinf_ros.core.serving import agent_topic, BatchQueue, DelayWindow, effective_deadline


class FakeClock:
    """A settable monotonic clock (the queue's waits are bounded by real time anyway)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_agent_topic_resolves_relative_to_the_server_namespace():
    assert agent_topic('', 'qcoinf/caption') == 'qcoinf/caption'
    assert agent_topic('robot1', 'qcoinf/caption') == 'robot1/qcoinf/caption'
    assert agent_topic('/fleet/robot_2/', 'qcoinf/embedding') == 'fleet/robot_2/qcoinf/embedding'
    for bad in ('1robot', 'robot-1', 'a//b', 'ro bot'):
        with pytest.raises(ValueError, match='invalid agent namespace'):
            agent_topic(bad, 'qcoinf/caption')
    with pytest.raises(ValueError, match='must be a string'):
        agent_topic(None, 'qcoinf/caption')


def test_effective_deadline_sets_the_queueing_delay_aside():
    assert effective_deadline(2.0, 0.5) == pytest.approx(1.5)
    assert effective_deadline(2.0, 0.0) == 2.0
    assert effective_deadline(0.3, 0.5) == 0.0  # nothing left: (P1) becomes infeasible
    with pytest.raises(ValueError, match='queue_delay'):
        effective_deadline(1.0, -0.1)
    with pytest.raises(ValueError, match='t0'):
        effective_deadline(float('nan'), 0.1)


def test_take_returns_what_arrived_together_oldest_first_up_to_max_batch():
    clock = FakeClock()
    queue = BatchQueue(agents=3, depth=4, clock=clock)
    for t, agent in ((0.0, 2), (0.1, 0), (0.2, 1), (0.3, 0)):
        clock.now = t
        assert queue.put(agent, f'{agent}@{t}') is None
    batch = queue.take(max_batch=3, max_wait=0.0, timeout=0.0)
    assert [p.item for p in batch] == ['2@0.0', '0@0.1', '1@0.2']
    assert [p.agent for p in batch] == [2, 0, 1]
    assert len(queue) == 1
    assert [p.item for p in queue.take(8, 0.0, timeout=0.0)] == ['0@0.3']
    assert queue.take(8, 0.0, timeout=0.0) == []


def test_a_full_agent_queue_drops_its_oldest_and_spares_the_others():
    queue = BatchQueue(agents=2, depth=2)
    queue.put(0, 'a0')
    queue.put(1, 'b0')
    queue.put(0, 'a1')
    dropped = queue.put(0, 'a2')
    assert dropped is not None and dropped.item == 'a0' and dropped.agent == 0
    assert sorted(p.item for p in queue.take(10, 0.0, timeout=0.0)) == ['a1', 'a2', 'b0']


def test_take_waits_for_the_batch_to_fill_but_no_longer_than_max_wait():
    queue = BatchQueue(agents=2, depth=2)
    queue.put(0, 'first')
    later = threading.Timer(0.05, queue.put, args=(1, 'second'))
    later.start()
    batch = queue.take(max_batch=2, max_wait=10.0, timeout=1.0)  # filled before max_wait
    later.join()
    assert [p.item for p in batch] == ['first', 'second']
    queue.put(0, 'alone')
    start = time.monotonic()
    assert [p.item for p in queue.take(max_batch=4, max_wait=0.05, timeout=1.0)] == ['alone']
    assert time.monotonic() - start < 5.0  # bounded by max_wait, not by the batch size


def test_take_times_out_empty_and_close_wakes_a_waiting_taker():
    queue = BatchQueue(agents=1)
    assert queue.take(timeout=0.01) == []
    result = []
    taker = threading.Thread(target=lambda: result.append(queue.take(timeout=30.0)))
    taker.start()
    queue.close()
    taker.join(timeout=10.0)
    assert not taker.is_alive() and result == [[]]


def test_queue_rejects_bad_arguments_naming_them():
    with pytest.raises(ValueError, match='agents'):
        BatchQueue(agents=0)
    with pytest.raises(ValueError, match='depth'):
        BatchQueue(agents=1, depth=0)
    queue = BatchQueue(agents=2)
    with pytest.raises(ValueError, match='agent'):
        queue.put(2, 'x')
    with pytest.raises(ValueError, match='max_batch'):
        queue.take(max_batch=0, timeout=0.0)
    with pytest.raises(ValueError, match='max_wait'):
        queue.take(max_wait=-1.0, timeout=0.0)


def test_delay_window_is_the_mean_of_the_last_values():
    window = DelayWindow(size=3)
    assert window.mean == 0.0
    for value in (0.1, 0.2, 0.3):
        window.add(value)
    assert window.mean == pytest.approx(0.2)
    assert window.add(0.7) == pytest.approx((0.2 + 0.3 + 0.7) / 3)
    assert len(window) == 3
    with pytest.raises(ValueError, match='delay'):
        window.add(-0.01)
    with pytest.raises(ValueError, match='size'):
        DelayWindow(size=0)


def test_batched_decode_gives_the_captions_of_one_at_a_time_decodes():
    """The edge decoder decodes a batch in one ``decode`` call: same captions as one by one."""
    import torch

    from qcoinf_ros.core.models.registry import load_split
    from qcoinf_ros.core.scenes.generator import make_scene

    split = load_split('tiny')
    images = [make_scene('test', i).as_tuple()[0] for i in range(6)]
    embeddings = split.encode(split.preprocess(images))
    alone = [split.captions(split.decode(e.unsqueeze(0), max_new_tokens=20))[0].strip()
             for e in embeddings]
    together = [c.strip() for c in split.captions(split.decode(
        torch.from_numpy(np.stack([e.numpy() for e in embeddings])), max_new_tokens=20))]
    assert together == alone
    assert len(set(alone)) > 1  # different scenes, different captions: a real comparison
