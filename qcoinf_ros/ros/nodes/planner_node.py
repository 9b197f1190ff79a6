"""
Planner node: re-solves (P1) whenever the battery, the deadline or a parameter changes.

Topics in: ``battery_state`` (sensor_msgs/BatteryState: ``percentage`` 0..1 or 0..100 by
``battery_percentage_scale``, or ``charge / capacity`` when it is NaN; a message that says
neither holds the plan, :mod:`qcoinf_ros.core.planner.battery`) -> E0 through the energy policy;
``qcoinf/deadline`` (std_msgs/Float64, seconds) -> T0; ``qcoinf/agent_model`` (qcoinf_ros/ModelInfo
from the agent encoder) -> lambda fitted to the agent model's weights, used unless the ``lam``
parameter is set; with ``use_server_queue_delay``, ``qcoinf/server_queue_delay`` (std_msgs/Float64,
the edge decoder's measured queueing delay t_q [s]) -> the delay budget of (30a) becomes T0 - t_q
(:func:`qcoinf_ros.core.serving.effective_deadline`); ``delay_margin`` m plans with T (1 + m) <=
T0, headroom for the jitter of measured times. ``min_bit_width`` is a quality floor: the plan keeps
``b >= min_bit_width`` (below it a model's captions collapse), and when no such ``b`` meets the
budgets it publishes ``b = min_bit_width`` as infeasible rather than going lower. ``link_rate_bps``
and ``payload_bytes`` set the communication term t_comm = 8 payload / rate added to the delay of
eq. (8) (:mod:`qcoinf_ros.core.system.model`; 0 keeps the preset's values).

Cost model (``cost_model``, :mod:`qcoinf_ros.core.planner.measured`): ``measured`` (the default)
plans with what this machine measured:
``qcoinf/agent_cost`` (qcoinf_ros/AgentCost: the agent encoder's encode time per bit-width on
the kernel it runs at each ``b``, the measured table,
:class:`~qcoinf_ros.core.system.model.CalibratedAgentCost`, the documented deviation from eq. (4);
its power counts the kernels' threads) and
``qcoinf/server_cost`` (the edge decoder's caption time), each at the clock it was measured
at. The clocks the planner may choose are ``[agent_f_min, agent_f_max]`` and
``[server_f_min, server_f_max]``; left at 0 they are fixed at the measured clock (a laptop or a
robot whose clocks nothing sets: plan only the bit-width).
Until a measurement arrives, and for whatever is not measured, the preset's nominal model
(eqs. (4)-(5) with its FLOP counts and hardware) is used and the diagnostics say so.
``nominal`` always plans with the preset (the paper's setting).

Mode (issue 27): ``qcoinf/link_state`` (the agent's view of the edge server) and
``qcoinf/local_cost`` (its local decoder's caption time, published when local mode is ready).
While the link is ``LOST`` and a local cost is known, the agent captions on the robot, and the
planner plans for that (``measured`` only): the local decode takes the server's place with the
robot's clock range and power model, no upload and no server queueing delay
(:func:`~qcoinf_ros.core.planner.measured.measured_model`); when the link is back it plans the
split again. Each change of mode re-plans.
Topics out (reliable, transient local): ``qcoinf/bit_width`` (std_msgs/UInt8),
``qcoinf/frequency_profile`` (qcoinf_ros/FrequencyProfile, :mod:`qcoinf_ros.core.codec.plan`); and
``/diagnostics`` with the plan, predicted T and E, D^U, D^L and feasibility. An infeasible
instance publishes the solver's safest fallback with ``feasible: false`` and an ERROR status.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Float64, String, UInt8

from qcoinf_ros.core.codec.cost import CostMessage
from qcoinf_ros.core.codec.link_state import decode_link_state
from qcoinf_ros.core.codec.plan import ProfileMessage
from qcoinf_ros.core.planner import make_solver, PlanningProblem
from qcoinf_ros.core.planner.battery import ChargeReader
from qcoinf_ros.core.planner.energy_policy import EnergyBudgetPolicy, POLICIES
from qcoinf_ros.core.planner.measured import measured_model
from qcoinf_ros.core.planner.presets import load_preset
from qcoinf_ros.core.serving import effective_deadline
from qcoinf_ros.core.status_names import PLANNER, resolve_hardware_id
from qcoinf_ros.core.validation import physical_quantity_reason
from qcoinf_ros.ros.battery import BATTERY_SCALE_PARAM
from qcoinf_ros.ros.diagnostics import ERROR, HARDWARE_ID_PARAM, OK, publish_status
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.eventlog import EventLog
from qcoinf_ros.ros.messages import (
    AgentCost, cost_from_msg, FrequencyProfile, model_from_msg, ModelInfo, profile_msg)
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.qos import LATCHED, SENSOR, subscribe_state
from qcoinf_ros.ros.spin import run_node

#: Longest deadline or queueing delay taken from a topic [s] (a day).
MAX_SECONDS = 86400.0

SOLVERS = ('exact', 'sca', 'fixed', 'random', 'profiles')
COST_MODELS = ('measured', 'nominal')

PARAMS = [
    ParamSpec('preset', 'paper', 'Planner preset (config/presets/<name>.yaml) or a YAML path.',
              read_only=True),
    ParamSpec('model', '', "Model entry of the preset ('' = the preset's default).",
              read_only=True),
    ParamSpec('b_max', 0, "B_max: largest bit-width; 0 adopts the agent encoder's (from "
              "qcoinf/agent_model, the preset's until it arrives).", low=0, high=16,
              read_only=True),
    ParamSpec('min_bit_width', 1, 'Quality floor b_min: plans never use fewer bits (1: the '
              "paper's {1..B_max}); with no b >= b_min within the budgets the plan is b_min at "
              'the clocks that break them least, published as infeasible. Capped at B_max.',
              low=1, high=16),
    ParamSpec('solver', 'exact', 'Solver of (P1).', choices=SOLVERS),
    ParamSpec('lam', 0.0, 'Exponential weight-magnitude parameter lambda, eq. (3); 0 uses the '
              "agent model's fitted value (qcoinf/agent_model), else the preset's.",
              low=0.0, high=1e9),
    ParamSpec('default_t0', 0.0, 'Deadline T0 [s] until a qcoinf/deadline message arrives; 0 '
              "uses the preset's.", low=0.0, high=1e6),
    ParamSpec('energy_policy', 'linear', 'How the state of charge becomes E0.',
              choices=POLICIES),
    ParamSpec('e0_full', 0.0, "E0 [J] at a full battery; 0 uses the preset's e0.",
              low=0.0, high=1e9),
    ParamSpec('e0_min', 0.0, 'E0 [J] at or below the reserve; 0 means e0_full / 4.',
              low=0.0, high=1e9),
    BATTERY_SCALE_PARAM,
    ParamSpec('battery_reserve', 0.1, 'State of charge kept in reserve [0..1).',
              low=0.0, high=0.99),
    ParamSpec('battery_high', 0.6, "Upper threshold of the 'step' policy [0..1).",
              low=0.0, high=0.99),
    ParamSpec('replan_tolerance', 0.01, 'Re-plan on a battery change only when E0 moves by '
              'more than this fraction.', low=0.0, high=1.0),
    ParamSpec('planning_period', 0.1, 'At most one plan per this many seconds: inputs that '
              'arrive sooner are coalesced into the next plan, the newest values winning (a '
              'flooded input topic cannot flood the planner); 0 plans on every input.',
              low=0.0, high=10.0, read_only=True),
    ParamSpec('plan_log_rate', 1.0, 'Plan lines logged per second on average (bursts of 5); '
              'the rest are counted and summarised every 10 s. A plan turning infeasible is '
              'an ERROR line, one that stays infeasible an INFO line.', low=0.01, high=1000.0,
              read_only=True),
    ParamSpec('link_rate_bps', 0.0, 'Agent -> server link rate [bit/s] of the communication '
              "term 8 payload_bytes / link_rate_bps; 0 uses the preset's.", low=0.0, high=1e12),
    ParamSpec('payload_bytes', 0.0, "Embedding bytes sent per inference; 0 uses the preset's.",
              low=0.0, high=1e10),
    ParamSpec('use_server_queue_delay', False, 'Plan with T0 minus the queueing delay the edge '
              'decoder measures (qcoinf/server_queue_delay).'),
    ParamSpec('delay_margin', 0.0, 'Plan the delay with this headroom: T(b) (1 + delay_margin) '
              '<= T0, for the jitter of measured times (0: eq. (30a) as in the paper).',
              low=0.0, high=10.0),
    ParamSpec('cost_model', 'measured', 'measured: plan with qcoinf/agent_cost and '
              "qcoinf/server_cost (this machine's measured times; the preset until they arrive); "
              "nominal: the preset's eqs. (4)-(5).", choices=COST_MODELS),
    ParamSpec('agent_f_min', 0.0, 'Lowest agent clock [Hz] the planner may choose with measured '
              'costs; 0 (with agent_f_max 0): fixed at the measured clock.', low=0.0, high=1e12),
    ParamSpec('agent_f_max', 0.0, 'Highest agent clock [Hz] with measured costs; 0: the '
              'measured clock.', low=0.0, high=1e12),
    ParamSpec('server_f_min', 0.0, 'Lowest server clock [Hz] with measured costs; 0 (with '
              'server_f_max 0): fixed at the measured clock.', low=0.0, high=1e12),
    ParamSpec('server_f_max', 0.0, 'Highest server clock [Hz] with measured costs; 0: the '
              'measured clock.', low=0.0, high=1e12),
    HARDWARE_ID_PARAM,
]


class PlannerNode(Node):
    """Publishes the bit-width and frequency profile that solve (P1) for the current budgets."""

    def __init__(self, **kwargs):
        super().__init__('planner_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        self._hardware_id = resolve_hardware_id(self._p['hardware_id'])
        preset = load_preset(self._p['preset'], self._p['model'] or None)
        self._params, self._profiles, self._defaults = preset
        if self._p['b_max']:
            self._params = dataclasses.replace(self._params, b_max=self._p['b_max'])
        self._preset_params = self._params
        self._params = self._link_params(self._p)
        self._queue_delay = 0.0
        self._agent_cost: CostMessage | None = None
        self._server_cost: CostMessage | None = None
        self._local_cost: CostMessage | None = None
        self._link_lost = False  # the agent's link to the edge server is LOST
        self._solver = self._make_solver(self._p['solver'])
        self._policy = self._make_policy(self._p)
        self._t0 = self._p['default_t0'] or float(self._defaults.get('t0', 1.0))
        self._battery_pct: float | None = None
        self._charge = ChargeReader(self._p['battery_percentage_scale'])
        self._battery_unknown = False  # the last battery message did not say its charge
        self._model_lam: float | None = None
        self._e0 = self._policy.budget(1.0)
        self._plan = None
        self._plan_feasible: bool | None = None
        self._drops = DropLog(self.get_logger())
        self._bit_pub = self.create_publisher(UInt8, 'qcoinf/bit_width', LATCHED)
        self._profile_pub = self.create_publisher(FrequencyProfile, 'qcoinf/frequency_profile',
                                                  LATCHED)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(BatteryState, 'battery_state', self._on_battery, SENSOR)
        # state topics: latching and default-QoS publishers both match (subscribe_state)
        subscribe_state(self, Float64, 'qcoinf/deadline', self._on_deadline)
        subscribe_state(self, ModelInfo, 'qcoinf/agent_model', self._on_agent_model)
        subscribe_state(self, Float64, 'qcoinf/server_queue_delay', self._on_queue_delay)
        for part in ('agent', 'server', 'local'):
            subscribe_state(self, AgentCost, f'qcoinf/{part}_cost',
                            functools.partial(self._on_cost, part))
        subscribe_state(self, String, 'qcoinf/link_state', self._on_link_state)
        self.create_timer(1.0, self._publish_diagnostics)
        self._events = EventLog(self.get_logger(), per_second=self._p['plan_log_rate'])
        self._pending: str | None = None  # the newest trigger waiting for the next plan
        self._coalesced = 0
        self._last_plan = -math.inf  # steady time of the last plan [s]
        # on the steady clock: coalescing must not wait for /clock under use_sim_time
        self.create_timer(max(self._p['planning_period'], 0.05), self._flush,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        install_validator(self, PARAMS, extra=self._check, on_change=self._on_change)
        self.replan('start')

    # -- configuration -------------------------------------------------------------------
    @property
    def lam(self) -> float:
        return self._p['lam'] or self._model_lam or float(self._defaults.get('lam', 1.0))

    @property
    def lam_source(self) -> str:
        if self._p['lam']:
            return 'parameter'
        return 'agent model weights' if self._model_lam else 'preset'

    def _make_solver(self, name: str):
        if name == 'profiles':
            if not self._profiles:
                raise ValueError(f'preset {self._p["preset"]!r} defines no profiles')
            return make_solver('profiles', profiles=self._profiles)
        return make_solver(name)

    def _make_policy(self, p: dict) -> EnergyBudgetPolicy:
        e0_full = p['e0_full'] or float(self._defaults.get('e0', 1.0))
        e0_min = p['e0_min'] or e0_full / 4.0
        return EnergyBudgetPolicy(p['energy_policy'], e0_full=e0_full, e0_min=e0_min,
                                  reserve=p['battery_reserve'], high=p['battery_high'])

    def _link_params(self, p: dict):
        """Return the preset's system parameters with the link parameters set (non-zero)."""
        link = {k: p[k] for k in ('link_rate_bps', 'payload_bytes') if p[k]}
        return dataclasses.replace(self._preset_params, **link) if link else self._preset_params

    def _check(self, proposed: dict) -> str | None:
        for part in ('agent', 'server'):
            low, high = proposed[f'{part}_f_min'], proposed[f'{part}_f_max']
            if high and low > high:
                return f'{part}_f_min ({low:g}) must not exceed {part}_f_max ({high:g})'
        try:
            self._make_policy(proposed)
            self._link_params(proposed)
            if proposed['solver'] == 'profiles' and not self._profiles:
                return f'preset {proposed["preset"]!r} defines no profiles'
        except ValueError as exc:
            return str(exc)
        return None

    def _on_change(self, changed: dict) -> None:
        self._p.update(changed)
        if 'solver' in changed:
            self._solver = self._make_solver(self._p['solver'])
        self._policy = self._make_policy(self._p)
        self._params = self._link_params(self._p)
        if self._battery_pct is not None:
            self._e0 = self._policy.budget(self._battery_pct)
        self.replan('parameters ' + ', '.join(sorted(changed)))

    # -- inputs --------------------------------------------------------------------------
    def _on_battery(self, msg: BatteryState) -> None:
        try:
            soc = self._charge.state_of_charge(msg.percentage, msg.charge, msg.capacity)
            e0 = None if soc is None else self._policy.budget(soc)
        except ValueError as exc:
            self._drops.drop('battery_state.invalid', str(exc))
            return
        if soc is None:  # NaN percentage without a usable charge/capacity: hold the plan
            if not self._battery_unknown:
                self.get_logger().warning(
                    'battery state unknown (percentage NaN, no valid charge/capacity): holding '
                    'the plan of the last known charge')
            self._battery_unknown = True
            return
        if self._battery_unknown:
            self.get_logger().info(f'battery state known again: {soc:.1%}')
        self._battery_unknown = False
        self._battery_pct = soc
        if self._plan is None or abs(e0 - self._e0) > self._p['replan_tolerance'] * self._e0:
            self._e0 = e0
            self.replan(f'battery {soc:.1%}')

    def _on_agent_model(self, msg: ModelInfo) -> None:
        try:
            info = model_from_msg(msg)
        except ValueError as exc:
            self._drops.drop('agent_model.unreadable', f'unreadable agent model info: {exc}')
            return
        lam, b_max = info.lam, info.b_max
        adopted = False
        if b_max != self._params.b_max:
            if self._p['b_max'] == 0 and b_max <= self._preset_params.b_orig:
                # adopted as lambda is: the plan's bit-widths are then those the agent has
                self._preset_params = dataclasses.replace(self._preset_params, b_max=b_max)
                self._params = self._link_params(self._p)
                adopted = True
            else:
                self.get_logger().warning(
                    f'the agent stores b_max = {b_max} but the planner plans with B_max = '
                    f'{self._params.b_max} (parameter b_max, or the preset b_orig '
                    f'{self._preset_params.b_orig}): bit-widths above b_max are refused by it')
        if lam != self._model_lam or adopted:
            self._model_lam = lam
            self.replan(f'agent model lambda {lam:.4g}, B_max {self._params.b_max}')

    def _on_queue_delay(self, msg: Float64) -> None:
        reason = physical_quantity_reason(msg.data, positive=False, high=MAX_SECONDS)
        if reason is not None:
            self._drops.drop('server_queue_delay.range', f'a queueing delay [s] {reason}')
            return
        t_q = float(msg.data)
        old, self._queue_delay = self._queue_delay, t_q
        if (self._p['use_server_queue_delay']
                and abs(t_q - old) > self._p['replan_tolerance'] * self._t0):
            self.replan(f'server queueing delay {1e3 * t_q:.1f} ms')

    def _on_cost(self, part: str, msg: AgentCost) -> None:
        """Take a measured cost: ``agent``, ``server`` or ``local`` (a decoder's, on the robot)."""
        expected = 'agent' if part == 'agent' else 'server'
        try:
            cost = cost_from_msg(msg)
            if cost.part != expected:
                raise ValueError(f'a {cost.part} cost on the {part} cost topic')
        except ValueError as exc:
            self._drops.drop(f'{part}_cost.unreadable', f'unreadable {part} cost: {exc}')
            return
        old = getattr(self, f'_{part}_cost')
        if old is not None and dataclasses.replace(old, cached=cost.cached) == cost:
            return  # the same measurement again (a restarted node re-publishing its cache)
        setattr(self, f'_{part}_cost', cost)
        if self._p['cost_model'] == 'measured' and (part != 'local' or self._link_lost):
            self.replan(f'measured {part} cost ({cost.kernel}, '
                        f'{"cached" if cost.cached else "new"})')

    def _on_link_state(self, msg: String) -> None:
        """Take the agent's link state: a change between LOST and not re-plans the mode."""
        try:
            state = decode_link_state(msg.data).state
        except ValueError as exc:
            self._drops.drop('link_state.unreadable', f'unreadable link state: {exc}')
            return
        lost = state == 'LOST'
        if lost == self._link_lost:
            return
        before = self.mode
        self._link_lost = lost
        if self.mode != before:
            self.replan(f'link {state}: {self.mode} mode')

    @property
    def mode(self) -> str:
        """``local`` while the agent captions on the robot (link LOST, local cost known)."""
        local = (self._link_lost and self._local_cost is not None
                 and self._p['cost_model'] == 'measured')
        return 'local' if local else 'split'

    def planning_model(self):
        """``(SystemParams, agent cost model or None, description)`` for the next plan."""
        if self._p['cost_model'] == 'nominal':
            return self._params, None, f'nominal (preset {self._p["preset"]!r})'
        return measured_model(self._params, self._agent_cost, self._server_cost,
                              (self._p['agent_f_min'], self._p['agent_f_max']),
                              (self._p['server_f_min'], self._p['server_f_max']),
                              self._local_cost if self.mode == 'local' else None)

    @property
    def deadline(self) -> float:
        """Budget of (30a): T0 (less the server queueing delay when used) / (1 + delay_margin)."""
        t0 = self._t0
        if self._p['use_server_queue_delay'] and self.mode == 'split':
            t0 = effective_deadline(t0, self._queue_delay)
        return t0 / (1.0 + self._p['delay_margin'])

    def _on_deadline(self, msg: Float64) -> None:
        reason = physical_quantity_reason(msg.data, high=MAX_SECONDS)
        if reason is not None:  # a subnormal T0 once made the fallback divide by zero
            self._drops.drop('deadline.range', f'T0 [s] {reason}')
            return
        t0 = float(msg.data)
        if t0 != self._t0 or self._plan is None:
            self._t0 = t0
            self.replan(f'deadline {t0:g} s')

    # -- planning ------------------------------------------------------------------------
    def replan(self, why: str) -> None:
        """
        Plan now, or, within ``planning_period`` of the last plan, at its end (coalesced).

        The inputs are read when the plan is made, so the newest values win; ``why`` names the
        newest trigger and how many were coalesced into it.
        """
        period = self._p['planning_period']
        if period and time.monotonic() - self._last_plan < period:
            if self._pending is not None:
                self._coalesced += 1
            self._pending = why
            return
        self._plan_now(why)

    def _flush(self) -> None:
        """Timer: make the coalesced plan once its period is over; give due log summaries."""
        self._events.tick()
        if self._pending is not None and \
                time.monotonic() - self._last_plan >= self._p['planning_period']:
            why, n = self._pending, self._coalesced
            self._pending, self._coalesced = None, 0
            self._plan_now(why + (f' (+{n} coalesced)' if n else ''))

    def _plan_now(self, why: str) -> None:
        """Solve (P1) and publish; a model that yields no valid plan keeps the last one."""
        self._last_plan = time.monotonic()
        try:
            self._replan(why)
        except (ValueError, ArithmeticError) as exc:  # the inputs were all checked: a bug
            self._drops.drop('plan.failed', f'no valid plan for {why}: {exc!r}; the previous plan '
                             'stays in force')

    def _replan(self, why: str) -> None:
        start = time.perf_counter()
        try:
            params, agent_cost, self._cost_text = self.planning_model()
        except ValueError as exc:  # measured numbers the model cannot take: plan nominally
            self._drops.drop('cost.unusable', f'cannot plan with the measured costs: {exc}')
            params, agent_cost, self._cost_text = self._params, None, 'nominal (fallback)'
        problem = PlanningProblem(params, self.lam, self.deadline, self._e0, agent_cost,
                                  min(self._p['min_bit_width'], params.b_max))
        try:
            plan = self._solver.solve(problem)
        except ValueError as exc:  # e.g. preset profiles outside the measured clock range
            self._drops.drop('plan.preset_fallback', f'{exc}; planning with the preset instead')
            problem = PlanningProblem(self._params, self.lam, self.deadline, self._e0,
                                      b_min=min(self._p['min_bit_width'], self._params.b_max))
            self._cost_text = f'nominal (fallback: {exc})'
            plan = self._solver.solve(problem)
        elapsed_us = 1e6 * (time.perf_counter() - start)
        self._plan, self._plan_us, self._why = plan, elapsed_us, why
        point = plan.point if plan.feasible else plan.fallback
        profile = next((p for p in self._profiles if p.name == plan.profile), None)
        self._agent_delay = problem.agent_cycles[point.bit_width - 1] / point.f
        out = ProfileMessage(
            name=plan.profile or 'continuous', f=float(point.f), f_server=float(point.f_server),
            bit_width=int(point.bit_width), feasible=bool(plan.feasible),
            nvpmodel_mode=None if profile is None else profile.nvpmodel_mode,
            predicted_delay_s=float(point.delay), predicted_energy_j=float(point.energy),
            predicted_agent_delay_s=float(self._agent_delay))
        self._bit_pub.publish(UInt8(data=int(point.bit_width)))
        self._profile_pub.publish(profile_msg(out, self.get_clock().now().to_msg()))
        text = (f'plan ({why}): T0={self._t0:g} s E0={self._e0:.3g} J -> b={point.bit_width} '
                f'f={point.f / 1e9:.3g} GHz f~={point.f_server / 1e9:.3g} GHz, predicted T '
                f'{1e3 * point.delay:.3g} ms (agent {1e3 * self._agent_delay:.3g} ms) '
                f'[{self._p["solver"]}, {elapsed_us:.0f} us; {self._cost_text}]')
        previous = self._plan_feasible
        self._plan_feasible = plan.feasible
        if plan.feasible:
            self._events.log('plan', text)
        elif previous is not False:  # turned infeasible: a change of state
            self._events.log('infeasible plan', f'{text} INFEASIBLE, publishing the safest '
                             f'fallback: {plan.reason}', 'error')
        else:  # still infeasible: the same state, not another error
            self._events.log('plan', f'{text} still INFEASIBLE (safest fallback): '
                             f'{plan.reason}')
        self._publish_diagnostics()

    def _publish_diagnostics(self) -> None:
        self._drops.tick()  # a summary of the drops since the last one, when due
        plan = self._plan
        if plan is None:
            return
        point = plan.point if plan.feasible else plan.fallback
        values = {
            'preset': self._p['preset'], 'solver': self._p['solver'], 'trigger': self._why,
            'feasible': plan.feasible,
            'bit_width': point.bit_width, 'f_hz': point.f, 'f_server_hz': point.f_server,
            'b_min': min(self._p['min_bit_width'], self._params.b_max),
            'profile': plan.profile or 'continuous', 'T0_s': self._t0, 'E0_J': self._e0,
            'predicted_T_s': point.delay, 'predicted_E_J': point.energy,
            'predicted_agent_delay_s': self._agent_delay, 'cost_model': self._cost_text,
            'mode': self.mode,
            'D_upper': plan.d_upper, 'D_lower': plan.d_lower, 'objective': plan.objective,
            'lambda': self.lam, 'lambda_source': self.lam_source,
            'server_queue_delay_s': self._queue_delay, 'deadline_used_s': self.deadline,
            'comm_delay_s': self._params.comm_delay,
            'decision_time_us': round(self._plan_us, 1),
            'battery_percentage': self._battery_pct if self._battery_pct is not None else 'n/a',
            **self._drops.diagnostic_values(),
        }
        publish_status(self, self._diag_pub, PLANNER, OK if plan.feasible else ERROR,
                       'plan feasible' if plan.feasible else f'infeasible: {plan.reason}',
                       values, self._hardware_id)


def main(args=None) -> int:
    return run_node(PlannerNode, args, 'planner_node')


if __name__ == '__main__':
    sys.exit(main())
