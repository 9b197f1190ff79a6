"""
The edge server lost and back, over and over (``qcoinf bench failover``; issue 27, item 4).

An agent encoder (local mode on), an edge decoder and a planner run as processes over DDS on a
small model; this process sends frames to the agent at ``rate`` (reliable: the standard
``qos_overrides``, so every frame reaches the agent) and watches what comes back. Each of
``cycles`` cycles takes the server away by ``fault`` and brings it back:

``kill``
    SIGKILL of the decoder process, then a new decoder process (its start-up is part of the
    return time: the graph keeps the dead process's readers until its DDS lease ends, so only
    missed answers tell the agent);
``freeze``
    SIGSTOP of the decoder, then SIGCONT (the same process answers what it had queued: late);
``cut``
    the decoder runs in a network namespace of its own, joined to this one by a veth pair
    (:class:`~qcoinf_ros.tools.bench.netns.HostLink`), which is taken down and brought back up, as
    a robot's Wi-Fi drops behind a wall (needs root and ``ip netns``).

Per cycle it measures the time from the loss to the first caption made on the robot
(``qcoinf/local_latency``) and from the return to the first caption of the server again
(``qcoinf/latency``, the link back to ``SPLIT``). Over the whole run it accounts for every frame
offered: captioned by the server, captioned on the robot (a probe of the server included), or
routed to the server and counted missed by the agent's link monitor (in flight when the server
went), and it checks that no frame was captioned twice. While the robot captions alone it
reads the planner's predicted delay for local mode, T = t(b, f) + t_local(f~), and compares it
with what the agent measured for the local captions (encode + local decode: the delay (P1)
models) and with their camera-to-caption delay (which adds the frame's way to the agent and its
conversion, in neither mode's model).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import os
from pathlib import Path
import random
import signal
import statistics
import tempfile
import time

from qcoinf_ros.core.validation import require_int_in_range, require_physical

__all__ = ['FAULTS', 'FailoverConfig', 'FailoverResult', 'failover']

FAULTS = ('kill', 'freeze', 'cut')


@dataclass
class FailoverConfig:
    """What ``qcoinf bench failover`` runs (its command-line options)."""

    fault: str = 'kill'
    cycles: int = 10
    rate: float = 4.0
    model: str = 'tiny'
    max_new_tokens: int = 8
    answer_timeout: float = 1.0
    loss_after_missed: int = 3
    recover_after_answers: int = 3
    probe_period: float = 0.5
    hold: float = 1.0
    startup_timeout: float = 90.0

    def __post_init__(self):
        if self.fault not in FAULTS:
            raise ValueError(f'fault must be one of {", ".join(FAULTS)}, got {self.fault!r}')
        require_int_in_range('cycles', self.cycles, 1, 1000)
        require_physical('rate', self.rate, high=100.0)
        require_int_in_range('max_new_tokens', self.max_new_tokens, 1, 512)
        require_physical('answer_timeout', self.answer_timeout, high=60.0)
        require_int_in_range('loss_after_missed', self.loss_after_missed, 1, 100)
        require_int_in_range('recover_after_answers', self.recover_after_answers, 1, 100)
        require_physical('probe_period', self.probe_period, high=60.0)
        require_physical('hold', self.hold, high=600.0)
        require_physical('startup_timeout', self.startup_timeout, high=3600.0)


@dataclass
class FailoverResult:
    """What ``qcoinf bench failover`` measured (written as JSON with ``--json``)."""

    fault: str
    cycles: int
    rate_hz: float
    to_local_s: list[float] = field(default_factory=list)   # loss -> first local caption
    to_split_s: list[float] = field(default_factory=list)   # return -> first split caption
    offered: list[tuple[int, int]] = field(default_factory=list)  # frame stamps sent
    edge: list[tuple[int, int]] = field(default_factory=list)     # captioned by the server
    local: list[tuple[int, int]] = field(default_factory=list)    # captioned on the robot
    captions: int = 0                 # qcoinf/caption messages
    missed_total: int = 0             # the agent's link monitor
    late: int = 0
    agent: dict[str, str] = field(default_factory=dict)  # the agent's last diagnostics values
    local_latency_s: list[float] = field(default_factory=list)  # camera -> local caption
    local_work_s: list[float] = field(default_factory=list)     # encode + local decode
    # per cycle: the planner's predicted T in local mode (read at the end of the cycle's local
    # hold), and the medians of encode + local decode and camera -> caption in that cycle
    predicted_local_s: list[float] = field(default_factory=list)
    cycle_work_s: list[float] = field(default_factory=list)
    cycle_latency_s: list[float] = field(default_factory=list)
    # per cycle, the parts: the plan's bit-width and predicted encode time, and the medians of
    # the encode and of the local decode measured in the cycle
    plan_bits: list[int] = field(default_factory=list)
    predicted_encode_s: list[float] = field(default_factory=list)
    cycle_encode_s: list[float] = field(default_factory=list)
    cycle_decode_s: list[float] = field(default_factory=list)
    # every cost the agent published (qcoinf/agent_cost: t(b) for b = 1.., qcoinf/local_cost:
    # the local caption time), in order: the planner's prediction is made of these
    agent_costs_s: list[list[float]] = field(default_factory=list)
    local_costs_s: list[float] = field(default_factory=list)

    @property
    def unanswered(self) -> int:
        """Frames offered that no one captioned."""
        return len(self.offered) - len(set(self.edge) | set(self.local))

    @property
    def twice(self) -> int:
        """Frames captioned more than once (by the server, the robot, or both)."""
        keys = self.edge + self.local
        return len(keys) - len(set(keys))

    @property
    def dropped(self) -> dict[str, int]:
        """
        Frames the agent dropped with a reason, by class.

        ``image.*``: on arrival, not encoded; ``local.*``: encoded, not captioned on the robot
        (a stamp the edge decoder would refuse too).
        """
        return {key[len('dropped['):-1]: int(value) for key, value in self.agent.items()
                if key.startswith(('dropped[image.', 'dropped[local.'))}

    @property
    def accounted(self) -> bool:
        """
        Every frame offered captioned once, dropped with a reason, or counted missed.

        From the agent's counters: every frame offered reached it and was encoded, or dropped
        on arrival with its class; every frame encoded took one route; every frame routed to
        the robot (local, or a probe) was captioned there; any other frame no one captioned was
        routed to the server, whose answer the link monitor counted missed.
        """
        agent = {k: int(self.agent.get(k, -1)) for k in
                 ('frames', 'frames_edge', 'frames_local', 'frames_probe')}
        arrival = sum(n for cls, n in self.dropped.items() if cls.startswith('image.'))
        local = sum(n for cls, n in self.dropped.items() if cls.startswith('local.'))
        unanswered_edge = agent['frames_edge'] - len(set(self.edge))
        return (self.twice == 0 and self.captions == len(self.edge) + len(self.local)
                and agent['frames'] + arrival == len(self.offered)
                and agent['frames'] ==
                agent['frames_edge'] + agent['frames_local'] + agent['frames_probe']
                and len(self.local) == agent['frames_local'] + agent['frames_probe'] - local
                and self.unanswered == unanswered_edge + arrival + local
                and unanswered_edge <= self.missed_total - self.late)

    @property
    def prediction_errors(self) -> list[float]:
        """Per cycle: predicted local-mode T over the measured encode + local decode, minus 1."""
        return [p / m - 1.0 for p, m in zip(self.predicted_local_s, self.cycle_work_s)]

    @property
    def end_to_end_errors(self) -> list[float]:
        """Per cycle: predicted local-mode T over the measured camera -> caption, minus 1."""
        return [p / m - 1.0 for p, m in zip(self.predicted_local_s, self.cycle_latency_s)]

    @property
    def predictions_from_costs(self) -> list[bool]:
        """
        Per cycle: the planner's local-mode T is ``t(b) + t_local`` of costs the agent published.

        The planner's arithmetic in local mode (:func:`qcoinf_ros.core.planner.measured.
        measured_model`: the robot decodes, no upload; the clocks are fixed at the measured ones
        in this bench), checked against the costs on the topics rather than against a clock:
        a prediction that left the local decode out, or took the server's, fails it whatever
        the machine's load.
        """
        def near(a: float, b: float) -> bool:
            return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-9)

        checks = []
        for b, total, encode in zip(self.plan_bits, self.predicted_local_s,
                                    self.predicted_encode_s):
            checks.append(
                any(0 < b <= len(t) and near(encode, t[b - 1]) for t in self.agent_costs_s)
                and any(near(total - encode, t) for t in self.local_costs_s))
        return checks

    def to_dict(self) -> dict:
        return dict(asdict(self), unanswered=self.unanswered, twice=self.twice,
                    dropped=self.dropped, accounted=self.accounted,
                    prediction_errors=self.prediction_errors,
                    end_to_end_errors=self.end_to_end_errors,
                    predictions_from_costs=self.predictions_from_costs)


class _Watch:
    """The bench's own node: link state, answers, local captions, agent status, plans."""

    def __init__(self, result: FailoverResult):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Vector3Stamped
        from std_msgs.msg import String

        from qcoinf_ros.core.codec.link_state import decode_link_state
        from qcoinf_ros.ros.context import BoundedSpin
        from qcoinf_ros.ros.messages import (
            AgentCost, Caption, cost_from_msg, FrequencyProfile, profile_from_msg)
        from qcoinf_ros.ros.qos import LATCHED, reliable

        self.spinner = BoundedSpin('qcoinf_bench_failover')
        node = self.node = self.spinner.node
        self.result = result
        self.states: list[tuple[float, str]] = []
        self.edge_at: list[float] = []
        self.local_at: list[float] = []
        # (at, encode + local decode, camera -> caption, encode, local decode)
        self.local_times: list[tuple[float, float, float, float, float]] = []
        self.plans: list = []
        self.planner_mode = ''
        node.create_subscription(String, 'qcoinf/link_state', self._on_link, LATCHED)
        node.create_subscription(Vector3Stamped, 'qcoinf/latency', self._on_edge, reliable(100))
        node.create_subscription(Vector3Stamped, 'qcoinf/local_latency', self._on_local,
                                 reliable(100))
        node.create_subscription(Caption, 'qcoinf/caption', self._on_caption, reliable(100))
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        node.create_subscription(FrequencyProfile, 'qcoinf/frequency_profile',
                                 lambda m: self.plans.append(profile_from_msg(m)), LATCHED)
        node.create_subscription(AgentCost, 'qcoinf/agent_cost', lambda m: result.agent_costs_s
                                 .append(list(cost_from_msg(m).seconds)), LATCHED)
        node.create_subscription(AgentCost, 'qcoinf/local_cost', lambda m: result.local_costs_s
                                 .append(cost_from_msg(m).seconds[0]), LATCHED)
        self._decode_link = decode_link_state

    def _on_link(self, msg) -> None:
        snap = self._decode_link(msg.data)
        self.states.append((time.monotonic(), snap.state))
        self.result.missed_total, self.result.late = snap.missed_total, snap.late

    def _on_edge(self, msg) -> None:
        self.edge_at.append(time.monotonic())
        self.result.edge.append(_key(msg.header))

    def _on_local(self, msg) -> None:
        self.local_at.append(time.monotonic())
        self.local_times.append((self.local_at[-1], msg.vector.y + msg.vector.z, msg.vector.x,
                                 msg.vector.y, msg.vector.z))
        self.result.local.append(_key(msg.header))
        self.result.local_latency_s.append(msg.vector.x)
        self.result.local_work_s.append(msg.vector.y + msg.vector.z)

    def _on_caption(self, msg) -> None:
        self.result.captions += 1

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.startswith('/agent_encoder_node: '):
                self.result.agent = values
            elif status.name.startswith('/planner_node: '):
                self.planner_mode = values.get('mode', '')

    @property
    def state(self) -> str | None:
        return self.states[-1][1] if self.states else None

    def first_after(self, times: list[float], since: float) -> float | None:
        return min((t for t in times if t > since), default=None)


def _key(header) -> tuple[int, int]:
    return header.stamp.sec, header.stamp.nanosec


def failover(config: FailoverConfig, console) -> FailoverResult:
    """Run the cycles of ``config``; return what was measured. ``RuntimeError`` on a failure."""
    from sensor_msgs.msg import Image

    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess
    from qcoinf_ros.ros.qos import reliable

    env = loopback_dds_env(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                         random.randint(1, 100)))
    result = FailoverResult(config.fault, config.cycles, config.rate)
    with tempfile.TemporaryDirectory(prefix='qcoinf_failover_') as tmp:
        link = None
        if config.fault == 'cut':
            from qcoinf_ros.tools.bench.netns import HostLink, NetnsNodeProcess, netns_unavailable
            reason = netns_unavailable()
            if reason:
                raise RuntimeError(f'fault cut: {reason}')
            link = HostLink(Path(tmp))  # the decoder far, the agent and this process near
            near, far = link.env(env, 'server'), link.env(env, 'robot')
        else:
            near = far = env
        os.environ.update(near)  # this process's own participant (created next) joins them

        def start_decoder(name: str):
            args = ['-p', f'model:={config.model}', '-p', 'threads:=1',
                    '-p', f'max_new_tokens:={config.max_new_tokens}']
            if link is not None:
                return NetnsNodeProcess(link.prefix, 'edge_decoder_node', args, env=far,
                                        name=name)
            return NodeProcess('edge_decoder_node', args, env=far, name=name)

        agent_args = ['-p', f'model:={config.model}', '-p', 'threads:=1',
                      '-p', f'answer_timeout:={config.answer_timeout}',
                      '-p', f'loss_after_missed:={config.loss_after_missed}',
                      '-p', f'recover_after_answers:={config.recover_after_answers}',
                      '-p', f'probe_period:={config.probe_period}',
                      '-p', f'local_max_new_tokens:={config.max_new_tokens}',
                      '-p', 'qos_overrides./camera/image_raw.subscription.reliability:=reliable']
        planner_args = ['-p', 'preset:=paper', '-p', 'cost_model:=measured', '-p', 'b_max:=8',
                        '-p', 'default_t0:=10.0', '-p', 'e0_full:=1000.0']
        decoder = start_decoder('decoder')
        procs = [decoder, NodeProcess('agent_encoder_node', agent_args, env=near, name='agent'),
                 NodeProcess('planner_node', planner_args, env=near, name='planner')]
        watch = _Watch(result)
        frame = make_scene('test', 0).as_tuple()[0]
        images = watch.node.create_publisher(Image, 'camera/image_raw', reliable(10))

        def publish():
            msg = array_to_image_msg(frame, 'rgb8')
            msg.header.stamp = watch.node.get_clock().now().to_msg()
            msg.header.frame_id = 'camera'
            result.offered.append(_key(msg.header))
            images.publish(msg)

        def failed(what: str) -> RuntimeError:
            return RuntimeError(f'{what}:\n' + '\n'.join(
                f'--- {p.name} ({p.returncode})\n{p.output[-3000:]}' for p in procs))

        spin = watch.spinner
        try:
            if not spin.spin_until(lambda: watch.state is not None and
                                   images.get_subscription_count() >= 1,
                                   config.startup_timeout):
                raise failed('the nodes did not start')
            if 'local mode: ready' not in procs[1].output:
                raise failed('the agent has no local mode')
            timer = watch.node.create_timer(1.0 / config.rate, publish)
            if not spin.spin_until(lambda: watch.state == 'SPLIT', config.startup_timeout):
                raise failed('the link never reached SPLIT')
            for cycle in range(config.cycles):
                spin.spin(config.hold)
                lost_at = time.monotonic()
                if config.fault == 'kill':
                    decoder.send(signal.SIGKILL)
                    decoder.wait(timeout=10)
                elif config.fault == 'freeze':
                    decoder.send(signal.SIGSTOP)
                else:
                    link.down()
                if not spin.spin_until(lambda: watch.first_after(watch.local_at, lost_at),
                                       30.0):
                    raise failed(f'cycle {cycle + 1}: no local caption 30 s after the loss')
                result.to_local_s.append(watch.first_after(watch.local_at, lost_at) - lost_at)
                spin.spin(config.hold)  # the robot captions alone; the planner plans for it
                back_at = time.monotonic()
                window = [t for t in watch.local_times if lost_at < t[0] <= back_at]
                if watch.planner_mode == 'local' and watch.plans and window:
                    plan = watch.plans[-1]
                    result.predicted_local_s.append(plan.predicted_delay_s)
                    result.plan_bits.append(int(plan.bit_width))
                    result.predicted_encode_s.append(plan.predicted_agent_delay_s)
                    for values, column in ((result.cycle_work_s, 1),
                                           (result.cycle_latency_s, 2),
                                           (result.cycle_encode_s, 3),
                                           (result.cycle_decode_s, 4)):
                        values.append(statistics.median(t[column] for t in window))
                if config.fault == 'kill':
                    decoder = start_decoder(f'decoder {cycle + 2}')
                    procs.append(decoder)
                elif config.fault == 'freeze':
                    decoder.send(signal.SIGCONT)
                else:
                    link.up()
                if not spin.spin_until(lambda: watch.state == 'SPLIT' and watch.first_after(
                        watch.edge_at, back_at), config.startup_timeout):
                    raise failed(f'cycle {cycle + 1}: no split caption after the return')
                result.to_split_s.append(watch.first_after(watch.edge_at, back_at) - back_at)
                console.print(f'{config.fault} {cycle + 1}/{config.cycles}: first local caption '
                              f'{result.to_local_s[-1]:.2f} s after the loss, first split '
                              f'caption {result.to_split_s[-1]:.2f} s after the return')
            spin.spin(config.hold)
            timer.cancel()
            offered = len(result.offered)
            spin.spin_until(lambda: int(result.agent.get('frames', 0)) + sum(
                n for cls, n in result.dropped.items() if cls.startswith('image.')) >= offered,
                10.0)
            spin.spin(3.0)  # the last answers (a late one included) and the link state
        finally:
            if config.fault == 'freeze' and decoder.returncode is None:
                decoder.send(signal.SIGCONT)  # a frozen process cannot take its stop signal
            if link is not None:
                link.up()
            for proc in reversed(procs):
                proc.stop()
            if link is not None:
                link.close()
            watch.spinner.close()
    return result
