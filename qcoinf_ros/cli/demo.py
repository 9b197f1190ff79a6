"""
``qcoinf demo``: the whole co-inference graph on the default captioner, with a scripted scenario.

The graph is the package's ``launch/coinference.launch.xml`` with its scenario node, evaluated
and started as ``qcoinf launch`` does (:class:`~qcoinf_ros.ros.processes.LaunchedNodes`): every
node its own process over DDS (loopback profile): scenario (battery drain and deadline
schedule), camera (the package's scenes), agent encoder, edge decoder, planner and frequency
actuator (dry run); the launch arguments come from the parameters file. The agent and the
decoder measure their costs on this machine at start-up (``qcoinf/agent_cost``,
``qcoinf/server_cost``); the planner plans with them (clocks fixed, since the dry-run actuator
sets none).

With ``--scenario derived`` (the default) the budgets come from those measurements
(:mod:`qcoinf_ros.scenario.derive`): once the costs arrive, this process computes deadlines that
force ``B_max``, then two lower bit-widths, and an energy budget that steps ``b`` down as the
battery drains, never below the model's quality floor (from its ``quality.json``, or
``--min-bits``); it sets them on the scenario and planner nodes, then starts the scenario.
``--scenario file`` keeps the budgets of the parameters file.

Live, it shows each caption with the bit-width in force, the plan's predicted agent delay beside
the encode time measured for that frame, the deadline, and the predicted end-to-end delay and
energy (eqs. (8)-(9)) beside the measured latency. At the end it writes ``report.png`` and
``report.md`` to ``--out`` (:mod:`qcoinf_ros.monitor.demo_report`) and exits 0 if the scenario
ran through with captions flowing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
import random
import time

from rich.console import Console

from qcoinf_ros.resources import share_file
from qcoinf_ros.ros.processes import LaunchedNodes, loopback_dds_env

SCENARIOS = ('derived', 'file')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf demo', description=__doc__.splitlines()[1])
    parser.add_argument('--model', default='default',
                        help='default or tiny (the embedded captioners), git:DIR or blip2:DIR')
    parser.add_argument('--params-file', default=None,
                        help='parameters of the nodes (default: the shipped config/demo.yaml)')
    parser.add_argument('--scenario', default='derived', choices=SCENARIOS,
                        help='derived: budgets from the measured cost (default); file: the '
                             "parameters file's deadlines and energy budgets")
    parser.add_argument('--min-bits', type=int, default=0,
                        help="lowest bit-width a derived phase may ask for (default: the model's "
                             'quality floor from its quality.json)')
    parser.add_argument('--keep', type=float, default=0.9,
                        help='quality floor: the lowest b whose CIDEr stays >= KEEP x the CIDEr '
                             'at B_max (default 0.9)')
    parser.add_argument('--out', default='results/demo', help='report folder (results/demo)')
    parser.add_argument('--timeout', type=float, default=180.0,
                        help='give up after this many seconds (default 180)')
    return parser


def _scene_lookup(count: int, size: int) -> tuple[dict[str, int], dict[int, list[str]]]:
    from qcoinf_ros.scenes.generator import iter_scenes, SceneConfig
    by_hash, refs = {}, {}
    for index, (image, captions, _) in enumerate(iter_scenes('test', count,
                                                             SceneConfig(image_size=size))):
        by_hash[hashlib.sha1(image.tobytes()).hexdigest()] = index
        refs[index] = list(captions)
    return by_hash, refs


def quality_file(model: str) -> Path | None:
    """Return the ``quality.json`` of a model spec (embedded or ``git:DIR``), if it has one."""
    from qcoinf_ros.models.embedded import EMBEDDED
    if model in EMBEDDED:
        path = EMBEDDED[model][1] / 'quality.json'
    else:
        family, _, location = model.partition(':')
        path = Path(location).expanduser() / 'quality.json' if location else None
    return path if path is not None and path.is_file() else None


def model_floor(model: str, scheme: str, min_bits: int, keep: float) -> tuple[int, str]:
    """``(floor, where it comes from)``: ``min_bits``, else the model's ``quality.json``."""
    from qcoinf_ros.scenario.derive import quality_floor
    if min_bits:
        return min_bits, 'given with --min-bits'
    path = quality_file(model)
    if path is None:
        return 1, 'no quality.json for this model: no floor; pass --min-bits'
    try:
        record = json.loads(path.read_text())
        rows = [(int(r['bit_width']), float(r['cider'])) for r in record['rows']
                if r['scheme'] == scheme]
        floor = quality_floor(rows, keep)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f'cannot read the quality record {str(path)!r}: {exc}') from exc
    cider = dict(rows)
    top = max(cider)
    return floor, (f'{scheme} CIDEr {cider[floor]:.1f} at b = {floor} vs {cider[top]:.1f} at '
                   f'b = {top}; keep {keep:g}; {record.get("dataset", "")}')


def _node_values(params_file: str, node: str, params) -> dict:
    """Return the parameters ``node`` runs with: its declared defaults, then the file's."""
    from qcoinf_ros.launching.params_file import node_parameters
    return {**{p.name: p.default for p in params}, **node_parameters(params_file, node)}


def derive_budgets(params_file: str, costs: dict, floor: int):
    """Return the :class:`DerivedScenario` for this machine's ``costs`` and the file."""
    import dataclasses

    from qcoinf_ros.nodes.planner_node import PARAMS as PLANNER
    from qcoinf_ros.nodes.scenario_node import PARAMS as SCENARIO
    from qcoinf_ros.planner.measured import measured_model
    from qcoinf_ros.planner.presets import load_preset
    from qcoinf_ros.scenario import BatteryDrain
    from qcoinf_ros.scenario.derive import derive_scenario

    planner = _node_values(params_file, 'planner_node', PLANNER)
    scenario = _node_values(params_file, 'scenario_node', SCENARIO)
    if planner['energy_policy'] != 'linear' or planner['cost_model'] != 'measured':
        raise ValueError('a derived scenario needs the planner with energy_policy linear and '
                         'cost_model measured')
    params = load_preset(planner['preset'], planner['model'] or None).params
    overrides = {k: planner[k] for k in ('b_max', 'link_rate_bps', 'payload_bytes')
                 if planner[k]}
    params = dataclasses.replace(params, **overrides)
    params, agent_cost, _ = measured_model(
        params, costs['agent'], costs['server'], (planner['agent_f_min'], planner['agent_f_max']),
        (planner['server_f_min'], planner['server_f_max']))
    battery = BatteryDrain(scenario['initial_percentage'], scenario['capacity_ah'],
                           scenario['voltage'], scenario['drain_per_second'],
                           scenario['floor_percentage'])
    derived = derive_scenario(params, agent_cost, floor=min(floor, params.b_max),
                              duration=scenario['duration'], battery=battery,
                              reserve=planner['battery_reserve'],
                              delay_margin=planner['delay_margin'])
    return derived, planner


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    params_file = args.params_file or str(share_file('config/demo.yaml'))
    domain = os.environ.get('ROS_DOMAIN_ID') or str(random.randint(1, 100))
    env = loopback_dds_env(domain_id=int(domain))
    os.environ.update(env)

    import rclpy

    from qcoinf_ros.monitor.demo_report import DemoRecord, write_report

    by_hash, refs = _scene_lookup(200, 96)
    record = DemoRecord()
    console.print(f'[bold]qcoinf demo[/bold]: ROS_DOMAIN_ID={domain}, model {args.model}, '
                  f'parameters {params_file}, scenario {args.scenario}')
    graph = launch_graph(params_file, args.model, env)
    scenario = graph['scenario_node']
    procs = [proc for _, proc in graph.running]
    others = [proc for proc in procs if proc is not scenario]
    rclpy.init()
    node = rclpy.create_node('qcoinf_demo')
    watcher = _Watcher(node, record, by_hash, refs, console)
    start = time.monotonic()
    floor, floor_source, scenario_lines, ok, alive = None, '', [], False, False
    try:
        if not watcher.wait_for_costs(procs, start + args.timeout):
            raise ValueError('the agent and the decoder published no cost within the timeout')
        console.print(f'models loaded and costs measured after {time.monotonic() - start:.1f} '
                      f's')
        if args.scenario == 'derived':
            scheme = _node_values(params_file, 'agent_encoder_node', _agent_params())['scheme']
            floor, floor_source = model_floor(args.model, scheme, args.min_bits, args.keep)
            derived, planner = derive_budgets(params_file, record.costs, floor)
            scenario_lines = derived.describe()
            for line in scenario_lines:
                console.print(f'  [cyan]{line}[/]')
            _apply(node, derived)
            watcher.set_policy(derived.e0_full, derived.e0_min, planner['battery_reserve'])
        watcher.start_scenario()
        console.print('scenario starts')
        while scenario.returncode is None and time.monotonic() - start < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
            if any(p.returncode is not None for p in others):
                break
        for _ in range(20):
            rclpy.spin_once(node, timeout_sec=0.05)
        alive = all(p.returncode is None for p in others)
        ok = True
    except ValueError as exc:
        console.print(f'[red]demo: {exc}[/red]')
    finally:
        codes = graph.stop()
        record.end = watcher.now()
        node.destroy_node()
        rclpy.try_shutdown()

    out = Path(args.out)
    summary = write_report(record, out, floor=floor, floor_source=floor_source,
                           scenario=scenario_lines)
    console.print()
    for line in summary:
        console.print(line)
    ok = ok and alive and codes['scenario_node'] == 0 and len(record.frames) >= 5
    if not ok:
        seen = sorted({f.bit_width for f in record.frames})
        console.print(f'[red]demo failed[/red]: alive={alive}, exit codes {codes}, '
                      f'{len(record.frames)} captions, bit-widths seen {seen}')
        for p in procs:
            console.print(f'--- {p.name}\n{p.output[-3000:]}')
        return 1
    console.print(f'[green]demo ok[/green]: report in {out}/report.png and {out}/report.md')
    return 0


def launch_graph(params_file: str, model: str, env: dict[str, str]) -> LaunchedNodes:
    """Start the demo's graph (:func:`demo_launch`) and return its processes."""
    return LaunchedNodes(demo_launch(params_file, model), env=env)


def demo_launch(params_file: str, model: str):
    """Evaluate ``launch/coinference.launch.xml`` with its scenario, arguments from the file."""
    from qcoinf_ros.launching import parse_launch_file
    from qcoinf_ros.nodes.camera_node import PARAMS as CAMERA
    from qcoinf_ros.nodes.frequency_actuator_node import PARAMS as ACTUATOR

    camera = _node_values(params_file, 'camera_node', CAMERA)
    actuator = _node_values(params_file, 'frequency_actuator_node', ACTUATOR)
    return parse_launch_file(share_file('launch/coinference.launch.xml'), {
        'params_file': params_file, 'model': model, 'camera_source': camera['source'],
        'camera_path': camera['path'], 'backend': actuator['backend'], 'scenario': 'true',
        'scenario_params': params_file})


def _agent_params():
    from qcoinf_ros.nodes.agent_encoder_node import PARAMS
    return PARAMS


def _apply(node, derived) -> None:
    """Set the derived budgets and floor on the planner and the scenario node (before start)."""
    from qcoinf_ros.ros.param_client import set_remote_parameters
    set_remote_parameters(node, 'planner_node', {
        'e0_full': float(derived.e0_full), 'e0_min': float(derived.e0_min),
        'replan_tolerance': float(derived.replan_tolerance), 'min_bit_width': int(derived.floor)})
    set_remote_parameters(node, 'scenario_node', {
        'deadline_times': [float(t) for t in derived.deadline_times],
        'deadline_values': [float(v) for v in derived.deadline_values]})


class _Watcher:
    """Subscribes to the graph's topics and fills the :class:`DemoRecord`, printing each frame."""

    def __init__(self, node, record, by_hash, refs, console):
        from sensor_msgs.msg import Image

        from qcoinf_ros.ros.messages import AgentCost, Embedding, ModelInfo
        from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR
        self._node, self._record, self._console = node, record, console
        self._by_hash, self._refs = by_hash, refs
        self._start: float | None = None
        self._policy = None
        self._stamps: dict[tuple[int, int], int] = {}  # image stamp -> scene index
        self._encodes: dict[tuple[int, int], tuple[int, float]] = {}  # stamp -> (b, seconds)
        self._captions: list[str] = []
        self._latencies = 0
        self._agent_ready = False
        node.create_subscription(ModelInfo, 'qcoinf/agent_model', self._on_agent_model, LATCHED)
        for part in ('agent', 'server'):
            node.create_subscription(AgentCost, f'qcoinf/{part}_cost',
                                     lambda m, p=part: self._on_cost(p, m), LATCHED)
        node.create_subscription(Image, 'camera/image_raw', self._on_image, SENSOR)
        node.create_subscription(Embedding, 'qcoinf/embedding', self._on_embedding,
                                 reliable(2))

    def now(self) -> float:
        return 0.0 if self._start is None else time.monotonic() - self._start

    def set_policy(self, e0_full: float, e0_min: float, reserve: float) -> None:
        from qcoinf_ros.planner.energy_policy import EnergyBudgetPolicy
        self._policy = EnergyBudgetPolicy('linear', e0_full, e0_min, reserve)

    def wait_for_costs(self, procs, deadline: float) -> bool:
        import rclpy
        while time.monotonic() < deadline:
            if self._agent_ready and {'agent', 'server'} <= set(self._record.costs):
                return True
            rclpy.spin_once(self._node, timeout_sec=0.1)
            if any(p.returncode is not None for p in procs):
                return False
        return False

    def start_scenario(self) -> None:
        """Subscribe to the scenario's and the planner's topics: the scenario clock starts."""
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import BatteryState
        from std_msgs.msg import Float64

        from qcoinf_ros.ros.messages import Caption, FrequencyProfile
        from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR
        node = self._node
        node.create_subscription(Float64, 'qcoinf/deadline', self._on_deadline, LATCHED)
        node.create_subscription(FrequencyProfile, 'qcoinf/frequency_profile', self._on_profile,
                                 LATCHED)
        node.create_subscription(Caption, 'qcoinf/caption', self._on_caption, reliable(10))
        node.create_subscription(Vector3Stamped, 'qcoinf/latency', self._on_latency,
                                 reliable(10))
        node.create_subscription(BatteryState, 'battery_state', self._on_battery, SENSOR)

    # -- callbacks -----------------------------------------------------------------------
    def _on_agent_model(self, msg) -> None:
        self._agent_ready = True

    def _on_cost(self, part, msg) -> None:
        from qcoinf_ros.ros.messages import cost_from_msg
        try:
            self._record.costs[part] = cost_from_msg(msg)
        except ValueError:
            return

    def _on_battery(self, msg) -> None:
        if self._start is None:
            self._start = time.monotonic()
        self._record.battery.append((self.now(), msg.percentage))
        if self._policy is not None:
            self._record.e0.append((self.now(), self._policy.budget(msg.percentage)))

    def _on_deadline(self, msg) -> None:
        self._record.deadline.append((self.now(), msg.data))
        self._console.print(f'[{self.now():5.1f} s] [bold yellow]deadline T0 = '
                            f'{1e3 * msg.data:.1f} ms[/]')

    def _on_profile(self, msg) -> None:
        from qcoinf_ros.ros.messages import profile_from_msg
        try:
            self._record.profiles.append((self.now(), profile_from_msg(msg)))
        except ValueError:
            return

    def _on_image(self, msg) -> None:
        index = self._by_hash.get(hashlib.sha1(bytes(msg.data)).hexdigest())
        if index is not None:
            self._stamps[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = index

    def _on_embedding(self, msg) -> None:
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)  # the values are not decoded
        self._encodes[stamp] = (int(msg.bit_width), float(msg.encode_s))

    def _on_caption(self, msg) -> None:
        self._captions.append(msg.text)

    def _on_latency(self, msg) -> None:
        from qcoinf_ros.monitor.demo_report import Frame
        record = self._record
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        caption = self._captions[self._latencies] if len(self._captions) > self._latencies \
            else '?'
        self._latencies += 1
        encode = self._encodes.get(stamp)
        e2e = float(msg.vector.x)
        if self._start is None or encode is None or self.now() - e2e < 0.0:
            return  # captured before the scenario started: no deadline was in force
        index = self._stamps.get(stamp)
        frame = Frame(self.now(), encode[0], encode[1], e2e,
                      record.deadline_at(self.now() - e2e), caption,
                      self._refs[index] if index is not None else [])
        record.frames.append(frame)
        plan = record.profiles[-1][1] if record.profiles else None
        battery = record.battery[-1][1] if record.battery else float('nan')
        right = index is not None and _normalize(caption) in {
            _normalize(r) for r in frame.references}
        t0 = f'{1e3 * frame.t0:.0f}' if frame.t0 is not None else '?'
        predicted = (f'{1e3 * plan.predicted_agent_delay_s:.1f}', f'{plan.predicted_energy_j:.4f}'
                     ) if plan else ('?', '?')
        self._console.print(
            f'[{self.now():5.1f} s] battery {battery:4.0%}  b={frame.bit_width}  encode pred '
            f'{predicted[0]} / meas {1e3 * frame.encode_s:.1f} ms  T {1e3 * e2e:.0f} ms / T0 {t0} '
            f'ms {"[green]met[/]" if frame.met else "[red]late[/]"}  E pred {predicted[1]} J  '
            f'{"[green]OK[/]" if right else "[red]--[/]"} {caption}')


def _normalize(text: str) -> str:
    from qcoinf_ros.captioner.metrics import normalize_caption
    return normalize_caption(text)
