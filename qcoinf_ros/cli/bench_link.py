"""
``qcoinf bench link``: agent and edge server on two "hosts" joined by a shaped link.

The agent side (camera_node, agent_encoder_node and a probe) and the server side
(edge_decoder_node) run in two network namespaces joined by a veth pair whose rate is shaped
with ``tc`` (:mod:`qcoinf_ros.bench.netns`); DDS runs over that link only (UDPv4 bound to the
link addresses, unicast discovery: :mod:`qcoinf_ros.ros.dds_profile`). The model is a random
GIT checkpoint whose embedding has the size of a real one (197 x 384 fp32, ~300 KB), so the
upload, not the compute, dominates at 20 Mbit/s.

It prints, per frame, the measured communication time ``t_comm = e2e - encode - decode - t_q``
(camera stamp to caption, minus the agent's encode, the server's decode and the server's
measured queueing delay) beside the system model's term ``8 payload_bytes / link_rate_bps``
(:mod:`qcoinf_ros.system.model`, added to eq. (8)), and the (P1) plans with and without that
term when the deadline leaves less than the upload time above the least compute delay at
B_max (the link is the bottleneck). Needs root.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import random
import statistics
import sys
import tempfile
import time

__all__ = ['LinkRun', 'run_two_hosts', 'link_plans', 'main']

#: Embedding geometry of the benchmark checkpoint: (224 / 16)^2 + 1 = 197 tokens x 384.
CHECKPOINT = {'image_size': 224, 'patch_size': 16, 'width': 384, 'layers': 1}


@dataclass
class LinkRun:
    """What one run over the link measured."""

    shaping: str
    rate_bps: float
    delay_s: float
    frames: list[dict] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    output: str = ''

    @property
    def comm_s(self) -> list[float]:
        """Measured communication time per frame [s]."""
        return [f['e2e_s'] - f['encode_s'] - f['decode_s'] - f['queue_s'] for f in self.frames]

    @property
    def payload_bytes(self) -> float:
        """Median embedding size on the wire [bytes] (message data)."""
        sizes = [f['payload_bytes'] for f in self.frames if f['payload_bytes']]
        return float(statistics.median(sizes)) if sizes else 0.0

    @property
    def model_comm_s(self) -> float:
        """Return the model's communication term 8 payload / rate [s] (+ the one-way delay)."""
        from qcoinf_ros.system.model import SystemParams
        params = SystemParams(n_flop=1.0, n_flop_server=1.0, payload_bytes=self.payload_bytes,
                              link_rate_bps=self.rate_bps)
        return params.comm_delay + self.delay_s


def _frames(folder, count: int = 4) -> None:
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    for i in range(count):
        cv2.imwrite(str(folder / f'{i}.png'), rng.integers(0, 256, (64, 64, 3), np.uint8))


def run_two_hosts(rate_bps: float = 20e6, delay_s: float = 0.0, loss: float = 0.0,
                  frames: int = 10, warmup: int = 2, camera_hz: float = 2.0,
                  timeout: float = 120.0, echo: bool = False) -> LinkRun:
    """Run the pipeline across two namespaces over the shaped link; return what it measured."""
    from pathlib import Path

    from qcoinf_ros.models.tiny import save_tiny_git_checkpoint
    from qcoinf_ros.ros.dds_profile import two_hosts_env, two_hosts_profile
    from qcoinf_ros.ros.processes import loopback_dds_env
    from qcoinf_ros.bench.netns import LinkShape, NetnsNodeProcess, TwoHosts

    shape = LinkShape(rate_bps, delay_s, loss)
    with tempfile.TemporaryDirectory(prefix='qcoinf_link_') as tmp:
        tmp = Path(tmp)
        ckpt = tmp / 'ckpt'
        save_tiny_git_checkpoint(ckpt, image_size=CHECKPOINT['image_size'],
                                 patch_size=CHECKPOINT['patch_size'],
                                 width=CHECKPOINT['width'], layers=CHECKPOINT['layers'])
        (tmp / 'frames').mkdir()
        _frames(tmp / 'frames')
        domain = random.SystemRandom().randint(1, 100)
        with TwoHosts(shape) as hosts:
            envs = {}
            for side in ('agent', 'server'):
                profile = tmp / f'fastdds_{side}.xml'
                profile.write_text(two_hosts_profile(*hosts.addresses(side)))
                envs[side] = two_hosts_env(loopback_dds_env(), profile, domain)
            model = ['-p', f'model:=git:{ckpt}', '-p', 'threads:=1']
            procs = [
                NetnsNodeProcess(hosts.prefix('server'), 'edge_decoder_node',
                                 model + ['-p', 'max_new_tokens:=5'], env=envs['server']),
                NetnsNodeProcess(hosts.prefix('agent'), 'agent_encoder_node', model,
                                 env=envs['agent']),
                NetnsNodeProcess(hosts.prefix('agent'), 'camera_node',
                                 ['-p', 'source:=folder', '-p', f'path:={tmp / "frames"}',
                                  '-p', f'rate_hz:={camera_hz}'], env=envs['agent']),
            ]
            probe = NetnsNodeProcess(
                hosts.prefix('agent'), 'link_probe', env=envs['agent'], name='probe',
                command=[sys.executable, '-m', 'qcoinf_ros.cli.link_probe', '--count',
                         str(frames), '--warmup', str(warmup), '--timeout', str(timeout)])
            procs.append(probe)
            try:
                probe.wait(timeout + 30.0)
            finally:
                for proc in reversed(procs):
                    proc.stop()
            output = '\n'.join(f'--- {p.name}\n{p.output}' for p in procs)
            run = LinkRun(hosts.shaping, rate_bps, delay_s, output=output)
        lines = [ln for ln in probe.output.splitlines() if ln.startswith('{')]
        if lines:
            data = json.loads(lines[-1])
            run.frames, run.captions = data['frames'], data['captions']
        if echo:
            print(output)
        return run


def link_plans(payload_bytes: float, rate_bps: float, preset: str = 'paper',
               model: str = 'git', b_max: int = 8, lam: float = 40.0):
    """
    Plans of (P1) without and with the communication term, when the link is the bottleneck.

    The deadline is ``T0 = T_min(B_max) + t_comm / 2``, with ``T_min(B_max)`` the least delay of
    eq. (8) at ``B_max`` (both clocks at their maxima) and ``t_comm = 8 payload / rate``: the
    paper's model (no term) still affords ``B_max``; with the term it does not. No energy
    limit (E0 = inf), so the deadline alone decides. Returns ``(t0, plan_without, plan_with)``.
    """
    import dataclasses

    from qcoinf_ros.planner import make_solver, PlanningProblem
    from qcoinf_ros.planner.presets import load_preset
    from qcoinf_ros.system.model import total_delay

    params = dataclasses.replace(load_preset(preset, model)[0], b_max=b_max)
    linked = dataclasses.replace(params, payload_bytes=payload_bytes, link_rate_bps=rate_bps)
    t_min = total_delay(params, b_max, params.f_max, params.f_max_server)
    t0 = t_min + 0.5 * linked.comm_delay
    solver = make_solver('exact')
    return (t0, solver.solve(PlanningProblem(params, lam, t0, float('inf'))),
            solver.solve(PlanningProblem(linked, lam, t0, float('inf'))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='qcoinf bench link', description=__doc__.strip()
                                     .splitlines()[0])
    parser.add_argument('--rate-mbit', type=float, default=20.0, help='link rate [Mbit/s]')
    parser.add_argument('--delay-ms', type=float, default=10.0,
                        help='one-way delay [ms] (needs netem; left out without it)')
    parser.add_argument('--loss', type=float, default=0.01,
                        help='packet loss [0, 1) (needs netem; left out without it)')
    parser.add_argument('--frames', type=int, default=20, help='frames measured')
    parser.add_argument('--camera-hz', type=float, default=2.0)
    parser.add_argument('--timeout', type=float, default=120.0, help='longest wait [s]')
    parser.add_argument('--echo', action='store_true', help="print the nodes' output")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    from qcoinf_ros.bench.netns import netns_unavailable

    reason = netns_unavailable()
    if reason:
        print(f'qcoinf bench link: cannot run here: {reason}', file=sys.stderr)
        return 2
    start = time.monotonic()
    run = run_two_hosts(args.rate_mbit * 1e6, args.delay_ms / 1e3, args.loss, args.frames,
                        camera_hz=args.camera_hz, timeout=args.timeout, echo=args.echo)
    if delay_left_out := 'left out' in run.shaping:
        run.delay_s = 0.0
    console = Console()
    console.print(f'link: {run.shaping}')
    if len(run.frames) < args.frames:
        console.print(f'[red]only {len(run.frames)} of {args.frames} frames arrived[/red]')
        print(run.output)
        return 1
    comm = sorted(run.comm_s)
    model = run.model_comm_s
    table = Table(title=f'communication time per frame over the link ({len(comm)} frames)')
    for col in ('payload [bytes]', 'model 8B/R [ms]', 'measured p50 [ms]', 'p95 [ms]',
                'measured / model'):
        table.add_column(col, justify='right')
    p50 = statistics.median(comm)
    table.add_row(f'{run.payload_bytes:.0f}', f'{1e3 * model:.1f}', f'{1e3 * p50:.1f}',
                  f'{1e3 * comm[int(0.95 * (len(comm) - 1))]:.1f}', f'{p50 / model:.3f}')
    console.print(table)
    console.print(f'captions: {len(run.captions)}, e.g. {run.captions[-1]!r}'
                  + (' (delay/loss not emulated: netem missing)' if delay_left_out else ''))
    rate = 8.0 * run.payload_bytes / p50
    t0, without, with_term = link_plans(run.payload_bytes, rate)
    plans = Table(title=f'(P1), paper preset (git), B_max 8, T0 = {t0:.4f} s, E0 = inf; '
                  f'measured rate {rate / 1e6:.2f} Mbit/s')
    for col in ('model', 'b', 'f [GHz]', 'f~ [GHz]', 'predicted T [s]', 'feasible'):
        plans.add_column(col, justify='right')
    for name, plan in (('eq. (8) alone (paper)', without), ('eq. (8) + t_comm', with_term)):
        point = plan.point if plan.feasible else plan.fallback
        plans.add_row(name, str(point.bit_width), f'{point.f / 1e9:.3f}',
                      f'{point.f_server / 1e9:.3f}', f'{point.delay:.4f}', str(plan.feasible))
    console.print(plans)
    console.print(f'done in {time.monotonic() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
