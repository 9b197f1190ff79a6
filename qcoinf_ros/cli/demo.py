"""
``qcoinf demo``: the whole co-inference graph on the default captioner, with a scripted scenario.

Every node runs as its own process over DDS (loopback profile): scenario (battery drain and
deadline schedule), camera (the package's scenes), agent encoder, edge decoder, planner and
frequency actuator (dry run). The planner plans with the costs the agent and the decoder
measured on this machine at start-up (``qcoinf/agent_cost``, ``qcoinf/server_cost``; clocks
fixed, since the dry-run actuator sets none). This process watches the topics and shows, live,
each caption with the bit-width in force, the plan's predicted agent delay beside the encode
time the agent measured for that frame, and the predicted end-to-end delay and energy (eqs.
(8)-(9)) beside the measured latency. At the end it writes ``report.png`` (battery, bit-width,
predicted vs measured encode time, latency, caption quality over time) and ``report.md``
(including, per plan, the predicted agent delay against the median measured encode time at that
plan's bit-width) to ``--out``, and exits 0 if the scenario ran through with captions flowing.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import hashlib
import os
from pathlib import Path
import random
import time

from rich.console import Console

from qcoinf_ros.resources import share_file
from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf demo', description=__doc__.splitlines()[1])
    parser.add_argument('--model', default='default',
                        help='default (the shipped captioner), git:DIR or blip2:DIR')
    parser.add_argument('--params-file', default=None,
                        help='parameters of the nodes (default: the shipped config/demo.yaml)')
    parser.add_argument('--out', default='results/demo', help='report folder (results/demo)')
    parser.add_argument('--timeout', type=float, default=180.0,
                        help='give up after this many seconds (default 180)')
    return parser


@dataclass
class Timeline:
    """What the demo saw, in seconds since the scenario started."""

    start: float | None = None
    battery: list[tuple[float, float]] = field(default_factory=list)
    deadline: list[tuple[float, float]] = field(default_factory=list)
    bits: list[tuple[float, int]] = field(default_factory=list)
    profiles: list[tuple[float, object]] = field(default_factory=list)
    frames: dict[tuple[int, int], int] = field(default_factory=dict)  # stamp -> scene index
    captions: list[str] = field(default_factory=list)
    latency: list[tuple[float, float, float, tuple[int, int]]] = field(default_factory=list)
    encodes: list[tuple[float, int, float]] = field(default_factory=list)  # t, b, seconds
    costs: dict[str, object] = field(default_factory=dict)

    def now(self) -> float:
        return 0.0 if self.start is None else time.monotonic() - self.start


def _scene_lookup(count: int, size: int) -> tuple[dict[str, int], dict[int, list[str]]]:
    from qcoinf_ros.scenes.generator import iter_scenes, SceneConfig
    by_hash, refs = {}, {}
    for index, (image, captions, _) in enumerate(iter_scenes('test', count,
                                                             SceneConfig(image_size=size))):
        by_hash[hashlib.sha1(image.tobytes()).hexdigest()] = index
        refs[index] = list(captions)
    return by_hash, refs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    params_file = args.params_file or str(share_file('config/demo.yaml'))
    domain = os.environ.get('ROS_DOMAIN_ID') or str(random.randint(1, 100))
    env = loopback_dds_env(domain_id=int(domain))
    os.environ.update(env)

    import rclpy
    from geometry_msgs.msg import Vector3Stamped
    from sensor_msgs.msg import BatteryState, CompressedImage, Image
    from std_msgs.msg import Float64, String, UInt8

    from qcoinf_ros.codec import decode_embedding
    from qcoinf_ros.codec.cost import decode_cost
    from qcoinf_ros.codec.plan import decode_profile
    from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR

    by_hash, refs = _scene_lookup(200, 96)
    tl = Timeline()
    common = ['--params-file', params_file]
    model = ['-p', f'model:={args.model}']
    console.print(f'[bold]qcoinf demo[/bold]: ROS_DOMAIN_ID={domain}, model {args.model}, '
                  f'parameters {params_file}')
    procs = [NodeProcess('edge_decoder_node', common + model, env=env),
             NodeProcess('agent_encoder_node', common + model, env=env),
             NodeProcess('planner_node', common, env=env),
             NodeProcess('frequency_actuator_node', common, env=env),
             NodeProcess('camera_node', common, env=env),
             NodeProcess('scenario_node', common, env=env)]
    rclpy.init()
    node = rclpy.create_node('qcoinf_demo')

    def on_battery(msg):
        if tl.start is None:
            tl.start = time.monotonic()
        tl.battery.append((tl.now(), msg.percentage))

    def on_deadline(msg):
        tl.deadline.append((tl.now(), msg.data))
        console.print(f'[{tl.now():5.1f} s] [bold yellow]deadline T0 = {msg.data:g} s[/]')

    def on_bits(msg):
        tl.bits.append((tl.now(), msg.data))

    def on_profile(msg):
        tl.profiles.append((tl.now(), decode_profile(msg.data)))

    def on_image(msg):
        index = by_hash.get(hashlib.sha1(bytes(msg.data)).hexdigest())
        if index is not None:
            tl.frames[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = index

    def on_caption(msg):
        tl.captions.append(msg.data)

    def on_embedding(msg):
        try:
            meta = decode_embedding(bytes(msg.data))[1]
        except ValueError:
            return
        tl.encodes.append((tl.now(), meta.bit_width, meta.agent_latency_s))

    def on_cost(part, msg):
        try:
            tl.costs[part] = decode_cost(msg.data)
        except ValueError:
            return

    def on_latency(msg):
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        tl.latency.append((tl.now(), msg.vector.x, msg.vector.y, stamp))
        caption = tl.captions[len(tl.latency) - 1] if len(tl.captions) >= len(tl.latency) \
            else '?'
        index = tl.frames.get(stamp)
        ok = index is not None and _norm(caption) in {_norm(r) for r in refs[index]}
        plan = tl.profiles[-1][1] if tl.profiles else None
        battery = tl.battery[-1][1] if tl.battery else float('nan')
        agent = f'{1e3 * plan.predicted_agent_delay_s:.1f}' if plan else '?'
        predicted = f'{1e3 * plan.predicted_delay_s:.0f}' if plan else '?'
        energy = f'{plan.predicted_energy_j:.3f}' if plan else '?'
        console.print(
            f'[{tl.now():5.1f} s] battery {battery:4.0%}  b={plan.bit_width if plan else "?"}  '
            f'encode pred {agent} / meas {1e3 * msg.vector.y:.1f} ms  T pred {predicted} / '
            f'meas {1e3 * msg.vector.x:.0f} ms  E pred {energy} J  '
            f'{"[green]OK[/]" if ok else "[red]--[/]"} {caption}')

    ready = {'agent': False}
    node.create_subscription(String, 'qcoinf/agent_model',
                             lambda m: ready.__setitem__('agent', True), LATCHED)
    for part in ('agent', 'server'):
        node.create_subscription(String, f'qcoinf/{part}_cost',
                                 lambda m, p=part: on_cost(p, m), LATCHED)
    start = time.monotonic()
    try:
        while not ready['agent'] and time.monotonic() - start < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
            if any(p.returncode is not None for p in procs):
                break
        console.print(f'models loaded after {time.monotonic() - start:.1f} s; scenario starts')
        node.create_subscription(Float64, 'qcoinf/deadline', on_deadline, LATCHED)
        node.create_subscription(UInt8, 'qcoinf/bit_width', on_bits, LATCHED)
        node.create_subscription(String, 'qcoinf/frequency_profile', on_profile, LATCHED)
        node.create_subscription(Image, 'camera/image_raw', on_image, SENSOR)
        node.create_subscription(String, 'qcoinf/caption', on_caption, reliable(10))
        node.create_subscription(Vector3Stamped, 'qcoinf/latency', on_latency, reliable(10))
        node.create_subscription(CompressedImage, 'qcoinf/embedding', on_embedding, reliable(2))
        node.create_subscription(BatteryState, 'battery_state', on_battery, SENSOR)
        scenario = procs[-1]
        while scenario.returncode is None and time.monotonic() - start < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
            if any(p.returncode is not None for p in procs[:-1]):
                break
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.05)
        alive = all(p.returncode is None for p in procs[:-1])
    finally:
        codes = {p.name: p.stop() for p in procs}
        node.destroy_node()
        rclpy.try_shutdown()

    out = Path(args.out)
    summary = _report(tl, refs, out)
    console.print()
    for line in summary:
        console.print(line)
    ok = alive and codes['scenario_node'] == 0 and len(tl.latency) >= 5
    if not ok:
        seen = sorted({b for _, b in tl.bits})
        console.print(f'[red]demo failed[/red]: alive={alive}, exit codes {codes}, '
                      f'{len(tl.latency)} captions, bit-widths seen {seen}')
        for p in procs:
            console.print(f'--- {p.name}\n{p.output[-3000:]}')
        return 1
    console.print(f'[green]demo ok[/green]: report in {out}/report.png and {out}/report.md')
    return 0


def _norm(text: str) -> str:
    from qcoinf_ros.captioner.metrics import normalize_caption
    return normalize_caption(text)


@dataclass(frozen=True)
class PlanCheck:
    """One plan: its predicted agent delay against the encode times measured while in force."""

    start: float
    end: float
    bit_width: int
    predicted_s: float
    measured_s: float  # median; NaN if no frame was encoded at that bit-width meanwhile
    frames: int

    @property
    def ratio(self) -> float:
        """Predicted / measured."""
        return self.predicted_s / self.measured_s if self.frames else float('nan')

    def within(self, tolerance: float = 0.25) -> bool:
        """Whether the prediction is within ``tolerance`` (relative) of the measurement."""
        return bool(self.frames) and abs(self.predicted_s - self.measured_s) \
            <= tolerance * self.measured_s


def plan_checks(profiles, encodes, end: float) -> list[PlanCheck]:
    """
    Each plan against the frames encoded at its bit-width until the next plan.

    ``profiles``: ``(t, ProfileMessage)`` in time order; ``encodes``: ``(t, b, seconds)`` from
    the embeddings' payloads. Consecutive plans with the same bit-width and prediction are one.
    """
    import statistics

    merged = []
    for t, plan in profiles:
        key = (plan.bit_width, round(plan.predicted_agent_delay_s, 9))
        if merged and merged[-1][2] == key:
            continue
        merged.append((t, plan, key))
    checks = []
    for i, (t, plan, _) in enumerate(merged):
        t_end = merged[i + 1][0] if i + 1 < len(merged) else end
        seconds = [sec for when, b, sec in encodes if t <= when < t_end
                   and b == plan.bit_width]
        checks.append(PlanCheck(t, t_end, plan.bit_width, plan.predicted_agent_delay_s,
                                statistics.median(seconds) if seconds else float('nan'),
                                len(seconds)))
    return checks


def _report(tl: Timeline, refs: dict[int, list[str]], out: Path) -> list[str]:
    """Write report.png and report.md; return the summary lines."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from qcoinf_ros.captioner.metrics import score_captions

    out.mkdir(parents=True, exist_ok=True)
    pairs = [(lat, cap) for lat, cap in zip(tl.latency, tl.captions)]
    candidates, references, hits = {}, {}, []
    for i, ((t, e2e, _, stamp), caption) in enumerate(pairs):
        index = tl.frames.get(stamp)
        if index is None:
            continue
        candidates[i], references[i] = caption, refs[index]
        hits.append((t, float(_norm(caption) in {_norm(r) for r in refs[index]})))
    scores = score_captions(candidates, references) if candidates else None
    checks = plan_checks(tl.profiles, tl.encodes, tl.now())
    fig, axes = plt.subplots(5, 1, figsize=(8, 11), sharex=True)
    if tl.battery:
        axes[0].plot(*zip(*tl.battery), color='tab:green')
    axes[0].set_ylabel('battery')
    if tl.bits:
        times, bits = zip(*tl.bits)
        axes[1].step(list(times) + [tl.now()], list(bits) + [bits[-1]], where='post')
    axes[1].set_ylabel('bit-width b')
    if tl.encodes:
        axes[2].plot([t for t, _, _ in tl.encodes], [1e3 * sec for _, _, sec in tl.encodes],
                     '.', ms=3, label='measured encode (agent, per frame)')
    if tl.profiles:
        axes[2].step([t for t, _ in tl.profiles],
                     [1e3 * p.predicted_agent_delay_s for _, p in tl.profiles], where='post',
                     color='tab:red', label="plan's predicted agent delay")
    axes[2].set_ylabel('encode [ms]')
    axes[2].set_ylim(0, None)
    axes[2].legend(fontsize=7)
    if tl.latency:
        axes[3].plot([x[0] for x in tl.latency], [x[1] for x in tl.latency], '.',
                     label='measured end-to-end (this machine)')
    if tl.profiles:
        axes[3].step([t for t, _ in tl.profiles], [p.predicted_delay_s for _, p in tl.profiles],
                     where='post', label='predicted T (eq. 8, measured costs)')
    for t, value in tl.deadline:
        axes[3].axhline(value, color='grey', lw=0.5, ls=':')
    axes[3].set_ylabel('latency [s]')
    axes[3].legend(fontsize=7)
    if hits:
        window = 5
        t_hit = [t for t, _ in hits]
        rolling = [sum(h for _, h in hits[max(0, i - window + 1):i + 1]) /
                   len(hits[max(0, i - window + 1):i + 1]) for i in range(len(hits))]
        axes[4].plot(t_hit, rolling, color='tab:purple')
    axes[4].set_ylabel(f'exact match\n(rolling {5})')
    axes[4].set_xlabel('time since the scenario started [s]')
    fig.tight_layout()
    fig.savefig(out / 'report.png', dpi=110)
    plt.close(fig)
    lat = sorted(x[1] for x in tl.latency)
    energy = sum(p.predicted_energy_j for _, p in tl.profiles) / max(len(tl.profiles), 1)
    measured = [c for c in checks if c.frames]
    good = sum(c.within() for c in measured)
    agent_cost = tl.costs.get('agent')
    lines = [
        f'captions: {len(tl.latency)}; bit-widths used: {sorted({b for _, b in tl.bits})}; '
        f'deadlines: {[d for _, d in tl.deadline]} s',
        f'battery: {tl.battery[0][1]:.0%} -> {tl.battery[-1][1]:.0%}' if tl.battery else
        'battery: no message',
        (f"agent's measured cost: t(b) = {1e3 * agent_cost.t_fixed:.2f} ms + "
         f'{1e3 * agent_cost.t_plane:.3f} ms x b ({agent_cost.kernel}/{agent_cost.isa}, '
         f'{"cached" if agent_cost.cached else "measured at start-up"})') if agent_cost else
        "agent's measured cost: none received (the planner used the preset)",
        f'predicted agent delay within 25 % of the measured encode time: {good} of '
        f'{len(measured)} plans',
        f'measured end-to-end latency: median {1e3 * lat[len(lat) // 2]:.0f} ms, max '
        f'{1e3 * lat[-1]:.0f} ms' if lat else 'no latency measured',
        f'predicted energy per inference (eq. 9 with the measured cycles), mean over plans: '
        f'{energy:.4f} J',
        (f'caption quality: CIDEr {scores.cider:.1f}, exact match {scores.exact_match:.2f} '
         f'over {len(candidates)} frames') if scores else 'caption quality: no frame matched',
    ]
    if agent_cost is not None and len({b for _, b in tl.bits}) == 1 and \
            agent_cost.t_plane * agent_cost.b_max < 0.05 * agent_cost.t_fixed:
        lines.append('b stayed the same: on this machine the encode time hardly depends on b '
                     '(the model is too small for the plane passes to matter), so no budget '
                     'made a lower b worth its quality loss')
    table = ['| from [s] | to [s] | b | predicted agent delay [ms] | measured encode, median '
             '[ms] | frames | predicted / measured | within 25 % |',
             '|---|---|---|---|---|---|---|---|']
    for c in checks:
        table.append(
            f'| {c.start:.1f} | {c.end:.1f} | {c.bit_width} | {1e3 * c.predicted_s:.2f} | '
            + (f'{1e3 * c.measured_s:.2f} | {c.frames} | {c.ratio:.2f} | '
               f'{"yes" if c.within() else "no"} |' if c.frames else '- | 0 | - | - |'))
    (out / 'report.md').write_text(
        '# qcoinf demo report\n\n' + '\n'.join(f'- {line}' for line in lines)
        + '\n\n## Plans: predicted agent delay vs measured encode time\n\n'
        + '\n'.join(table) + '\n\n![timeline](report.png)\n')
    return lines
