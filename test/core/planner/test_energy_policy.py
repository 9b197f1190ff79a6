"""Battery state of charge -> energy budget E0."""

import math

from hypothesis import given, settings, strategies as st
import pytest

from qcoinf_ros.core.planner.energy_policy import EnergyBudgetPolicy

pytestmark = pytest.mark.check


def test_linear_policy_values():
    policy = EnergyBudgetPolicy('linear', e0_full=2.0, e0_min=0.5, reserve=0.2)
    assert policy.budget(1.0) == pytest.approx(2.0)
    assert policy.budget(0.6) == pytest.approx(1.25)
    assert policy.budget(0.2) == pytest.approx(0.5)
    assert policy.budget(0.0) == pytest.approx(0.5)


def test_step_policy_values():
    policy = EnergyBudgetPolicy('step', e0_full=2.0, e0_min=0.4, reserve=0.1, high=0.5)
    assert [policy.budget(p) for p in (0.9, 0.5, 0.3, 0.1, 0.0)] == \
        pytest.approx([2.0, 1.2, 1.2, 0.4, 0.4])


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from(['linear', 'step']), a=st.floats(0, 1), b=st.floats(0, 1))
def test_budget_is_monotone_in_charge_and_within_bounds(kind, a, b):
    policy = EnergyBudgetPolicy(kind, e0_full=3.0, e0_min=0.25, reserve=0.15, high=0.55)
    lo, hi = sorted((a, b))
    assert 0.25 <= policy.budget(lo) <= policy.budget(hi) <= 3.0


@pytest.mark.parametrize('kwargs, needle', [
    ({'kind': 'exp'}, 'Invalid energy policy'),
    ({'e0_full': 0.0}, 'e0_full'),
    ({'e0_min': -1.0}, 'e0_min'),
    ({'e0_full': 1.0, 'e0_min': 2.0}, 'must not exceed'),
    ({'reserve': 1.0}, 'reserve'),
    ({'kind': 'step', 'reserve': 0.5, 'high': 0.4}, 'high'),
    ({'e0_full': math.nan}, 'e0_full'),
])
def test_bad_policies_are_rejected(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        EnergyBudgetPolicy(**kwargs)


@pytest.mark.parametrize('pct', [math.nan, -0.1, 1.5, math.inf])
def test_bad_percentages_are_rejected(pct):
    with pytest.raises(ValueError, match='battery percentage'):
        EnergyBudgetPolicy().budget(pct)
