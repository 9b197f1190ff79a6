"""
Analysis of a bag of the pipeline's own outputs (``qcoinf bag report``).

From ``qcoinf/latency`` (x = end-to-end, y = agent encode, z = server decode [s]): latency
percentiles. From ``qcoinf/bit_width`` (the plans) and the embeddings' metadata (the bit-width
each frame was really encoded at): bit-width histograms, and how long each planned bit-width
was in force. From ``qcoinf/frequency_profile``: the predicted energy per inference of the plan
in force for each captioned frame (the system model's eq. (9) value) and its total; from the
frequency actuator's ``/diagnostics``: its last energy per inference with its label (measured
or predicted); from the planner's: the budget E0 in force. Statuses are matched by task
(:mod:`qcoinf_ros.core.status_names`), so bags with the legacy ``qcoinf: planner`` names read as
well, and only those of the nodes in the namespace analysed count (a fleet's bag). Plots go
to PNG files (matplotlib, Agg backend). Nothing here needs ROS: messages are decoded with the
``rosbags`` typestore; bags recorded before 0.2 (JSON in ``std_msgs/String``, the embedding in
``sensor_msgs/CompressedImage``) are read through :mod:`qcoinf_ros.core.bags.legacy`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import asdict, dataclass, field
import math
from pathlib import Path

import numpy as np

from qcoinf_ros.core.bags.cdr import check_message
from qcoinf_ros.core.bags.legacy import convert
from qcoinf_ros.core.bags.storage import BagReader
from qcoinf_ros.core.codec.fields import caption_from, profile_from
from qcoinf_ros.core.codec.plan import ProfileMessage
from qcoinf_ros.core.stats import Summary
from qcoinf_ros.core.status_names import (
    find_status, FREQUENCY_ACTUATOR, normalize_namespace, PLANNER)

LATENCY, BIT_WIDTH, PROFILE = 'qcoinf/latency', 'qcoinf/bit_width', 'qcoinf/frequency_profile'
EMBEDDING, CAPTION, DIAGNOSTICS = 'qcoinf/embedding', 'qcoinf/caption', 'diagnostics'


@dataclass
class BagReport:
    """Everything ``qcoinf bag report`` prints and plots; times in seconds from the bag start."""

    path: str
    duration_s: float
    message_counts: dict[str, int]
    latency: dict[str, Summary | None] = field(default_factory=dict)
    latency_series: list[tuple[float, float, float, float]] = field(default_factory=list)
    plan_series: list[tuple[float, ProfileMessage]] = field(default_factory=list)
    bit_width_plans: dict[int, int] = field(default_factory=dict)
    bit_width_time_s: dict[int, float] = field(default_factory=dict)
    bit_width_frames: dict[int, int] = field(default_factory=dict)
    frame_bits_series: list[tuple[float, int]] = field(default_factory=list)
    # per captioned frame: (time, predicted J of the plan in force); the total over them
    energy_series: list[tuple[float, float]] = field(default_factory=list)
    energy_total_predicted_j: float | None = None
    energy_actuator: tuple[float, str] | None = None  # (J per inference, label)
    e0_series: list[tuple[float, float]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary (series left out)."""
        out = {k: v for k, v in asdict(self).items()
               if not k.endswith('_series') and k != 'captions'}
        out['latency'] = {k: (None if v is None else asdict(v)) for k, v in self.latency.items()}
        out['plans'] = len(self.plan_series)
        out['captions'] = len(self.captions)
        out['frames_over_budget'] = self.frames_over_budget()
        return out

    def frames_over_budget(self) -> int | None:
        """Captioned frames whose predicted energy exceeded the E0 in force (None: unknown)."""
        if not self.energy_series or not self.e0_series:
            return None
        times = [t for t, _ in self.e0_series]
        over = 0
        for t, joules in self.energy_series:
            i = bisect_right(times, t) - 1
            if i >= 0 and joules > self.e0_series[i][1] * (1 + 1e-9):
                over += 1
        return over


def _matches(topic: str, name: str, namespace: str) -> bool:
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    return topic == f'{ns}/{name}' or (name == DIAGNOSTICS and topic == '/diagnostics')


def _status_values(array) -> dict[str, dict[str, str]]:
    return {status.name: {kv.key: kv.value for kv in status.values} for status in array.status}


def analyse(reader: BagReader, namespace: str = '/') -> BagReport:
    """Read every intact message of the bag once and summarise it (see the module doc)."""
    normalize_namespace(namespace)  # a ValueError naming it before any message is read
    info = reader.info
    start = info.start_ns
    report = BagReport(str(info.path), info.duration_s,
                       {t.spec.name: t.count for t in info.topics})

    def secs(stamp: int) -> float:
        return (stamp - start) * 1e-9

    wanted = {t.spec.name for t in info.topics
              if any(_matches(t.spec.name, n, namespace)
                     for n in (LATENCY, BIT_WIDTH, PROFILE, EMBEDDING, CAPTION, DIAGNOSTICS))}
    plan_bits: list[tuple[float, int]] = []
    captioned: list[float] = []
    for message in reader.messages(sorted(wanted)):
        topic, t = message.topic, secs(message.timestamp)
        try:
            message = convert(message)  # recorded before 0.2: read as today's type
            msg = check_message(message.data, message.msgtype)
            if _matches(topic, LATENCY, namespace):
                v = msg.vector
                report.latency_series.append((t, float(v.x), float(v.y), float(v.z)))
                captioned.append(t)
            elif _matches(topic, BIT_WIDTH, namespace):
                plan_bits.append((t, int(msg.data)))
            elif _matches(topic, PROFILE, namespace):
                report.plan_series.append((t, profile_from(msg)))
            elif _matches(topic, EMBEDDING, namespace):
                report.frame_bits_series.append((t, int(msg.bit_width)))
            elif _matches(topic, CAPTION, namespace):
                report.captions.append(caption_from(msg).text)
            elif _matches(topic, DIAGNOSTICS, namespace):
                values = _status_values(msg)
                planner = find_status(values, PLANNER, namespace)
                actuator = find_status(values, FREQUENCY_ACTUATOR, namespace)
                if planner and _is_number(planner[1].get('E0_J')):
                    report.e0_series.append((t, float(planner[1]['E0_J'])))
                if actuator and _is_number(actuator[1].get('energy_per_inference_J')):
                    report.energy_actuator = (float(actuator[1]['energy_per_inference_J']),
                                              actuator[1].get('energy_source', 'unknown'))
        except (ValueError, AttributeError) as exc:
            report.problems.append(f'{topic} at {t:.3f} s: unreadable ({exc}); ignored')
    lat = report.latency_series
    report.latency = {
        'end_to_end': Summary.of(x for _, x, _, _ in lat),
        'agent_encode': Summary.of(y for _, _, y, _ in lat),
        'server_decode': Summary.of(z for _, _, _, z in lat),
    }
    report.bit_width_plans = dict(sorted(Counter(b for _, b in plan_bits).items()))
    report.bit_width_time_s = _time_in_force(plan_bits, report.duration_s)
    report.bit_width_frames = dict(sorted(Counter(b for _, b in report.frame_bits_series)
                                          .items()))
    if report.plan_series and captioned:
        times = [t for t, _ in report.plan_series]
        for t in captioned:
            i = bisect_right(times, t) - 1
            if i >= 0:
                joules = report.plan_series[i][1].predicted_energy_j
                if math.isfinite(joules):
                    report.energy_series.append((t, joules))
        if report.energy_series:
            report.energy_total_predicted_j = float(sum(j for _, j in report.energy_series))
    report.problems = [str(p) for p in reader.problems] + report.problems
    return report


def _is_number(text) -> bool:
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def _time_in_force(series: list[tuple[float, int]], end: float) -> dict[int, float]:
    """Seconds each value was in force, from its message to the next one (or the bag end)."""
    out: dict[int, float] = {}
    for i, (t, b) in enumerate(series):
        t_next = series[i + 1][0] if i + 1 < len(series) else max(end, t)
        out[b] = out.get(b, 0.0) + max(0.0, t_next - t)
    return dict(sorted(out.items()))


def write_plots(report: BagReport, out_dir: str | Path) -> list[Path]:
    """Write ``latency.png``, ``bit_width.png``, ``energy.png`` (those with data) to a folder."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if report.latency_series:
        t, x, y, z = (np.asarray(c) for c in zip(*report.latency_series))
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for values, label in ((x, 'end to end'), (y, 'agent encode'), (z, 'server decode')):
            ax1.plot(t, 1e3 * values, '.-', label=label)
        ax1.set(xlabel='time in bag [s]', ylabel='latency [ms]', title='Latency per frame')
        ax1.legend()
        ax2.hist(1e3 * x, bins=min(30, max(5, x.size // 2)))
        p = report.latency['end_to_end']
        for q, style in ((p.p50, '--'), (p.p95, ':')):
            ax2.axvline(1e3 * q, color='k', linestyle=style)
        ax2.set(xlabel='end-to-end latency [ms]', ylabel='frames',
                title=f'p50 {1e3 * p.p50:.1f} ms, p95 {1e3 * p.p95:.1f} ms')
        written.append(_save(fig, out / 'latency.png', plt))
    if report.plan_series or report.frame_bits_series:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        if report.plan_series:  # each plan holds until the next one, the last to the end
            times = [t for t, _ in report.plan_series] + [report.duration_s]
            bits = [p.bit_width for _, p in report.plan_series]
            ax1.step(times, bits + bits[-1:], where='post', label='planned')
        if report.frame_bits_series:
            ax1.plot(*zip(*report.frame_bits_series), 'o', ms=3, label='frames encoded at')
        ax1.set(xlabel='time in bag [s]', ylabel='bit-width b', title='Bit-width over time')
        ax1.legend()
        hist = report.bit_width_frames or report.bit_width_plans
        ax2.bar(list(hist), list(hist.values()))
        ax2.set(xlabel='bit-width b', ylabel='frames' if report.bit_width_frames else 'plans',
                title='Bit-width histogram')
        written.append(_save(fig, out / 'bit_width.png', plt))
    if report.energy_series:
        fig, ax = plt.subplots(figsize=(7, 4))
        t, joules = zip(*report.energy_series)
        ax.plot(t, joules, '.-', label='predicted E per inference (plan in force)')
        if report.e0_series:
            ax.step(*zip(*report.e0_series), where='post', label='budget E0')
        ax.set(xlabel='time in bag [s]', ylabel='energy [J]',
               title=f'Predicted energy: {report.energy_total_predicted_j:.3g} J total')
        ax.legend()
        written.append(_save(fig, out / 'energy.png', plt))
    return written


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def render(report: BagReport):
    """Return rich renderables (tables) of the report, for a console."""
    from rich.table import Table
    from rich.text import Text

    tables = []
    lat = Table(title='Latency (ms)')
    for col in ('', 'n', 'mean', 'p50', 'p90', 'p95', 'p99', 'max'):
        lat.add_column(col, justify='right')
    for name, p in report.latency.items():
        if p is None:
            lat.add_row(name.replace('_', ' '), '0', *['-'] * 6)
        else:
            lat.add_row(name.replace('_', ' '), str(p.count),
                        *(f'{1e3 * v:.1f}' for v in (p.mean, p.p50, p.p90, p.p95, p.p99, p.max)))
    tables.append(lat)
    bits = Table(title='Bit-width')
    for col in ('b', 'frames encoded', 'plans', 'time planned (s)'):
        bits.add_column(col, justify='right')
    for b in sorted(set(report.bit_width_frames) | set(report.bit_width_plans)):
        bits.add_row(str(b), str(report.bit_width_frames.get(b, 0)),
                     str(report.bit_width_plans.get(b, 0)),
                     f'{report.bit_width_time_s.get(b, 0.0):.2f}')
    tables.append(bits)
    energy = Table(title='Energy')
    energy.add_column('quantity')
    energy.add_column('value', justify='right')
    if report.energy_series:
        per = [j for _, j in report.energy_series]
        energy.add_row('predicted per inference, mean of the plans in force (J)',
                       f'{np.mean(per):.4g}')
        energy.add_row(f'predicted total over {len(per)} captioned frames (J)',
                       f'{report.energy_total_predicted_j:.4g}')
    over = report.frames_over_budget()
    if over is not None:
        energy.add_row('captioned frames predicted over the budget E0', str(over))
    if report.energy_actuator is not None:
        energy.add_row(Text(f'actuator: per inference, {report.energy_actuator[1]} (J)'),
                       f'{report.energy_actuator[0]:.4g}')
    if not energy.row_count:
        energy.add_row('no qcoinf/frequency_profile with captions, nor actuator diagnostics',
                       '-')
    tables.append(energy)
    return tables
