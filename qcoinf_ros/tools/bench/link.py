"""
Agent and edge server on two "hosts" joined by a shaped link (``qcoinf bench link``).

The agent side (camera_node, agent_encoder_node and a probe) and the server side
(edge_decoder_node) run in two network namespaces joined by a veth pair whose rate is shaped
with ``tc`` (:mod:`qcoinf_ros.tools.bench.netns`); DDS runs over that link only (UDPv4 bound to the
link addresses, unicast discovery: :mod:`qcoinf_ros.ros.dds_profile`). The model is a random
GIT checkpoint whose embedding has the size of a real one (197 x 384 fp32, ~300 KB), so the
upload, not the compute, dominates at 20 Mbit/s.

It prints, per frame, the measured communication time ``t_comm = e2e - encode - decode - t_q``
(camera stamp to caption, minus the agent's encode, the server's decode and the server's
measured queueing delay) beside the system model's term ``8 payload_bytes / link_rate_bps``
(:mod:`qcoinf_ros.core.system.model`, added to eq. (8)), and the (P1) plans with and without that
term when the deadline leaves less than the upload time above the least compute delay at
B_max (the link is the bottleneck). Needs root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import random
import statistics
import sys
import tempfile


__all__ = ['CHECKPOINT', 'LinkRun', 'run_two_hosts', 'link_plans']


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
        from qcoinf_ros.core.system.model import SystemParams
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

    from qcoinf_ros.core.models.tiny import save_tiny_git_checkpoint
    from qcoinf_ros.ros.dds_profile import two_hosts_env, two_hosts_profile
    from qcoinf_ros.ros.processes import loopback_dds_env
    from qcoinf_ros.tools.bench.netns import LinkShape, NetnsNodeProcess, TwoHosts

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
                command=[sys.executable, '-m', 'qcoinf_ros.tools.cli.link_probe', '--count',
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

    from qcoinf_ros.core.planner import make_solver, PlanningProblem
    from qcoinf_ros.core.planner.presets import load_preset
    from qcoinf_ros.core.system.model import total_delay

    params = dataclasses.replace(load_preset(preset, model)[0], b_max=b_max)
    linked = dataclasses.replace(params, payload_bytes=payload_bytes, link_rate_bps=rate_bps)
    t_min = total_delay(params, b_max, params.f_max, params.f_max_server)
    t0 = t_min + 0.5 * linked.comm_delay
    solver = make_solver('exact')
    return (t0, solver.solve(PlanningProblem(params, lam, t0, float('inf'))),
            solver.solve(PlanningProblem(linked, lam, t0, float('inf'))))
