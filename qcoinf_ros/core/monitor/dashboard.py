"""The terminal dashboard of ``qcoinf monitor``: a :class:`MonitorState` as rich tables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from qcoinf_ros.core.monitor.markers import marker_texts, RED, YELLOW
from qcoinf_ros.core.monitor.state import LEVEL_NAMES, MonitorState

_LEVEL_STYLE = {0: 'green', 1: 'yellow', 2: 'red', 3: 'magenta'}


def _style(rgba) -> str:
    return 'red' if rgba == RED else ('yellow' if rgba == YELLOW else '')


def render_dashboard(state: MonitorState, topics: list[str], now: float,
                     title: str = 'qcoinf monitor') -> Group:
    """Return the dashboard: topic rates, latency, plan and budgets, captions, diagnostics."""
    rates = Table(title='Topics', title_justify='left', expand=False)
    for col, justify in (('topic', 'left'), ('rate (Hz)', 'right'), ('messages', 'right'),
                         ('last (s ago)', 'right')):
        rates.add_column(col, justify=justify)
    for topic in topics:
        seen = state.last_seen.get(topic)
        rates.add_row(Text(topic), f'{state.rate(topic, now):.2f}',
                      str(state.counts.get(topic, 0)),
                      '-' if seen is None else f'{now - seen:.1f}')

    latency = Table(title=f'Latency in ms (last {state.latency.maxlen} frames)',
                    title_justify='left')
    for col in ('', 'n', 'p50', 'p90', 'p95', 'max'):
        latency.add_column(col, justify='right')
    for i, name in enumerate(('end to end', 'agent encode', 'server decode')):
        p = state.latency_stats(i)
        if p is None:
            latency.add_row(name, '0', '-', '-', '-', '-')
        else:
            latency.add_row(name, str(p.count),
                            *(f'{1e3 * v:.1f}' for v in (p.p50, p.p90, p.p95, p.max)))

    plan = Table(title='Operating point', title_justify='left', show_header=False)
    plan.add_column('what')
    for line in marker_texts(state)[1:]:
        plan.add_row(Text(line.text, style=_style(line.rgba)))

    captions = Table(title='Recent captions', title_justify='left')
    captions.add_column('s ago', justify='right')
    captions.add_column('caption')
    for t, text in reversed(state.captions):
        captions.add_row(f'{now - t:.1f}', Text(text))

    diagnostics = Table(title='Diagnostics', title_justify='left')
    for col in ('status', 'level', 'message'):
        diagnostics.add_column(col)
    for name, status in sorted(state.statuses.items()):
        level = Text(LEVEL_NAMES.get(status.level, str(status.level)),
                     style=_LEVEL_STYLE.get(status.level, ''))
        diagnostics.add_row(Text(name), level, Text(status.message))
    return Group(Text(title, style='bold'), rates, latency, plan, captions, diagnostics)
