"""``qcoinf_ros.core.stats``: the one home of percentiles and sample summaries."""

import math

import numpy as np
import pytest

from qcoinf_ros.core.stats import percentile, percentiles, Summary

pytestmark = pytest.mark.check


def test_percentile_interpolates_as_numpy_and_is_nan_when_empty():
    assert percentile(range(101), 95) == 95
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile(np.arange(10.0).reshape(2, 5), 100) == 9.0
    assert math.isnan(percentile([], 50))
    for q in (-1, 101):
        with pytest.raises(ValueError, match='percentile'):
            percentile([1.0], q)


def test_percentiles_name_each_and_the_max():
    p = percentiles(range(101))
    assert p == {'p50': 50, 'p95': 95, 'p99': 99, 'max': 100}
    assert list(percentiles([3.0], qs=(90, 99.9))) == ['p90', 'p99.9', 'max']
    assert all(v != v for v in percentiles([]).values())  # NaN when empty


def test_summary_of_nothing_and_of_non_finite_values():
    assert Summary.of([]) is None and Summary.of([float('nan')]) is None
    s = Summary.of([1.0, float('inf'), 3.0, float('-inf')])
    assert s is not None and s.count == 2 and s.mean == 2.0 and s.max == 3.0
    assert s.p50 == 2.0 and s.p99 == pytest.approx(2.98)


def test_summary_matches_numpy():
    x = np.random.default_rng(0).exponential(size=1000)
    s = Summary.of(x)
    assert s is not None
    assert (s.p50, s.p90, s.p95, s.p99) == tuple(np.percentile(x, (50, 90, 95, 99)))
