"""
The real pipeline under hostile traffic, and each node's memory (``qcoinf bench hostile``).

Starts the graph as separate processes over DDS (loopback profile): ``camera_node`` (scenes at
``--camera-rate``, ``frame_id`` camera), ``agent_encoder_node``, ``edge_decoder_node`` (the
``--model`` captioner), ``planner_node`` and ``monitor_node``. Three phases of ``--phase``
seconds each:

* **before**: the camera alone;
* **hostile**: the camera goes on while this process floods ``camera/image_raw`` with valid
  frames at ``--flood-rate`` (``frame_id`` flood) and sends, on every topic the nodes take,
  what issue 14 lists: frames of extreme size and aspect, invalid and absurd stamps, embeddings
  with distinct megabyte-long model ids, JSON that Python numbers cannot hold or nested 100,000
  deep, subnormal / NaN / infinite deadlines and queueing delays, one-word 20,000-character
  captions, thousands of distinct ``/diagnostics`` names;
* **after**: the camera alone again (a valid deadline re-latched).

``--pattern`` picks what the hostile phase sends instead of that mix (issue 29): ``image-flood``
(valid frames of another frame_id at ``--flood-rate``), ``embedding-flood`` (valid embeddings
of another frame_id, copied from the agent's own output and stamped now, at ``--flood-rate``),
``forward-stamp`` (one valid embedding every 1.5 s stamped 1.9 s ahead, inside
``max_stamp_future``, under the camera's own frame_id), ``bitwidth-flap`` (bit widths 1 <-> 8
at ``--flood-rate``) and ``battery-flood`` (a valid, ever-changing battery state at
``--flood-rate``).

Printed: per node, the resident memory (VmRSS, with its children) at the end of each phase and
its peak during the hostile phase, and the growth after vs before; the camera's frames
captioned per phase (the flood must not starve them); each node's log lines per 10 s and its
dropped inputs per class (from its ``/diagnostics``) per phase; whether every node is still
running.
Exit 1 when a node stopped, when fewer than ``--min-share`` of the camera's captions of the
before phase came through during the flood, or when a node's memory after exceeds before by
more than ``--max-growth-mb``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
import os
import random
import time

from qcoinf_ros.core.validation import require_fields
from qcoinf_ros.ros.context import BoundedSpin


NODES = ('agent_encoder_node', 'edge_decoder_node', 'planner_node', 'monitor_node')
#: What the hostile phase sends (``mixed``: every kind of hostile message and an image flood).
PATTERNS = ('mixed', 'image-flood', 'embedding-flood', 'forward-stamp', 'bitwidth-flap',
            'battery-flood')


def _hostile_messages(i: int, now_ns: int):
    """Return the i-th batch of hostile messages: (topic, message) pairs, one of each kind."""
    import numpy as np
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from sensor_msgs.msg import BatteryState, Image
    from std_msgs.msg import Float64

    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.ros.messages import (
        AgentCost, Caption, Embedding, embedding_msg, FrequencyProfile, ModelInfo)
    k = i % 8
    out = []
    image = Image(encoding='mono8')
    image.height, image.width = [(1, 32768), (8192, 1), (5000, 5000), (2, 2)][i % 4]
    image.step = image.width
    if image.height * image.width <= 1 << 20:
        image.data = bytes(image.height * image.width)
    image.header.frame_id = 'hostile'
    image.header.stamp.sec = [-1, 0, 2 ** 31 - 1, 1][i % 4]
    out.append(('camera/image_raw', image))
    junk = embedding_msg(np.zeros(4, np.float32), EmbeddingMeta(f'{i}' + 'x' * 1_000_000, 8),
                         None)
    stamps = [(-1, 0), (0, 1), (2 ** 31 - 1, 0), (1, 0)]
    junk.header.stamp.sec, junk.header.stamp.nanosec = stamps[i % 4]
    out.append(('qcoinf/embedding', junk))
    # values that do not match their shape, or of a codec that does not exist
    out.append(('qcoinf/embedding', Embedding(
        model_id='m', bit_width=8, codec=['none', 'int8', 'fp32'][i % 3],
        shape=[100_000_000, 1 << (i % 31)], data=bytes([i % 256]) * 64)))
    values = [1e-310, float('nan'), float('inf'), -1.0, 5e-324, 1e300, -0.0, 0.0]
    text = ['', 'y' * 1_000_000 + str(i), 'x'][k % 3]
    out.append(('qcoinf/agent_model', ModelInfo(model_id=text, scheme='uniform', b_max=k * 9,
                                                lam=values[k], ks=values[(k + 1) % 8])))
    out.append(('qcoinf/frequency_profile', FrequencyProfile(
        name=text, f_hz=values[k], f_server_hz=values[(k + 2) % 8], bit_width=k * 9,
        nvpmodel_mode=-(k + 2))))
    out.append(('qcoinf/agent_cost', AgentCost(
        part=['agent', 'server', 'planner'][k % 3], model_id=text, threads=k,
        seconds=[values[(k + j) % 8] for j in range(k * 10)], t_fixed_s=values[k])))
    out.append(('qcoinf/deadline', Float64(data=values[k])))
    out.append(('qcoinf/server_queue_delay', Float64(data=values[(k + 3) % 8])))
    out.append(('battery_state', BatteryState(percentage=[float('nan'), 2.0, -1.0][i % 3])))
    out.append(('qcoinf/caption', Caption(text='w' * 20000, origin=2 + k,
                                          latency_s=values[k])))
    status = DiagnosticStatus(name=f'hostile {i} ' + 'n' * 10000, message='m' * 10000)
    status.values = [KeyValue(key=f'k{j}', value='v' * 1000) for j in range(100)]
    out.append(('/diagnostics', DiagnosticArray(status=[status])))
    return out


class _Bench(BoundedSpin):
    """This process's node: publishers of every topic, the latency of captioned frames."""

    def __init__(self):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Vector3Stamped
        from sensor_msgs.msg import BatteryState, Image
        from std_msgs.msg import Float64, UInt8

        from qcoinf_ros.ros.messages import (
            AgentCost, Caption, Embedding, FrequencyProfile, ModelInfo)
        from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR

        super().__init__('qcoinf_bench_hostile')
        self.captioned: dict[str, int] = {}
        self.embedding = None  # one of the agent's own, for the embedding patterns
        self.drops: dict[str, dict[str, int]] = {}  # status name -> class -> count
        self.node.create_subscription(Vector3Stamped, 'qcoinf/latency', self._on_latency,
                                      reliable(100))
        self.node.create_subscription(Embedding, 'qcoinf/embedding', self._on_embedding,
                                      reliable(10))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      100)
        types = {'camera/image_raw': (Image, SENSOR),
                 'qcoinf/embedding': (Embedding, reliable(2)),
                 'qcoinf/agent_model': (ModelInfo, LATCHED),
                 'qcoinf/frequency_profile': (FrequencyProfile, LATCHED),
                 'qcoinf/agent_cost': (AgentCost, LATCHED), 'qcoinf/deadline': (Float64, LATCHED),
                 'qcoinf/server_queue_delay': (Float64, LATCHED),
                 'battery_state': (BatteryState, SENSOR),
                 'qcoinf/caption': (Caption, reliable(10)),
                 '/diagnostics': (DiagnosticArray, 10),
                 'qcoinf/bit_width': (UInt8, reliable(1000))}
        self.pubs = {t: self.node.create_publisher(cls, t, qos) for t, (cls, qos) in
                     types.items()}

    def _on_latency(self, msg) -> None:
        frame = msg.header.frame_id
        if msg.vector.x < 0:  # stamped ahead of the decoder's clock: a forged 'camera' frame
            frame = f'{frame} (stamped ahead)'
        self.captioned[frame] = self.captioned.get(frame, 0) + 1

    def _on_embedding(self, msg) -> None:
        if self.embedding is None and msg.header.frame_id == 'camera':
            self.embedding = msg

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            counts = {kv.key[len('dropped['):-1]: int(kv.value) for kv in status.values
                      if kv.key.startswith('dropped[') and kv.value.isdigit()}
            if counts:
                self.drops[status.name[:200]] = counts

    def pattern_step(self, pattern: str, due: int, sent: int) -> int:
        """Send the ``pattern``'s messages due by now (``due`` at the flood rate); return sent."""
        from sensor_msgs.msg import BatteryState
        from std_msgs.msg import UInt8
        now = self.node.get_clock().now()
        if pattern == 'forward-stamp':  # one every 1.5 s, stamped 1.9 s ahead
            if self.embedding is not None and sent <= due // max(1, int(1.5 * self.rate)):
                forged = copy.deepcopy(self.embedding)
                forged.header.stamp.sec, forged.header.stamp.nanosec = divmod(
                    now.nanoseconds + 1_900_000_000, 1_000_000_000)
                forged.header.frame_id = 'camera'
                self.pubs['qcoinf/embedding'].publish(forged)
                return sent + 1
            return sent
        while sent < due:
            if pattern == 'embedding-flood' and self.embedding is not None:
                msg = copy.copy(self.embedding)
                msg.header = copy.deepcopy(self.embedding.header)
                msg.header.stamp, msg.header.frame_id = now.to_msg(), 'flood'
                self.pubs['qcoinf/embedding'].publish(msg)
            elif pattern == 'image-flood':
                self.flood.header.stamp = now.to_msg()
                self.pubs['camera/image_raw'].publish(self.flood)
            elif pattern == 'bitwidth-flap':
                self.pubs['qcoinf/bit_width'].publish(UInt8(data=1 if sent % 2 else 8))
            elif pattern == 'battery-flood':
                self.pubs['battery_state'].publish(BatteryState(
                    percentage=0.2 + 0.7 * (sent % 997) / 997))
            sent += 1
        return sent


@dataclass(frozen=True)
class HostileConfig:
    """
    What :func:`run` runs, and the bounds of its verdict.

    Seconds per phase, the camera's and the flood's rates, the model; the camera's share of its
    captions kept during the flood and the memory growth allowed per node. Raises
    ``ValueError`` naming the first value out of range.
    """

    phase: float = 15.0
    camera_rate: float = 4.0
    flood_rate: float = 500.0
    model: str = 'tiny'
    pattern: str = 'mixed'
    min_share: float = 0.5
    max_growth_mb: float = 64.0
    startup_timeout: float = 120.0

    def __post_init__(self):
        checks = [('phase', self.phase > 0), ('camera_rate', 0 < self.camera_rate <= 240),
                  ('flood_rate', 0 <= self.flood_rate <= 100000),
                  ('min_share', 0 <= self.min_share <= 1),
                  ('max_growth_mb', self.max_growth_mb >= 0),
                  ('startup_timeout', self.startup_timeout > 0),
                  ('pattern', self.pattern in PATTERNS)]
        require_fields(self, checks)


def run(args: HostileConfig, console) -> dict:
    """Start the graph, run the three phases, return what was measured."""
    import numpy as np
    from std_msgs.msg import Float64

    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess
    from qcoinf_ros.tools.bench.soak import process_memory

    env = loopback_dds_env(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                         random.randint(1, 100)))
    os.environ.update(env)
    model = ['-p', f'model:={args.model}', '-p', 'threads:=1']
    procs = {
        'edge_decoder_node': NodeProcess('edge_decoder_node', model + [
            '-p', 'max_new_tokens:=5', '-p', 'calibrate:=never'], env=env),
        'agent_encoder_node': NodeProcess('agent_encoder_node', model + [
            '-p', 'calibrate:=never'], env=env),
        'planner_node': NodeProcess('planner_node', [], env=env),
        'monitor_node': NodeProcess('monitor_node', [], env=env),
    }
    bench = _Bench()
    bench.rate = max(args.flood_rate, 1.0)
    bench.flood = array_to_image_msg(np.full((96, 96, 3), 128, np.uint8), 'rgb8')
    bench.flood.header.frame_id = 'flood'  # a valid frame of another source
    camera = None
    try:
        ready = bench.spin_until(
            lambda: bench.node.count_subscribers('camera/image_raw') >= 2 and
            bench.node.count_subscribers('qcoinf/embedding') >= 1 and
            bench.node.count_publishers('qcoinf/caption') >= 1, args.startup_timeout)
        if not ready:
            raise RuntimeError('the nodes did not start:\n' + '\n'.join(
                f'--- {n}\n{p.output}' for n, p in procs.items()))
        camera = NodeProcess('camera_node', [
            '-p', 'source:=scenes', '-p', f'rate_hz:={args.camera_rate}', '-p',
            'frame_id:=camera'], env=env)
        if not bench.spin_until(lambda: bench.captioned.get('camera', 0) >= 2,
                                args.startup_timeout):
            raise RuntimeError('no camera frame was captioned:\n' + '\n'.join(
                f'--- {n}\n{p.output}' for n, p in procs.items()) + camera.output)

        def memory():
            return {n: (process_memory(p.pid) or (0, 0))[0] for n, p in procs.items()}

        result = {'phases': {}, 'memory_mb': {n: {} for n in procs}, 'args': vars(args)}
        flood = array_to_image_msg(np.full((96, 96, 3), 128, np.uint8), 'rgb8')
        flood.header.frame_id = 'flood'
        for phase in ('before', 'hostile', 'after'):
            if phase == 'after':
                bench.pubs['qcoinf/deadline'].publish(Float64(data=1.0))
            start = dict(bench.captioned)
            lines = {n: p.output.count('\n') for n, p in procs.items()}
            drops = {k: dict(v) for k, v in bench.drops.items()}
            peak = memory()
            end = time.monotonic() + args.phase
            sent, i, next_sample = 0, 0, time.monotonic()
            console.print(f'phase {phase}: {args.phase:g} s')
            while time.monotonic() < end:
                if phase == 'hostile' and args.pattern != 'mixed':
                    due = int((time.monotonic() - (end - args.phase)) * args.flood_rate)
                    sent = bench.pattern_step(args.pattern, due, sent)
                elif phase == 'hostile':
                    due = int((time.monotonic() - (end - args.phase)) * args.flood_rate)
                    while sent < due:
                        flood.header.stamp = bench.node.get_clock().now().to_msg()
                        bench.pubs['camera/image_raw'].publish(flood)
                        sent += 1
                    if i < due // 25:  # one batch of hostile messages per 25 flood frames
                        for topic, msg in _hostile_messages(i, 0):
                            bench.pubs[topic].publish(msg)
                        i += 1
                bench.spin(0.002, step=0.01)
                if time.monotonic() >= next_sample:
                    peak = {n: max(v, peak[n]) for n, v in memory().items()}
                    next_sample = time.monotonic() + 0.5
            bench.spin(1.0)
            now = memory()
            for n in procs:
                result['memory_mb'][n][phase] = now[n] / 2 ** 20
                if phase == 'hostile':
                    result['memory_mb'][n]['hostile_peak'] = peak[n] / 2 ** 20
            result['phases'][phase] = {
                'camera_captions': bench.captioned.get('camera', 0) - start.get('camera', 0),
                'flood_captions': bench.captioned.get('flood', 0) - start.get('flood', 0),
                'flood_frames_sent': sent, 'hostile_batches': i,
                'log_lines_per_10s': {n: round((p.output.count('\n') - lines[n]) * 10.0 /
                                               (args.phase + 1.0), 1)
                                      for n, p in procs.items()},
                'drops': _drop_delta(drops, bench.drops)}
        result['alive'] = {n: p.returncode is None for n, p in procs.items()}
        result['outputs'] = {n: p.output[-200_000:] for n, p in procs.items()}
        return result
    finally:
        bench.close()
        for proc in ([camera] if camera else []) + list(procs.values()):
            proc.stop()


def _drop_delta(before: dict, after: dict) -> dict:
    """Return ``{status: {class: count}}`` of the drops counted between two snapshots."""
    out = {}
    for name, counts in after.items():
        old = before.get(name, {})
        delta = {c: n - old.get(c, 0) for c, n in counts.items() if n > old.get(c, 0)}
        if delta:
            out[name] = delta
    return out


def verdict(result: dict, args: HostileConfig) -> list[str]:
    """Return the reasons the run failed (empty: it passed)."""
    bad = [f'{n} stopped' for n, alive in result['alive'].items() if not alive]
    before = result['phases']['before']['camera_captions']
    during = result['phases']['hostile']['camera_captions']
    if during < args.min_share * before:
        bad.append(f'the flood starved the camera: {during} captions vs {before} before')
    for n, mb in result['memory_mb'].items():
        if mb['after'] - mb['before'] > args.max_growth_mb:
            bad.append(f'{n}: memory after {mb["after"]:.0f} MB vs {mb["before"]:.0f} MB before')
    return bad
