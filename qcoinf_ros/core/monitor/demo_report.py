"""
The demo's record and report (pure): frames, plans, what was predicted and what was measured.

:class:`DemoObserver` makes the record of what ``qcoinf demo`` observes on the topics (through
:func:`qcoinf_ros.ros.observer.observe`, the subscriptions ``qcoinf monitor`` uses too): battery,
deadline, plans, and per frame the bit-width and encode time from the embedding's payload, the
end-to-end latency and the caption, with a line for each to print live. :class:`DemoRecord`
holds it; :func:`write_report` turns it into ``report.png`` and ``report.md``:

* per plan (:func:`plan_checks`): the predicted agent delay against the median encode time of
  the frames encoded at that plan's bit-width while it was in force, and how many of those
  frames met the deadline T0 in force when they were captured;
* per bit-width: frames, median encode time, CIDEr-D and exact match of their captions;
* the quality floor (below it captions collapse) and every plan that went below it, with the
  budgets that forced it, and the plans held at the floor that broke a budget.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
import hashlib
from pathlib import Path
import statistics
from typing import Sequence

__all__ = ['Frame', 'DemoRecord', 'DemoObserver', 'PlanCheck', 'plan_checks', 'BitSummary',
           'bit_summaries', 'scene_lookup', 'write_report']


@dataclass
class Frame:
    """One captioned frame: when its result arrived, its bit-width, the times, the caption."""

    t: float  # arrival of the latency message, seconds since the scenario started
    bit_width: int
    encode_s: float
    e2e_s: float
    t0: float | None  # deadline in force when the frame was captured
    caption: str
    references: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        """Whether the end-to-end latency met the deadline in force."""
        return self.t0 is not None and self.e2e_s <= self.t0


@dataclass
class DemoRecord:
    """What the demo saw, in seconds since the scenario started."""

    battery: list[tuple[float, float]] = field(default_factory=list)
    deadline: list[tuple[float, float]] = field(default_factory=list)
    profiles: list[tuple[float, object]] = field(default_factory=list)  # ProfileMessage
    e0: list[tuple[float, float]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    costs: dict[str, object] = field(default_factory=dict)
    end: float = 0.0

    def deadline_at(self, t: float) -> float | None:
        """Return the deadline in force at ``t`` (None before the first)."""
        times = [when for when, _ in self.deadline]
        i = bisect_right(times, t) - 1
        return self.deadline[i][1] if i >= 0 else None


def scene_lookup(count: int, size: int) -> tuple[dict[str, int], dict[int, list[str]]]:
    """Return the test scenes' ``{sha1 of the image: index}`` and ``{index: references}``."""
    from qcoinf_ros.core.scenes.generator import iter_scenes, SceneConfig
    by_hash, refs = {}, {}
    for index, (image, captions, _) in enumerate(iter_scenes('test', count,
                                                             SceneConfig(image_size=size))):
        by_hash[hashlib.sha1(image.tobytes()).hexdigest()] = index
        refs[index] = list(captions)
    return by_hash, refs


Stamp = tuple[int, int]


class DemoObserver:
    """
    The demo's view of the graph: fills a :class:`DemoRecord`, returns the lines to print.

    Fed with what the topics carry (the ROS side is :func:`qcoinf_ros.ros.observer.observe`),
    each call with its arrival time ``now`` (``time.monotonic()``); times in the record count
    from the first battery message (the scenario's start). A frame is paired by its stamp: the
    camera image (the scene, for its reference captions), the embedding (bit-width, encode
    time), the latency; captions pair with latencies in arrival order.
    """

    def __init__(self, record: DemoRecord, by_hash: dict[str, int],
                 refs: dict[int, list[str]]):
        self.record = record
        self._by_hash, self._refs = by_hash, refs
        self._start: float | None = None
        self._policy = None
        self._stamps: dict[Stamp, int] = {}  # image stamp -> scene index
        self._encodes: dict[Stamp, tuple[int, float]] = {}  # stamp -> (b, seconds)
        self._captions: list[str] = []
        self._latencies = 0
        self.agent_ready = False

    def elapsed(self, now: float) -> float:
        """Return seconds since the scenario started (0 before)."""
        return 0.0 if self._start is None else now - self._start

    def ready(self) -> bool:
        """Whether the agent's model and both measured costs have arrived."""
        return self.agent_ready and {'agent', 'server'} <= set(self.record.costs)

    def set_policy(self, e0_full: float, e0_min: float, reserve: float) -> None:
        """Record the energy budget the planner's linear policy gives at each battery level."""
        from qcoinf_ros.core.planner.energy_policy import EnergyBudgetPolicy
        self._policy = EnergyBudgetPolicy('linear', e0_full, e0_min, reserve)

    def on_agent_model(self) -> None:
        self.agent_ready = True

    def on_cost(self, part: str, msg) -> None:
        """Take an ``AgentCost`` message (anything with its fields); bad content is ignored."""
        from qcoinf_ros.core.codec.fields import cost_from
        try:
            self.record.costs[part] = cost_from(msg)
        except ValueError:
            return

    def on_battery(self, percentage: float, now: float) -> None:
        if self._start is None:
            self._start = now
        t = self.elapsed(now)
        self.record.battery.append((t, percentage))
        if self._policy is not None:
            self.record.e0.append((t, self._policy.budget(percentage)))

    def on_deadline(self, seconds: float, now: float) -> str:
        t = self.elapsed(now)
        self.record.deadline.append((t, seconds))
        return f'[{t:5.1f} s] [bold yellow]deadline T0 = {1e3 * seconds:.1f} ms[/]'

    def on_profile(self, msg, now: float) -> None:
        """Take a ``FrequencyProfile`` message; bad content is ignored."""
        from qcoinf_ros.core.codec.fields import profile_from
        try:
            self.record.profiles.append((self.elapsed(now), profile_from(msg)))
        except ValueError:
            return

    def on_image(self, stamp: Stamp, data: bytes) -> None:
        index = self._by_hash.get(hashlib.sha1(data).hexdigest())
        if index is not None:
            self._stamps[stamp] = index

    def on_embedding(self, stamp: Stamp, bit_width: int, encode_s: float) -> None:
        """Take an ``Embedding``'s bit-width and encode time (its values are not decoded)."""
        self._encodes[stamp] = (int(bit_width), float(encode_s))

    def on_caption(self, text: str) -> None:
        self._captions.append(text)

    def on_latency(self, stamp: Stamp, e2e: float, now: float) -> str | None:
        """Record the frame whose latency arrived; return its line (None: not in the record)."""
        from qcoinf_ros.core.captioner.metrics import normalize_caption
        record = self.record
        caption = self._captions[self._latencies] if len(self._captions) > self._latencies \
            else '?'
        self._latencies += 1
        encode = self._encodes.get(stamp)
        t = self.elapsed(now)
        if self._start is None or encode is None or t - e2e < 0.0:
            return None  # captured before the scenario started: no deadline was in force
        index = self._stamps.get(stamp)
        frame = Frame(t, encode[0], encode[1], e2e, record.deadline_at(t - e2e), caption,
                      self._refs[index] if index is not None else [])
        record.frames.append(frame)
        plan = record.profiles[-1][1] if record.profiles else None
        battery = record.battery[-1][1] if record.battery else float('nan')
        right = index is not None and normalize_caption(caption) in {
            normalize_caption(r) for r in frame.references}
        t0 = f'{1e3 * frame.t0:.0f}' if frame.t0 is not None else '?'
        predicted = (f'{1e3 * plan.predicted_agent_delay_s:.1f}', f'{plan.predicted_energy_j:.4f}'
                     ) if plan else ('?', '?')
        return (f'[{t:5.1f} s] battery {battery:4.0%}  b={frame.bit_width}  encode pred '
                f'{predicted[0]} / meas {1e3 * frame.encode_s:.1f} ms  T {1e3 * e2e:.0f} ms / T0 '
                f'{t0} ms {"[green]met[/]" if frame.met else "[red]late[/]"}  E pred '
                f'{predicted[1]} J  {"[green]OK[/]" if right else "[red]--[/]"} {caption}')


@dataclass(frozen=True)
class PlanCheck:
    """One plan: its prediction against the frames encoded at its bit-width while in force."""

    start: float
    end: float
    bit_width: int
    predicted_s: float
    measured_s: float  # median encode time; NaN if no frame was encoded at that bit-width
    frames: int
    met: int = 0  # of ``frames``, those that met their deadline
    predicted_delay_s: float = float('nan')
    predicted_energy_j: float = float('nan')
    feasible: bool = True

    @property
    def ratio(self) -> float:
        """Predicted / measured agent delay."""
        return self.predicted_s / self.measured_s if self.frames else float('nan')

    def within(self, tolerance: float = 0.15) -> bool:
        """Whether the prediction is within ``tolerance`` (relative) of the measurement."""
        return bool(self.frames) and abs(self.predicted_s - self.measured_s) \
            <= tolerance * self.measured_s


def plan_checks(profiles, frames: Sequence[Frame], end: float) -> list[PlanCheck]:
    """
    Each plan against the frames encoded at its bit-width until the next plan.

    ``profiles``: ``(t, ProfileMessage)`` in time order. Consecutive plans with the same
    bit-width, predicted agent delay and feasibility are one. Frames still encoded at the previous
    bit-width after a switch (in flight) count for no plan.
    """
    merged = []
    for t, plan in profiles:
        key = (plan.bit_width, round(plan.predicted_agent_delay_s, 9), plan.feasible)
        if merged and merged[-1][2] == key:
            continue
        merged.append((t, plan, key))
    checks = []
    for i, (t, plan, _) in enumerate(merged):
        t_end = merged[i + 1][0] if i + 1 < len(merged) else end
        mine = [f for f in frames if t <= f.t < t_end and f.bit_width == plan.bit_width]
        checks.append(PlanCheck(
            t, t_end, plan.bit_width, plan.predicted_agent_delay_s,
            statistics.median(f.encode_s for f in mine) if mine else float('nan'), len(mine),
            sum(f.met for f in mine), plan.predicted_delay_s, plan.predicted_energy_j,
            plan.feasible))
    return checks


@dataclass(frozen=True)
class BitSummary:
    """The frames encoded at one bit-width: their encode time and caption quality."""

    bit_width: int
    frames: int
    encode_median_s: float
    cider: float | None  # CIDEr-D x100 (None with fewer than 2 scored frames)
    exact_match: float | None


def bit_summaries(frames: Sequence[Frame]) -> list[BitSummary]:
    """Group ``frames`` by bit-width (highest first)."""
    from qcoinf_ros.core.captioner.metrics import score_captions
    out = []
    for bits in sorted({f.bit_width for f in frames}, reverse=True):
        mine = [f for f in frames if f.bit_width == bits]
        scored = [f for f in mine if f.references]
        scores = None
        if len(scored) >= 2:
            scores = score_captions({i: f.caption for i, f in enumerate(scored)},
                                    {i: f.references for i, f in enumerate(scored)})
        out.append(BitSummary(bits, len(mine), statistics.median(f.encode_s for f in mine),
                              scores.cider if scores else None,
                              scores.exact_match if scores else None))
    return out


def _exact(frame: Frame) -> float:
    from qcoinf_ros.core.captioner.metrics import normalize_caption
    return float(normalize_caption(frame.caption) in
                 {normalize_caption(r) for r in frame.references})


def _legend(axis) -> None:
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=7, loc='lower left')


def _plot(record: DemoRecord, floor: int | None, path: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    end = record.end
    frames = record.frames
    fig, axes = plt.subplots(6, 1, figsize=(8.5, 13), sharex=True)
    if record.battery:
        axes[0].plot(*zip(*record.battery), color='tab:green')
    axes[0].set_ylabel('battery')
    plans = record.profiles
    if plans:
        times = [t for t, _ in plans] + [end]
        bits = [p.bit_width for _, p in plans]
        axes[1].step(times, bits + bits[-1:], where='post', color='tab:blue', label='planned b')
    if frames:
        axes[1].plot([f.t for f in frames], [f.bit_width for f in frames], '.', ms=3,
                     color='k', label='b of each frame')
    if floor is not None:
        axes[1].axhline(floor - 0.5, color='tab:red', lw=0.8, ls='--',
                        label=f'quality floor (captions collapse below b = {floor})')
    axes[1].set_ylabel('bit-width b')
    _legend(axes[1])
    if frames:
        axes[2].scatter([f.t for f in frames], [1e3 * f.encode_s for f in frames], s=6,
                        c=[f.bit_width for f in frames], cmap='viridis',
                        label='measured encode (agent, per frame)')
    if plans:
        axes[2].step([t for t, _ in plans] + [end],
                     [1e3 * p.predicted_agent_delay_s for _, p in plans]
                     + [1e3 * plans[-1][1].predicted_agent_delay_s], where='post',
                     color='tab:red', label="plan's predicted agent delay")
    axes[2].set_ylabel('encode [ms]')
    axes[2].set_ylim(0, None)
    _legend(axes[2])
    if frames:
        met = [f for f in frames if f.met]
        missed = [f for f in frames if not f.met]
        axes[3].plot([f.t for f in met], [1e3 * f.e2e_s for f in met], '.', ms=4,
                     color='tab:blue', label='measured end-to-end, deadline met')
        axes[3].plot([f.t for f in missed], [1e3 * f.e2e_s for f in missed], 'x', ms=5,
                     color='tab:red', label='deadline missed')
    if plans:
        axes[3].step([t for t, _ in plans] + [end],
                     [1e3 * p.predicted_delay_s for _, p in plans]
                     + [1e3 * plans[-1][1].predicted_delay_s], where='post', color='tab:orange',
                     label='predicted T (eq. 8)')
    if record.deadline:
        axes[3].step([t for t, _ in record.deadline] + [end],
                     [1e3 * v for _, v in record.deadline] + [1e3 * record.deadline[-1][1]],
                     where='post', color='grey', ls=':', label='deadline T0')
    axes[3].set_ylabel('latency [ms]')
    axes[3].set_ylim(0, None)
    _legend(axes[3])
    if plans:
        axes[4].step([t for t, _ in plans] + [end],
                     [p.predicted_energy_j for _, p in plans]
                     + [plans[-1][1].predicted_energy_j], where='post', color='tab:purple',
                     label='predicted E (eq. 9)')
    if record.e0:
        axes[4].step([t for t, _ in record.e0] + [end],
                     [v for _, v in record.e0] + [record.e0[-1][1]], where='post',
                     color='grey', ls=':', label='budget E0 (from the battery)')
    axes[4].set_ylabel('energy [J]')
    _legend(axes[4])
    scored = [f for f in frames if f.references]
    if scored:
        window = 5
        hits = [_exact(f) for f in scored]
        rolling = [statistics.fmean(hits[max(0, i - window + 1):i + 1])
                   for i in range(len(hits))]
        axes[5].plot([f.t for f in scored], rolling, color='tab:purple')
    axes[5].set_ylim(-0.05, 1.05)
    axes[5].set_ylabel('exact match\n(rolling 5)')
    axes[5].set_xlabel('time since the scenario started [s]')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(record: DemoRecord, out: str | Path, *, floor: int | None = None,
                 floor_source: str = '', scenario: Sequence[str] = (),
                 tolerance: float = 0.15) -> list[str]:
    """Write ``report.png`` and ``report.md`` to ``out``; return the summary lines."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _plot(record, floor, out / 'report.png')
    frames = record.frames
    checks = plan_checks(record.profiles, frames, record.end)
    counted = [c for c in checks if c.frames]
    good = sum(c.within(tolerance) for c in counted)
    in_plan = sum(c.frames for c in checks)
    met = sum(c.met for c in checks)
    agent = record.costs.get('agent')
    summaries = bit_summaries(frames)
    lat = sorted(f.e2e_s for f in frames)
    lines = [
        f'frames captioned: {len(frames)}; bit-widths used: '
        f'{sorted({f.bit_width for f in frames}, reverse=True)}; deadlines: '
        f'{[round(v, 4) for _, v in record.deadline]} s',
        (f'battery: {record.battery[0][1]:.0%} -> {record.battery[-1][1]:.0%}'
         if record.battery else 'battery: no message'),
        (f"agent's measured cost: t(b) = ["
         f'{", ".join(f"{1e3 * t:.1f}" for t in agent.seconds)}] ms for b = 1..'
         f'{len(agent.seconds)} ({agent.kernel_summary()}/{agent.isa}, {agent.threads} '
         f'thread(s), {"cached" if agent.cached else "measured at start-up"})') if agent else
        "agent's measured cost: none received (the planner used the preset)",
        f'predicted agent delay within {tolerance:.0%} of the measured encode time: {good} of '
        f'{len(counted)} plans',
        (f"deadline met: {met} of {in_plan} frames encoded at their plan's bit-width "
         f'({met / in_plan:.0%}); {len(frames) - in_plan} frame(s) in flight across a switch')
        if in_plan else 'deadline met: no frame encoded under a plan',
        (f'measured end-to-end latency: median {1e3 * lat[len(lat) // 2]:.0f} ms, max '
         f'{1e3 * lat[-1]:.0f} ms') if lat else 'no latency measured',
    ]
    if floor is not None:
        lines.append(f'quality floor: b >= {floor} ({floor_source})')
        below = [c for c in checks if c.bit_width < floor]
        for c in below:
            t0 = record.deadline_at(c.start)
            lines.append(f'b = {c.bit_width} below the floor from {c.start:.1f} s: forced '
                         f'(T0 = {1e3 * (t0 or 0):.1f} ms; no bit-width >= {floor} fits the '
                         f'budgets{"" if c.feasible else ", the plan is infeasible"})')
        if not below:
            lines.append(f'no plan went below the quality floor b = {floor}')
        held = [c for c in checks if c.bit_width == floor and not c.feasible]
        if held:
            lines.append(f'{len(held)} plan(s) at the floor b = {floor} broke a budget (published '
                         'infeasible: no bit-width >= the floor fitted, and the planner does not '
                         'go below it)')
    plan_table = [
        '| from [s] | to [s] | b | predicted agent delay [ms] | measured encode, median [ms] | '
        f'frames | predicted / measured | within {tolerance:.0%} | deadline met |',
        '|---|---|---|---|---|---|---|---|---|']
    for c in checks:
        plan_table.append(
            f'| {c.start:.1f} | {c.end:.1f} | {c.bit_width} | {1e3 * c.predicted_s:.2f} | '
            + (f'{1e3 * c.measured_s:.2f} | {c.frames} | {c.ratio:.2f} | '
               f'{"yes" if c.within(tolerance) else "no"} | {c.met}/{c.frames} |' if c.frames
               else '- | 0 | - | - | - |'))
    bit_table = ['| b | frames | measured encode, median [ms] | CIDEr-D (x100) | exact match |',
                 '|---|---|---|---|---|']
    for s in summaries:
        bit_table.append(
            f'| {s.bit_width} | {s.frames} | {1e3 * s.encode_median_s:.2f} | '
            + (f'{s.cider:.1f} | {s.exact_match:.2f} |' if s.cider is not None else '- | - |'))
    text = ['# qcoinf demo report', '', *(f'- {line}' for line in lines)]
    if scenario:
        text += ['', '## Scenario (derived from the measured cost)', '',
                 *(f'- {line}' for line in scenario)]
    text += ['', '## Plans: predicted agent delay vs measured encode time', '', *plan_table,
             '', '## Per bit-width: encode time and caption quality', '', *bit_table, '',
             '![timeline](report.png)', '']
    (out / 'report.md').write_text('\n'.join(text))
    return lines
