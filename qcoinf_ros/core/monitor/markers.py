"""
Content of the RViz text markers (``qcoinf/markers``): one line per quantity, with a colour.

The monitor node turns each :class:`MarkerText` into a ``visualization_msgs/Marker`` of type
``TEXT_VIEW_FACING`` (namespace ``qcoinf``, id = its index in :data:`KEYS`), stacked upwards
from the node's frame. White is normal, yellow a warning (latency p95 over the deadline,
predicted energy over the budget), red an infeasible plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcoinf_ros.core.monitor.state import MonitorState

KEYS = ('caption', 'bit_width', 'profile', 'latency', 'energy')
WHITE = (1.0, 1.0, 1.0, 1.0)
YELLOW = (1.0, 0.85, 0.1, 1.0)
RED = (1.0, 0.2, 0.2, 1.0)
_MAX_CAPTION = 80


@dataclass(frozen=True)
class MarkerText:
    """One text marker: which quantity, the text, its colour (r, g, b, a in 0..1)."""

    key: str
    text: str
    rgba: tuple[float, float, float, float] = WHITE


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + '...'


def marker_texts(state: MonitorState) -> list[MarkerText]:
    """Return the five text lines, in :data:`KEYS` order."""
    caption = state.caption
    out = [MarkerText('caption', 'caption: ' + (f'"{_clip(caption, _MAX_CAPTION)}"'
                                                if caption is not None else '(none yet)'))]
    if state.bit_width is None and state.plan is None:
        bits = 'bit-width: (no plan yet)'
    else:
        planned = state.bit_width if state.bit_width is not None else state.plan.bit_width
        bits = f'bit-width b = {planned}'
        if state.frame_bit_width is not None and state.frame_bit_width != planned:
            bits += f' (last frame encoded at {state.frame_bit_width})'
    out.append(MarkerText('bit_width', bits))
    plan = state.plan
    if plan is None:
        out.append(MarkerText('profile', 'profile: (none yet)'))
    else:
        text = (f'profile {plan.name}: f = {plan.f / 1e9:.3g} GHz, '
                f'f~ = {plan.f_server / 1e9:.3g} GHz')
        if state.deadline is not None:
            text += f', T0 = {state.deadline:.3g} s'
        text += ', feasible' if plan.feasible else ', INFEASIBLE (safest fallback)'
        out.append(MarkerText('profile', text, WHITE if plan.feasible else RED))
    stats = state.latency_stats()
    if stats is None:
        out.append(MarkerText('latency', 'latency: (no frames yet)'))
    else:
        late = state.deadline is not None and stats.p95 > state.deadline
        out.append(MarkerText('latency', f'latency p50 {1e3 * stats.p50:.1f} ms, p95 '
                              f'{1e3 * stats.p95:.1f} ms (n = {stats.count})',
                              YELLOW if late else WHITE))
    budget, energy = state.energy_budget, state.energy_per_inference
    parts = [f'energy budget E0 = {budget:.3g} J' if budget is not None
             else 'energy budget E0: (unknown)']
    if energy is not None:
        parts.append(f'E = {energy[0]:.3g} J/inference, {energy[1]}')
    if state.battery is not None:
        parts.append(f'battery {state.battery:.0%}')
    over = budget is not None and energy is not None and energy[0] > budget * (1 + 1e-9)
    out.append(MarkerText('energy', ', '.join(parts), YELLOW if over else WHITE))
    return out
