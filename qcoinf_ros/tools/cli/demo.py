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
(:mod:`qcoinf_ros.core.scenario.derive`): once the costs arrive, this process computes deadlines
that force ``B_max``, then two lower bit-widths, and an energy budget that steps ``b`` down as the
battery drains, never below the model's quality floor (from its ``quality.json``, or
``--min-bits``); it sets them on the scenario and planner nodes, then starts the scenario.
``--scenario file`` keeps the budgets of the parameters file.

Live, it shows each caption with the bit-width in force, the plan's predicted agent delay beside
the encode time measured for that frame, the deadline, and the predicted end-to-end delay and
energy (eqs. (8)-(9)) beside the measured latency: the graph is observed through
:func:`qcoinf_ros.ros.observer.observe` (as ``qcoinf monitor`` observes it) into a
:class:`~qcoinf_ros.core.monitor.demo_report.DemoObserver`, which keeps the record and makes the
lines. At the end it writes ``report.png`` and ``report.md`` to ``--out``
(:mod:`qcoinf_ros.core.monitor.demo_report`) and exits 0 if the scenario ran through with captions
flowing.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import random
import time

from rich.console import Console

from qcoinf_ros.core.resources import share_file
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


def quality_file(model: str) -> Path | None:
    """Return the ``quality.json`` of a model spec (embedded or ``git:DIR``), if it has one."""
    from qcoinf_ros.core.models.embedded import EMBEDDED
    if model in EMBEDDED:
        path = EMBEDDED[model][1] / 'quality.json'
    else:
        family, _, location = model.partition(':')
        path = Path(location).expanduser() / 'quality.json' if location else None
    return path if path is not None and path.is_file() else None


def model_floor(model: str, scheme: str, min_bits: int, keep: float) -> tuple[int, str]:
    """``(floor, where it comes from)``: ``min_bits``, else the model's ``quality.json``."""
    from qcoinf_ros.core.scenario.derive import quality_floor
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
    from qcoinf_ros.core.launching.params_file import node_parameters
    return {**{p.name: p.default for p in params}, **node_parameters(params_file, node)}


def derive_budgets(params_file: str, costs: dict, floor: int):
    """Return the :class:`DerivedScenario` for this machine's ``costs`` and the file."""
    import dataclasses

    from qcoinf_ros.core.planner.measured import measured_model
    from qcoinf_ros.core.planner.presets import load_preset
    from qcoinf_ros.core.scenario import BatteryDrain
    from qcoinf_ros.core.scenario.derive import derive_scenario
    from qcoinf_ros.ros.nodes.planner_node import PARAMS as PLANNER
    from qcoinf_ros.ros.nodes.scenario_node import PARAMS as SCENARIO

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

    from qcoinf_ros.core.monitor.demo_report import DemoObserver, DemoRecord, scene_lookup, \
        write_report

    record = DemoRecord()
    observer = DemoObserver(record, *scene_lookup(200, 96))
    console.print(f'[bold]qcoinf demo[/bold]: ROS_DOMAIN_ID={domain}, model {args.model}, '
                  f'parameters {params_file}, scenario {args.scenario}')
    graph = launch_graph(params_file, args.model, env)
    scenario = graph['scenario_node']
    procs = [proc for _, proc in graph.running]
    others = [proc for proc in procs if proc is not scenario]
    rclpy.init()
    node = rclpy.create_node('qcoinf_demo')
    _observe_costs(node, observer)
    start = time.monotonic()
    floor, floor_source, scenario_lines, ok, alive = None, '', [], False, False
    try:
        if not _wait_for_costs(node, observer, procs, start + args.timeout):
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
            observer.set_policy(derived.e0_full, derived.e0_min, planner['battery_reserve'])
        _observe_scenario(node, observer, console)  # the scenario starts on the subscription
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
        record.end = observer.elapsed(time.monotonic())
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
    from qcoinf_ros.core.launching import parse_launch_file
    from qcoinf_ros.ros.nodes.camera_node import PARAMS as CAMERA
    from qcoinf_ros.ros.nodes.frequency_actuator_node import PARAMS as ACTUATOR

    camera = _node_values(params_file, 'camera_node', CAMERA)
    actuator = _node_values(params_file, 'frequency_actuator_node', ACTUATOR)
    return parse_launch_file(share_file('launch/coinference.launch.xml'), {
        'params_file': params_file, 'model': model, 'camera_source': camera['source'],
        'camera_path': camera['path'], 'backend': actuator['backend'], 'scenario': 'true',
        'scenario_params': params_file})


def _agent_params():
    from qcoinf_ros.ros.nodes.agent_encoder_node import PARAMS
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


def _stamp(msg) -> tuple[int, int]:
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def _observe_costs(node, observer) -> None:
    """Watch the model, the measured costs and the frames (before the scenario starts)."""
    from qcoinf_ros.ros.observer import observe
    from qcoinf_ros.ros.qos import reliable
    observe(node, {
        'qcoinf/agent_model': lambda m, t: observer.on_agent_model(),
        'qcoinf/agent_cost': lambda m, t: observer.on_cost('agent', m),
        'qcoinf/server_cost': lambda m, t: observer.on_cost('server', m),
        'camera/image_raw': lambda m, t: observer.on_image(_stamp(m), bytes(m.data)),
        'qcoinf/embedding': lambda m, t: observer.on_embedding(
            _stamp(m), m.bit_width, m.encode_s),
    }, qos={'qcoinf/embedding': reliable(2)})  # every frame's encode time, reliably


def _wait_for_costs(node, observer, procs, deadline: float) -> bool:
    import rclpy
    while time.monotonic() < deadline:
        if observer.ready():
            return True
        rclpy.spin_once(node, timeout_sec=0.1)
        if any(p.returncode is not None for p in procs):
            return False
    return False


def _observe_scenario(node, observer, console) -> None:
    """Subscribe to the scenario's and the planner's topics: the scenario clock starts."""
    from qcoinf_ros.ros.observer import observe

    def on_latency(msg, now) -> None:
        line = observer.on_latency(_stamp(msg), float(msg.vector.x), now)
        if line is not None:
            console.print(line)

    observe(node, {
        'qcoinf/deadline': lambda m, t: console.print(observer.on_deadline(m.data, t)),
        'qcoinf/frequency_profile': lambda m, t: observer.on_profile(m, t),
        'qcoinf/caption': lambda m, t: observer.on_caption(m.text),
        'qcoinf/latency': on_latency,
        'battery_state': lambda m, t: observer.on_battery(m.percentage, t),
    })
