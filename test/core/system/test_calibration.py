"""Measured costs: affine fit, interleaved sweep, clock readers, cache, calibration."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from qcoinf_ros.core.system import calibration as cal


def test_fit_affine_recovers_a_line_and_its_r2():
    bits = [1, 2, 3, 4, 5, 6, 7, 8]
    fit = cal.fit_affine(bits, [0.004 + 0.001 * b for b in bits])
    assert fit.t_fixed == pytest.approx(0.004) and fit.t_plane == pytest.approx(0.001)
    assert fit.r2 == pytest.approx(1.0) and float(fit(10)) == pytest.approx(0.014)
    noisy = cal.fit_affine([1, 2, 3], [1.0, 3.0, 2.0])
    assert 0.0 < noisy.r2 < 1.0


def test_a_nonnegative_fit_never_falls_with_b_nor_starts_below_zero():
    flat = cal.fit_affine([1, 2, 3, 4], [1.0, 0.9, 0.95, 0.85], nonnegative=True)
    assert flat.t_plane == 0.0 and flat.t_fixed == pytest.approx(0.925)
    origin = cal.fit_affine([1, 2, 3, 4], [0.9, 2.1, 3.0, 4.2], nonnegative=True)
    assert origin.t_fixed == 0.0 and origin.t_plane == pytest.approx(
        np.dot([1, 2, 3, 4], [0.9, 2.1, 3.0, 4.2]) / 30.0)
    plain = cal.fit_affine([1, 2, 3, 4], [0.9, 2.1, 3.0, 4.2])
    assert plain.t_fixed < 0.0  # what the constraint prevents


@pytest.mark.parametrize('bits, seconds, needle', [
    ([4, 4], [1.0, 2.0], 'two distinct'),
    ([1, 2], [1.0, -1.0], 'finite and > 0'),
    ([1, 2], [1.0], 'one length'),
])
def test_fit_affine_refuses_bad_input(bits, seconds, needle):
    with pytest.raises(ValueError, match=needle):
        cal.fit_affine(bits, seconds)


def test_the_sweep_interleaves_bit_widths_and_respects_its_budget():
    order, state = [], {'b': None}

    def run():
        order.append(state['b'])

    result = cal.measure_latency_per_bit(lambda b: state.update(b=b), run, [1, 2, 3],
                                         repeats=4, warmup=1)
    assert order == [1, 2, 3] + [1, 2, 3] * 4  # warm-up, then rounds over every b
    assert set(result) == {1, 2, 3} and all(v >= 0 for v in result.values())
    assert state['b'] == 3

    order.clear()

    def slow():
        order.append(state['b'])
        time.sleep(0.03)

    cal.measure_latency_per_bit(lambda b: state.update(b=b), slow, [1, 2], repeats=50,
                                warmup=0, budget_s=0.05)
    assert order == [1, 2]  # one round: the budget was spent
    with pytest.raises(ValueError, match='at least one'):
        cal.measure_latency_per_bit(lambda b: None, run, [])


def test_clock_and_model_readers_use_cpufreq_then_cpuinfo(tmp_path, cpu_tree):
    sysfs = cpu_tree(tmp_path / 'cpu', cur=1500000)
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nmodel name\t: Test CPU 9000\ncpu MHz\t\t: 2445.405\n')
    assert cal.cpu_clock_hz(sysfs, cpuinfo) == pytest.approx(1.5e9)
    assert cal.cpu_clock_hz(tmp_path / 'none', cpuinfo) == pytest.approx(2445.405e6)
    assert cal.cpu_clock_hz(tmp_path / 'none', tmp_path / 'none') is None
    assert cal.cpu_clock_range_hz(sysfs) == (1e9, 2e9)
    assert cal.cpu_clock_range_hz(tmp_path / 'none') is None
    assert cal.cpu_model(cpuinfo) == 'Test CPU 9000'
    (sysfs / 'cpu0' / 'cpufreq' / 'scaling_cur_freq').write_text('garbage\n')
    assert cal.cpu_clock_hz(sysfs, cpuinfo) == pytest.approx(2445.405e6)


def test_the_cache_round_trips_and_treats_anything_else_as_a_miss(tmp_path):
    cache = cal.CostCache(tmp_path / 'cache')
    key = {'part': 'agent', 'model_id': 'm', 'threads': 1}
    assert cache.load(key) is None
    path = cache.store(key, {'seconds': [0.1, 0.2]})
    assert path is not None and cache.load(key) == {'seconds': [0.1, 0.2]}
    assert cache.load({**key, 'threads': 2}) is None
    path.write_text('{not json')
    assert cache.load(key) is None
    blocker = tmp_path / 'file'
    blocker.write_text('')
    assert cal.CostCache(blocker / 'sub').store(key, {}) is None  # unwritable: no error


def _tiny():
    from qcoinf_ros.core.models import tiny
    from qcoinf_ros.core.models.git import GitSplit
    return GitSplit.from_model(tiny.tiny_git(width=64, layers=2, image_size=32, patch_size=8),
                               model_id='tiny-git')


def test_agent_calibration_measures_every_bit_width_then_reads_its_cache(tmp_path):
    from qcoinf_ros.core.runtime import build_runtime
    split = _tiny()
    runtime = build_runtime(split.agent_module, 'auto', 'uniform', 4, bit_width=3)
    x = split.example_inputs(1)
    calls = []

    def run():
        calls.append(runtime.bit_width)
        with torch.no_grad():
            split.encode(x)

    cache = cal.CostCache(tmp_path)
    cost = cal.calibrate_agent('tiny-git', runtime, run, threads=1, repeats=2, cache=cache)
    assert cost.part == 'agent' and cost.b_max == 4 and len(cost.seconds) == 4
    assert cost.kernel == runtime.kernel and cost.isa == runtime.isa and not cost.cached
    assert cost.t_fixed >= 0 and cost.t_plane >= 0 and runtime.bit_width == 3
    assert sorted(set(calls)) == [1, 2, 3, 4]
    calls.clear()
    again = cal.calibrate_agent('tiny-git', runtime, run, threads=1, cache=cache)
    assert again.cached and again.seconds == cost.seconds and calls == []
    fresh = cal.calibrate_agent('tiny-git', runtime, run, threads=1, repeats=1, cache=cache,
                                refresh=True)
    assert not fresh.cached and calls
    other = cal.calibrate_agent('tiny-git', runtime, run, threads=2, repeats=1, cache=cache)
    assert not other.cached  # another thread count is another measurement


def test_agent_calibration_routes_each_bit_width_to_the_faster_kernel(tmp_path):
    """Both exact kernels measured in the same rounds; each b runs on the faster, then trimmed."""
    import time

    from qcoinf_ros.core.lut.library import load_library
    from qcoinf_ros.core.lut.linear import LutLinear
    from qcoinf_ros.core.runtime import build_runtime
    assert load_library() is not None, 'the kernel library is not built'

    def routed(split):
        runtime = build_runtime(split.agent_module, 'lut+qint8', 'uniform', 4, bit_width=1)
        x = split.example_inputs(1)
        calls = []

        def run():  # the real encode, then a kernel-dependent pause that decides the choice
            kernel, b = runtime.kernel_at(runtime.bit_width), runtime.bit_width
            calls.append((kernel, b))
            with torch.no_grad():
                split.encode(x)
            time.sleep(0.025 if kernel == 'qint8' else 0.010 * b)
        return runtime, run, calls

    split = _tiny()
    runtime, run, calls = routed(split)
    cache = cal.CostCache(tmp_path)
    cost = cal.calibrate_agent('tiny-git', runtime, run, threads=1, repeats=2, cache=cache)
    assert sorted(set(calls)) == [(k, b) for k in ('lut', 'qint8') for b in range(1, 5)]
    assert cost.kernels == runtime.routes == ('lut', 'lut', 'qint8', 'qint8')
    assert cost.kernel == 'lut+qint8' and cost.kernel_summary() == 'lut b 1-2, qint8 b 3-4'
    assert 0.010 < cost.seconds[0] < cost.seconds[1] < 0.025 < cost.seconds[2]
    assert cost.t_plane > 0.008  # the fit describes the lookup kernels, not the table
    assert runtime.bit_width == 1 and runtime.choices == ('qint8',)  # planes cut to 2
    layer = next(m for m in split.agent_module.modules() if isinstance(m, LutLinear))
    assert layer.planes == 2 and layer.codes is not None
    # a restart: routed from the cache, no sweep, trimmed the same
    split = _tiny()
    runtime, run, calls = routed(split)
    again = cal.calibrate_agent('tiny-git', runtime, run, threads=1, cache=cache)
    assert again.cached and again.kernels == cost.kernels and calls == []
    assert runtime.routes == cost.kernels and runtime.kernel_at(3) == 'qint8'
    layer = next(m for m in split.agent_module.modules() if isinstance(m, LutLinear))
    assert layer.planes == 2


def test_server_calibration_times_a_full_length_caption(tmp_path):
    split = _tiny()
    emb = torch.randn(1, *split.embedding_shape)
    lengths = []

    def decode(size):
        assert size == 1
        ids = split.decode(emb, max_new_tokens=6, min_new_tokens=6)
        lengths.append(ids.shape[-1])

    cost = cal.calibrate_server('tiny-git', decode, threads=1, max_new_tokens=6, repeats=2,
                                cache=cal.CostCache(tmp_path))
    assert cost.part == 'server' and cost.max_new_tokens == 6 and len(cost.seconds) == 1
    assert cost.t_plane == 0.0 and cost.t_fixed == cost.seconds[0] > 0
    assert len(set(lengths)) == 1  # EOS suppressed: every timed caption has the full length
    assert cal.calibrate_server('tiny-git', decode, threads=1, max_new_tokens=6,
                                cache=cal.CostCache(tmp_path)).cached


def test_server_calibration_times_each_batch_size_within_the_budget(tmp_path):
    split = _tiny()
    emb = torch.randn(4, *split.embedding_shape)
    sizes = []

    def decode(size):
        sizes.append(size)
        split.decode(emb[:size], max_new_tokens=4, min_new_tokens=4)

    cost = cal.calibrate_server('tiny-git', decode, threads=1, max_new_tokens=4, repeats=2,
                                batches=4, cache=cal.CostCache(tmp_path))
    assert len(cost.seconds) == 4 and sizes == [1, 1, 1, 2, 2, 3, 3, 4, 4]  # warm-up first
    assert cost.latency(1) == pytest.approx(cost.t_fixed + cost.t_plane)
    assert cost.seconds[3] < 4 * cost.seconds[0]  # a batch of four costs less than four alone
    again = cal.calibrate_server('tiny-git', decode, threads=1, max_new_tokens=4, batches=4,
                                 cache=cal.CostCache(tmp_path))
    assert again.cached and again.seconds == cost.seconds
    assert not cal.calibrate_server('tiny-git', decode, threads=1, max_new_tokens=4, batches=2,
                                    cache=cal.CostCache(tmp_path)).cached  # another key
    sizes.clear()
    short = cal.calibrate_server('tiny-git', decode, threads=1, max_new_tokens=4, batches=4,
                                 budget_s=1e-6, cache=None)
    assert short.seconds and len(short.seconds) == 1 and sizes == [1, 1]  # batch 1 always


def test_nondecreasing_pools_the_dips_and_keeps_a_rising_table():
    assert cal.nondecreasing([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]
    assert cal.nondecreasing([27.5, 25.1, 29.1]) == pytest.approx([26.3, 26.3, 29.1])
    assert cal.nondecreasing([3.0, 2.0, 1.0]) == pytest.approx([2.0, 2.0, 2.0])
    out = cal.nondecreasing([21.4, 22.8, 29.1, 29.5, 29.8, 27.4, 24.6, 33.3])
    assert out == sorted(out) and sum(out) == pytest.approx(21.4 + 22.8 + 29.1 + 29.5 + 29.8
                                                            + 27.4 + 24.6 + 33.3)
    assert cal.nondecreasing([]) == []
