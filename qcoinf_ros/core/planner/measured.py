"""
The planning model from measured costs: what the planner node plans with, as a pure function.

:func:`measured_model` turns the preset's :class:`~qcoinf_ros.core.system.model.SystemParams` and
the costs the agent and the decoder measured (:mod:`qcoinf_ros.core.codec.cost`) into the
parameters and agent cost model of (P1): the agent's encode time per bit-width, the table it
measured on the kernel it runs at each ``b`` (``seconds``; the lookup tables at low ``b``, the int8
kernels above, :mod:`qcoinf_ros.core.runtime`), becomes a :class:`~qcoinf_ros.core.system.model.
CalibratedAgentCost` at the clock it was measured at (the documented deviation from eq. (4):
``W_a(b) = t(b) f_ref``), so a prediction stays right where the kernel changes; the decoder's
caption time becomes the server cycles of eq. (5) (``W_s = t_s f_ref``). The agent's kernels run on
``threads`` cores: ``t(b)`` is their wall time, and every one of them draws eq. (6)'s power for it,
so the agent's power coefficient is ``threads x psi`` (eq. (6) per core; an upper bound: a thread
waiting for the others sleeps); the local decoder's likewise with its threads. Clocks are fixed at
the measured clock unless a range is given (a laptop, or a robot whose clocks nothing sets: the
planner then chooses only the bit-width). What was not measured keeps the preset's nominal model.
The planner node and the demo's scenario derivation (:mod:`qcoinf_ros.core.scenario.derive`) use
the same function, so they agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from qcoinf_ros.core.codec.cost import CostMessage
from qcoinf_ros.core.system.model import CalibratedAgentCost, SystemParams

__all__ = ['UNKNOWN_CLOCK_HZ', 'clock_range', 'measured_model']

#: Reference clock assumed for a measurement whose clock could not be read (the delay is then
#: the measured time exactly; energies scale with it through eq. (6)).
UNKNOWN_CLOCK_HZ = 1.0e9


def clock_range(cost: CostMessage, low: float = 0.0,
                high: float = 0.0) -> tuple[float, float, float]:
    """``(f_ref, f_min, f_max)`` of a measured part: fixed at f_ref unless a range is set."""
    f_ref = cost.f_ref_hz or high or UNKNOWN_CLOCK_HZ
    if not low and not high:
        return f_ref, f_ref, f_ref
    high = high or max(f_ref, low)
    return f_ref, min(low, high), high


def measured_model(params: SystemParams, agent: CostMessage | None = None,
                   server: CostMessage | None = None, agent_range: tuple[float, float] = (0, 0),
                   server_range: tuple[float, float] = (0, 0), local: CostMessage | None = None
                   ) -> tuple[SystemParams, CalibratedAgentCost | None, str]:
    """
    Return ``(params, agent cost model or None, description)`` planned with measured costs.

    ``agent_range`` / ``server_range``: ``(f_min, f_max)`` [Hz] the planner may choose; ``(0,
    0)`` fixes the clock at the measured one. ``local``: the agent's local mode is on (the edge
    server lost, issue 27): the decoder runs on the robot, so ``local`` (its caption time
    measured there) takes the server's place in (P1) with the robot's own hardware — its clock
    range (``agent_range``, the clock the local decode was measured at), its power constants
    (eta, psi of eq. (6) for eq. (7)) and no upload — and the delay and energy of a plan are the
    robot's alone: T = t(b, f) + t_local(f~) and E = e(b, f) + e_local(f~), f~ being the robot's
    clock while it decodes. Raises ``ValueError`` for numbers the model cannot take (e.g. a
    range the measured clock makes empty).
    """
    parts: list[str] = []
    changes: dict[str, Any] = {}
    agent_cost = None
    if agent is not None:
        f_ref, low, high = clock_range(agent, *agent_range)
        agent_cost = CalibratedAgentCost(dict(enumerate(agent.seconds, 1)), f_ref)
        changes.update(f_min=low, f_max=high, psi=params.psi * agent.threads)
        parts.append(f'agent measured ({agent.kernel_summary()}/{agent.isa}, {agent.threads} '
                     f'thread(s): t(1) = {1e3 * agent.seconds[0]:.3g} ms .. '
                     f't({len(agent.seconds)}) = {1e3 * agent.seconds[-1]:.3g} ms)')
    else:
        parts.append('agent nominal (no qcoinf/agent_cost yet)')
    if local is not None:
        f_ref, low, high = clock_range(local, *agent_range)
        # the robot decodes: W = t_local f_ref cycles at its clock, its power model, no upload
        changes.update(n_flop_server=local.seconds[0] * f_ref * params.c_server,
                       f_min_server=low, f_max_server=high, eta_server=params.eta,
                       psi_server=params.psi * local.threads, payload_bytes=0.0, tx_power_w=0.0)
        parts.append(f'local mode: the decoder on the robot ({1e3 * local.seconds[0]:.3g} ms)')
    elif server is not None:
        f_ref, low, high = clock_range(server, *server_range)
        # W_s = N~_FLOP / c~ = t_s f_ref cycles (eq. (5) at the measured time)
        changes.update(n_flop_server=server.seconds[0] * f_ref * params.c_server,
                       f_min_server=low, f_max_server=high)
        parts.append(f'server measured ({1e3 * server.seconds[0]:.3g} ms)')
    else:
        parts.append('server nominal (no qcoinf/server_cost yet)')
    if changes:
        # floors first set to 0 so that a lower f_max never trips the f_min <= f_max check
        params = dataclasses.replace(params, f_min=0.0, f_min_server=0.0)
        params = dataclasses.replace(params, **changes)
    return params, agent_cost, 'measured: ' + '; '.join(parts)
