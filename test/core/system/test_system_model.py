"""Tests of the delay/energy model, paper eqs. (4)-(9), and the agent cost models."""

import dataclasses
import math

from hypothesis import given, settings, strategies as st
import pytest

from qcoinf_ros.core.planner.core import evaluate_point, PlanningProblem
from qcoinf_ros.core.system.model import (
    AffineAgentCost,
    agent_delay,
    agent_energy,
    CalibratedAgentCost,
    comm_delay,
    comm_energy,
    NominalAgentCost,
    server_delay,
    server_energy,
    SystemParams,
    total_delay,
    total_energy,
)

pytestmark = pytest.mark.check

PAPER = SystemParams(n_flop=381.6e9, n_flop_server=152.06e9)


def test_defaults_are_the_paper_testbed():
    p = PAPER
    assert (p.f_max, p.f_max_server, p.c, p.c_server) == (2e9, 10e9, 32.0, 128.0)
    assert (p.eta, p.eta_server, p.psi, p.psi_server) == (1.0, 2.0, 2e-29, 1e-28)
    assert p.b_orig == 32


def test_equations_4_to_9_by_hand():
    p = PAPER
    b, f, g = 8, 1.5e9, 4e9
    t_agent = b * 381.6e9 / (32 * f * 32)  # eq. (4)
    t_server = 152.06e9 / (g * 128)  # eq. (5)
    e_agent = 1.0 * b * 381.6e9 / (32 * 32) * 2e-29 * f ** 2  # eq. (6)
    e_server = 2.0 * 152.06e9 / 128 * 1e-28 * g ** 2  # eq. (7)
    assert agent_delay(p, b, f) == pytest.approx(t_agent, rel=1e-14)
    assert server_delay(p, g) == pytest.approx(t_server, rel=1e-14)
    assert agent_energy(p, b, f) == pytest.approx(e_agent, rel=1e-14)
    assert server_energy(p, g) == pytest.approx(e_server, rel=1e-14)
    assert total_delay(p, b, f, g) == pytest.approx(t_agent + t_server, rel=1e-14)  # eq. (8)
    assert total_energy(p, b, f, g) == pytest.approx(e_agent + e_server, rel=1e-14)  # eq. (9)
    assert comm_delay(p) == 0.0 and comm_energy(p) == 0.0


def test_zero_clock_gives_infinite_delay_and_zero_energy():
    assert agent_delay(PAPER, 4, 0.0) == math.inf
    assert server_delay(PAPER, 0.0) == math.inf
    assert agent_energy(PAPER, 4, 0.0) == 0.0


def test_communication_term_is_added_when_configured():
    p = dataclasses.replace(PAPER, payload_bytes=1e6, link_rate_bps=100e6, tx_power_w=3.0)
    assert comm_delay(p) == pytest.approx(0.08)
    assert comm_energy(p) == pytest.approx(0.24)
    base_t, base_e = total_delay(PAPER, 4, 1e9, 1e9), total_energy(PAPER, 4, 1e9, 1e9)
    assert total_delay(p, 4, 1e9, 1e9) == pytest.approx(base_t + 0.08)
    assert total_energy(p, 4, 1e9, 1e9) == pytest.approx(base_e + 0.24)
    # A rate of 0 or None leaves the link out, as in the paper.
    for rate in (0.0, None):
        q = dataclasses.replace(PAPER, payload_bytes=1e6, link_rate_bps=rate, tx_power_w=3.0)
        assert comm_delay(q) == 0.0 and comm_energy(q) == 0.0


@pytest.mark.parametrize('field, value', [
    ('f_max', 0.0), ('f_max', -1e9), ('f_max_server', 0.0), ('n_flop', -1.0),
    ('n_flop_server', math.nan), ('psi', math.inf), ('c', 0.0), ('eta', -1.0),
    ('b_max', 0), ('b_max', 33), ('b_max', 2.5), ('b_orig', 0), ('payload_bytes', -1.0),
    ('link_rate_bps', -5.0), ('tx_power_w', math.nan), ('psi_server', True),
])
def test_bad_parameters_raise_value_error_naming_them(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(PAPER, **{field: value})


def test_bad_operating_points_raise():
    with pytest.raises(ValueError, match='bit_width'):
        agent_delay(PAPER, 0.5, 1e9)
    with pytest.raises(ValueError, match='bit_width'):
        agent_delay(PAPER, math.nan, 1e9)
    with pytest.raises(ValueError, match='f'):
        agent_delay(PAPER, 4, 3e9)  # above f_max
    with pytest.raises(ValueError, match='f_server'):
        server_delay(PAPER, -1.0)


def test_nominal_cost_is_eq4_workload():
    cost = NominalAgentCost.from_params(PAPER)
    assert cost.cycles(16) == pytest.approx(16 / 32 * 381.6e9 / 32)
    assert cost.cycles_table(4) == tuple(cost.cycles(b) for b in range(1, 5))


def test_calibrated_cost_interpolates_and_scales_with_frequency():
    cost = CalibratedAgentCost({2: 0.10, 4: 0.14, 8: 0.30}, f_ref=1e9)
    assert cost.latency_at_ref(3) == pytest.approx(0.12)
    assert cost.latency_at_ref(6) == pytest.approx(0.22)
    assert cost.latency_at_ref(1) == pytest.approx(0.10)  # nearest measurement, no extrapolation
    assert cost.latency_at_ref(16) == pytest.approx(0.30)
    assert cost.cycles(4) == pytest.approx(0.14e9)
    # Delay scales as 1/f (eq. (4)); energy is eq. (6) with these cycles.
    assert agent_delay(PAPER, 4, 0.5e9, cost) == pytest.approx(0.28)
    assert agent_delay(PAPER, 4, 1e9, cost) == pytest.approx(0.14)
    assert agent_energy(PAPER, 4, 2e9, cost) == pytest.approx(1.0 * 2e-29 * 0.14e9 * 4e18)


def test_calibrated_cost_validation():
    with pytest.raises(ValueError, match='latency_s'):
        CalibratedAgentCost({}, f_ref=1e9)
    with pytest.raises(ValueError, match=r'latency_s\[4\]'):
        CalibratedAgentCost({4: -0.1}, f_ref=1e9)
    with pytest.raises(ValueError, match='f_ref'):
        CalibratedAgentCost({4: 0.1}, f_ref=0.0)
    with pytest.raises(ValueError, match='bit-width'):
        CalibratedAgentCost({0: 0.1}, f_ref=1e9)
    # Equal measurements build equal (hashable) models.
    a = CalibratedAgentCost({4: 0.1, 2: 0.05}, 1e9)
    assert a == CalibratedAgentCost([(2, 0.05), (4, 0.1)], 1e9) and hash(a)


@settings(max_examples=60, deadline=None)
@given(b=st.integers(1, 16), f=st.floats(1e6, 2e9), g=st.floats(1e6, 10e9),
       payload=st.floats(0, 1e7, allow_subnormal=False), rate=st.floats(1e6, 1e9))
def test_solver_hot_path_matches_public_equations(b, f, g, payload, rate):
    params = dataclasses.replace(PAPER, payload_bytes=payload, link_rate_bps=rate,
                                 tx_power_w=1.5)
    problem = PlanningProblem(params, 10.0, 1.0, 1.0)
    point = evaluate_point(problem, b, f, g)
    assert point.delay == pytest.approx(total_delay(params, b, f, g), rel=1e-12)
    assert point.energy == pytest.approx(total_energy(params, b, f, g), rel=1e-12)


def test_affine_cost_is_the_measured_line_at_its_reference_clock():
    cost = AffineAgentCost(t_fixed=0.004, t_plane=0.001, f_ref=2e9)
    assert cost.cycles(3) == pytest.approx(0.007 * 2e9)
    params = SystemParams(n_flop=1e9, n_flop_server=1e9, f_max=2e9, f_min=2e9)
    # at the reference clock the delay is the measured latency; eq. (4)'s 1/f scaling elsewhere
    assert agent_delay(params, 5, 2e9, cost) == pytest.approx(0.009)
    fast = dataclasses.replace(params, f_max=4e9, f_min=0.0)
    assert agent_delay(fast, 5, 4e9, cost) == pytest.approx(0.0045)
    assert agent_energy(params, 5, 2e9, cost) == pytest.approx(
        params.eta * params.psi * 0.009 * 2e9 * 4e18)
    # eq. (4) is the special case t_fixed = 0, t_plane = N_FLOP / (b_orig c f)
    nominal = NominalAgentCost(n_flop=64e9, b_orig=32, c=32.0)
    line = AffineAgentCost(0.0, 64e9 / (32 * 32.0 * 2e9), 2e9)
    assert all(line.cycles(b) == pytest.approx(nominal.cycles(b)) for b in range(1, 9))


@pytest.mark.parametrize('kwargs, needle', [
    ({'t_fixed': -1e-3, 't_plane': 1e-3, 'f_ref': 1e9}, 't_fixed'),
    ({'t_fixed': 1e-3, 't_plane': -1e-3, 'f_ref': 1e9}, 't_plane'),
    ({'t_fixed': 0.0, 't_plane': 0.0, 'f_ref': 1e9}, 'at b = 1 must be > 0'),
    ({'t_fixed': 1e-3, 't_plane': 0.0, 'f_ref': 0.0}, 'f_ref'),
])
def test_affine_cost_refuses_impossible_lines(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        AffineAgentCost(**kwargs)


def test_clock_floors_are_validated_and_enforced():
    with pytest.raises(ValueError, match='f_min must be <= f_max'):
        SystemParams(n_flop=1e9, n_flop_server=1e9, f_max=1e9, f_min=2e9)
    with pytest.raises(ValueError, match='f_min_server'):
        SystemParams(n_flop=1e9, n_flop_server=1e9, f_min_server=-1.0)
    params = SystemParams(n_flop=1e9, n_flop_server=1e9, f_max=2e9, f_min=1e9,
                          f_max_server=4e9, f_min_server=4e9)
    with pytest.raises(ValueError, match='clock floor'):
        agent_delay(params, 4, 0.5e9)
    with pytest.raises(ValueError, match='clock floor'):
        server_delay(params, 3e9)
    assert server_delay(params, 4e9) == pytest.approx(params.server_cycles / 4e9)
