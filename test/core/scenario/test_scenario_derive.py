"""The demo scenario derived from measured costs: each phase makes the real solver pick its b."""

import pytest

from qcoinf_ros.core.codec.cost import CostMessage
from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.energy_policy import EnergyBudgetPolicy
from qcoinf_ros.core.planner.measured import clock_range, measured_model, UNKNOWN_CLOCK_HZ
from qcoinf_ros.core.planner.presets import load_preset
from qcoinf_ros.core.scenario import BatteryDrain
from qcoinf_ros.core.scenario.derive import derive_scenario, quality_floor
from qcoinf_ros.core.scenario.schedule import PiecewiseConstant

pytestmark = pytest.mark.check


def _cost(part, seconds, t_fixed, t_plane, f_ref=2.4e9):
    return CostMessage(part, 'm', 'lut', 'avx2', 1, tuple(seconds), t_fixed, t_plane, 0.99,
                       f_ref, 'cpu', False, 'uniform', len(seconds), 0)


def _model(b_max=8, t_fixed=0.012, t_plane=0.006, server=0.04):
    params = load_preset('paper', 'git').params
    import dataclasses
    params = dataclasses.replace(params, b_max=b_max)
    agent = _cost('agent', [t_fixed + b * t_plane for b in range(1, b_max + 1)], t_fixed,
                  t_plane)
    return measured_model(params, agent, _cost('server', [server], server, 0.0))


BATTERY = BatteryDrain(initial_percentage=0.9, drain_per_second=0.02, floor_percentage=0.1)


@pytest.mark.parametrize('margin', [0.0, 0.2])
@pytest.mark.parametrize('floor', [3, 5, 7])
def test_each_phase_forces_its_bit_width_with_the_real_solver(margin, floor):
    params, agent_cost, _ = _model()
    derived = derive_scenario(params, agent_cost, floor=floor, duration=40.0, battery=BATTERY,
                              reserve=0.1, delay_margin=margin)
    policy = EnergyBudgetPolicy('linear', derived.e0_full, derived.e0_min, 0.1)
    deadline = PiecewiseConstant(derived.deadline_times, derived.deadline_values)
    solver = make_solver('exact')

    def chosen(t):
        problem = PlanningProblem(params, 1.0, deadline.at(t) / (1 + margin),
                                  policy.budget(BATTERY.at(t).percentage), agent_cost)
        plan = solver.solve(problem)
        assert plan.feasible, (t, plan.reason)
        return plan.bit_width

    mid = (8 + floor + 1) // 2
    deadline_phases = [p for p in derived.phases if p.binding == 'deadline']
    assert [p.bit_width for p in deadline_phases] == [b for b in dict.fromkeys([mid, floor])
                                                      if b < 8]
    for phase in derived.phases[:-1]:
        for t in (phase.start + 0.01, 0.5 * (phase.start + phase.end), phase.end - 0.01):
            assert chosen(t) == phase.bit_width, (phase, t)
    energy = derived.phases[-1]
    assert energy.binding == 'energy' and energy.start == pytest.approx(24.0)
    seen = [chosen(energy.start + k * 0.25) for k in range(int(16 / 0.25))] + [chosen(40.0)]
    assert seen[0] == 8 and seen[-1] == floor
    assert seen == sorted(seen, reverse=True)  # b only steps down as the battery drains
    assert set(seen) == set(range(floor, 9))  # every bit-width in between is visited
    # the replanning tolerance is fine enough to see each step
    steps = [derived.energies[b] - derived.energies[b - 1] for b in range(floor, 8)]
    assert derived.replan_tolerance * derived.energies[-1] < min(steps)


def test_deadlines_leave_the_margin_as_headroom():
    params, agent_cost, _ = _model()
    derived = derive_scenario(params, agent_cost, floor=3, duration=40.0, battery=BATTERY,
                              delay_margin=0.2)
    for phase in derived.phases:
        b = phase.bit_width
        assert phase.t0 >= 1.2 * derived.delays[b - 1]  # the plan's T(b) with 20 % to spare
        if phase.binding == 'deadline':
            assert phase.t0 < 1.2 * derived.delays[b]  # and b + 1 does not fit
    lines = derived.describe()
    assert len(lines) == len(derived.phases) and 'b steps down to 3' in lines[-1]


def test_no_phase_asks_for_less_than_b_max_when_the_floor_is_b_max():
    params, agent_cost, _ = _model()
    derived = derive_scenario(params, agent_cost, floor=8, duration=40.0, battery=BATTERY)
    assert [p.bit_width for p in derived.phases] == [8]
    assert derived.e0_min == derived.e0_full > derived.energies[-1]


def test_bad_inputs_raise_value_errors():
    params, agent_cost, _ = _model()
    with pytest.raises(ValueError, match='floor'):
        derive_scenario(params, agent_cost, floor=9, duration=40.0, battery=BATTERY)
    with pytest.raises(ValueError, match='loose'):
        derive_scenario(params, agent_cost, floor=3, duration=40.0, battery=BATTERY, loose=0.9)
    flat = BatteryDrain(initial_percentage=0.9, drain_per_second=0.0)
    with pytest.raises(ValueError, match='battery must drain'):
        derive_scenario(params, agent_cost, floor=3, duration=40.0, battery=flat)
    params, _, _ = _model()
    falling = measured_model(params, _cost('agent', [0.03 - 0.001 * b for b in range(1, 9)],
                                           0.03, 0.0), _cost('server', [0.04], 0.04, 0.0))[1]
    with pytest.raises(ValueError, match='must not fall with b'):
        derive_scenario(params, falling, floor=3, duration=40.0, battery=BATTERY)


def test_a_cost_flat_from_the_floor_up_leaves_b_max_throughout_and_says_why():
    params, flat_cost, _ = _model(t_plane=0.0)
    derived = derive_scenario(params, flat_cost, floor=3, duration=40.0, battery=BATTERY)
    assert [p.bit_width for p in derived.phases] == [8] and derived.rungs == (8,)
    assert 'b = 1, 2, 3, 4, 5, 6, 7 cost what the next bit-width costs' in derived.describe()[0]


@pytest.mark.parametrize('floor, targets', [(2, [3, 2]), (3, [3]), (4, [])])
def test_a_plateau_is_never_a_target_and_the_real_solver_agrees(floor, targets):
    """Lookup kernels up to b = 4, then the flat int8 kernels: 4..7 cannot be forced."""
    params, _, _ = _model()
    seconds = [0.012 + 0.006 * min(b, 4) for b in range(1, 9)]
    params, agent_cost, _ = measured_model(params, _cost('agent', seconds, 0.012, 0.006),
                                           _cost('server', [0.04], 0.04, 0.0))
    derived = derive_scenario(params, agent_cost, floor=floor, duration=40.0, battery=BATTERY,
                              reserve=0.1)
    assert derived.rungs == (1, 2, 3, 8)
    assert [p.bit_width for p in derived.phases if p.binding == 'deadline'] == targets
    policy = EnergyBudgetPolicy('linear', derived.e0_full, derived.e0_min, 0.1)
    deadline = PiecewiseConstant(derived.deadline_times, derived.deadline_values)
    solver = make_solver('exact')

    def chosen(t):
        plan = solver.solve(PlanningProblem(params, 1.0, deadline.at(t),
                                            policy.budget(BATTERY.at(t).percentage),
                                            agent_cost))
        return plan.bit_width

    for phase in derived.phases:
        if phase.binding != 'energy':
            assert chosen(0.5 * (phase.start + phase.end)) == phase.bit_width, phase
    seen = {chosen(t / 4) for t in range(161)}
    assert seen <= set(derived.rungs) and 8 in seen
    if targets:
        assert min(seen) == targets[-1] == derived.floor  # the energy phase ends there
    assert ('b = 4, 5, 6, 7 cost what the next bit-width costs' in derived.describe()[0])


def test_quality_floor_is_the_lowest_b_before_the_collapse():
    rows = [(8, 400.0), (7, 401.0), (6, 398.0), (5, 390.0), (4, 300.0), (3, 380.0), (2, 5.0)]
    assert quality_floor(rows, keep=0.9) == 5  # b = 4 collapses, b = 3 does not count
    assert quality_floor(rows, keep=0.7) == 3
    assert quality_floor([(8, 10.0)]) == 8
    with pytest.raises(ValueError, match='empty'):
        quality_floor([])


def test_measured_model_fixes_clocks_at_the_measured_one_unless_a_range_is_given():
    params, agent_cost, text = _model()
    assert params.f_min == params.f_max == 2.4e9 == agent_cost.f_ref
    assert params.f_min_server == params.f_max_server == 2.4e9
    assert params.server_cycles == pytest.approx(0.04 * 2.4e9)
    assert 'agent measured (lut/avx2' in text and 'server measured (40 ms)' in text
    cost = _cost('agent', [0.01], 0.01, 0.0, f_ref=None)
    assert clock_range(cost) == (UNKNOWN_CLOCK_HZ,) * 3
    assert clock_range(cost, 1e9, 2e9) == (2e9, 1e9, 2e9)
    nominal, none, text = measured_model(load_preset('paper', 'git').params)
    assert none is None and 'agent nominal' in text and 'server nominal' in text


def test_local_mode_plans_the_robot_alone_encode_plus_local_decode():
    """Issue 27: the local decode replaces the server, on the robot's clock and power model."""
    import dataclasses

    from qcoinf_ros.core.system.model import total_delay, total_energy
    base = dataclasses.replace(load_preset('paper', 'git').params, b_max=8, payload_bytes=4096.0,
                               link_rate_bps=1e6, tx_power_w=1.0)
    agent = _cost('agent', [0.012 + b * 0.006 for b in range(1, 9)], 0.012, 0.006, f_ref=1.5e9)
    server = _cost('server', [0.04], 0.04, 0.0)
    local = _cost('server', [0.09], 0.09, 0.0, f_ref=1.5e9)
    split, cost, text = measured_model(base, agent, server)
    robot, cost_local, local_text = measured_model(base, agent, server, local=local)
    assert 'local mode: the decoder on the robot (90 ms)' in local_text
    assert 'server measured' not in local_text and 'server measured' in text
    # clocks: the robot's (the local decode measured at 1.5 GHz), fixed unless a range is given
    assert robot.f_min_server == robot.f_max_server == 1.5e9 == robot.f_max
    # delay: encode + local decode, no upload; at the measured clock exactly the measured times
    for b in (1, 4, 8):
        assert total_delay(robot, b, 1.5e9, 1.5e9, cost_local) == pytest.approx(
            0.012 + b * 0.006 + 0.09)
        assert total_delay(split, b, 1.5e9, 2.4e9, cost) == pytest.approx(
            0.012 + b * 0.006 + 0.04 + 8 * 4096 / 1e6)
    # energy: the robot's power model (eta psi f^2 per cycle) for both parts, no radio
    k = base.eta * base.psi * 1.5e9 ** 2
    assert total_energy(robot, 4, 1.5e9, 1.5e9, cost_local) == pytest.approx(
        k * (0.036 + 0.09) * 1.5e9)
    # a range of the agent's clock is the local decode's range too
    ranged, _, _ = measured_model(base, agent, server, agent_range=(1e9, 2e9), local=local)
    assert (ranged.f_min_server, ranged.f_max_server) == (1e9, 2e9)


def test_the_floor_holds_when_the_agent_cost_grows_while_it_runs():
    """A cost republished 12 % higher (cost_drift) must not push a plan below the floor."""
    params, agent_cost, _ = _model()
    derived = derive_scenario(params, agent_cost, floor=3, duration=40.0, battery=BATTERY,
                              reserve=0.1)
    grown, grown_cost, _ = _model(t_fixed=1.12 * 0.012, t_plane=1.12 * 0.006)
    policy = EnergyBudgetPolicy('linear', derived.e0_full, derived.e0_min, 0.1)
    deadline = PiecewiseConstant(derived.deadline_times, derived.deadline_values)
    solver = make_solver('exact')
    for t in [0.25 * k for k in range(161)]:
        problem = PlanningProblem(grown, 1.0, deadline.at(t),
                                  policy.budget(BATTERY.at(t).percentage), grown_cost)
        plan = solver.solve(problem)
        assert plan.feasible and plan.bit_width >= 3, (t, plan)
    floor_phase = [p for p in derived.phases if p.bit_width == 3][0]
    step = derived.delays[3] - derived.delays[2]
    assert floor_phase.t0 == pytest.approx(derived.delays[2] + 0.75 * step)
    with pytest.raises(ValueError, match='floor_headroom'):
        derive_scenario(params, agent_cost, floor=3, duration=40.0, battery=BATTERY,
                        floor_headroom=1.0)
