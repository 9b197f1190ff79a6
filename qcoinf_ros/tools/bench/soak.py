"""
Many frames through camera -> agent encoder -> edge decoder processes (``qcoinf bench soak``).

The three nodes run as separate processes over DDS (the loopback profile), one torch thread
each. Unless ``--rate`` is given, a calibration phase first floods the graph (camera at
``--calibrate-rate`` for ``--calibrate`` seconds) and counts the captions per second over its
last two thirds: that is the throughput the graph reaches on this machine, and the soak runs at
``--rate-fraction`` (default 0.6) of it, so the pipeline keeps a margin for the other work of the
machine. The soak camera then publishes exactly ``--frames`` scene frames at that rate; frames
encoded and captioned are the nodes' own counters (their ``/diagnostics``), latency comes from
``qcoinf/latency``. The camera -> agent link is reliable (the standard ``qos_overrides`` start
parameters on both ends; a robot's frames are best effort): a frame the transport lost on a
loaded machine would read as a pipeline drop; the agent's local mode is off (the split pipeline
is what is soaked: ``qcoinf bench failover`` runs the local mode). The agent's own drop counters
(``dropped[<class>]`` of its ``/diagnostics``) say where a frame went. The resident memory
(VmRSS, from ``/proc``) of every node process is sampled all along. Growth is the end RSS over
the RSS once ``--baseline-fraction`` of the frames are captioned (allocator pools, DDS buffers
and torch caches are warm by then).

Exits 1 when a frame was dropped at the rate run (sent != captioned) or when a process's RSS
grew by more than ``--max-rss-growth``; 0 otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import math
import os
from pathlib import Path
import random
import time

import numpy as np

from qcoinf_ros.core.stats import percentiles
from qcoinf_ros.core.status_names import AGENT_ENCODER, EDGE_DECODER, in_namespace, status_task
from qcoinf_ros.core.validation import require_fields
from qcoinf_ros.ros.context import BoundedSpin

#: Default bound on RssAnon end / baseline per process. A node holds ~300 MB of anonymous memory
#: (torch, the model, DDS); 5 % of that over 10,000 frames is ~1.5 KB kept per frame, well above
#: the allocator's noise once warm (measured: < 0.5 %) and far below what keeping one message or
#: tensor per frame would add (an image is 27 KB: x1.9 over 10,000 frames).
DEFAULT_MAX_GROWTH = 1.05


@dataclass(frozen=True)
class SoakConfig:
    """
    What :func:`soak` runs, and the bounds of its memory verdict.

    Frames, rate (0: calibrate and run at ``rate_fraction`` of the measured throughput), the
    calibration flood, model. Raises ``ValueError`` naming the first value out of its range.
    """

    frames: int = 10000
    rate: float = 0.0
    rate_fraction: float = 0.6
    calibrate: float = 20.0
    calibrate_rate: float = 100.0
    model: str = 'default'
    max_new_tokens: int = 20
    scenes: int = 100
    max_rss_growth: float = DEFAULT_MAX_GROWTH
    baseline_fraction: float = 0.1
    rss_period: float = 1.0
    drain: float = 10.0
    startup_timeout: float = 120.0

    def __post_init__(self):
        checks = [('frames', self.frames >= 1), ('rate', 0 <= self.rate <= 240),
                  ('rate_fraction', 0 < self.rate_fraction <= 1),
                  ('calibrate', self.calibrate >= 3),
                  ('calibrate_rate', 0 < self.calibrate_rate <= 240),
                  ('max_new_tokens', self.max_new_tokens >= 1), ('scenes', self.scenes >= 1),
                  ('max_rss_growth', self.max_rss_growth >= 1),
                  ('baseline_fraction', 0 <= self.baseline_fraction < 1),
                  ('rss_period', self.rss_period > 0), ('drain', self.drain > 0),
                  ('startup_timeout', self.startup_timeout > 0)]
        require_fields(self, checks)


def process_memory(pid: int, proc_root: str | Path = '/proc') -> tuple[int, int] | None:
    """
    ``(VmRSS, RssAnon)`` of process ``pid`` and its descendants [bytes], from ``/proc``.

    VmRSS is all resident memory; RssAnon its anonymous part (heap, tensors, message buffers),
    where a leak shows: file-backed pages (libraries, the model file) can be evicted under memory
    pressure and come back, which moves VmRSS by 100 MB or more here with no change in the
    process. Returns None when the process no longer exists (or is a zombie). Raises
    ``ValueError`` for a pid < 1.
    """
    if int(pid) < 1:
        raise ValueError(f'pid must be >= 1, got {pid!r}')
    root = Path(proc_root)
    rss = anon = 0
    todo, seen = [int(pid)], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = (root / str(current) / 'status').read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            status = ''
        fields = dict(line.split(':', 1) for line in status.splitlines() if ':' in line)
        if 'VmRSS' not in fields:  # gone, or a zombie (exited, not yet reaped)
            if current == int(pid):
                return None
            continue
        rss += int(fields['VmRSS'].split()[0]) * 1024
        anon += int(fields.get('RssAnon', '0 kB').split()[0]) * 1024
        try:
            for task in (root / str(current) / 'task').iterdir():
                todo.extend(int(c) for c in (task / 'children').read_text().split())
        except OSError:
            pass
    return rss, anon


@dataclass
class RssSeries:
    """Memory samples ``(seconds since start, VmRSS, RssAnon)`` of one process, summarised."""

    name: str
    samples: list[tuple[float, int, int]] = field(default_factory=list)
    baseline_index: int | None = None

    def add(self, t: float, value: tuple[int, int] | None) -> None:
        if value is not None:
            self.samples.append((t, *value))

    def mark_baseline(self) -> None:
        """Take the latest sample as the baseline (warm-up over)."""
        if self.samples and self.baseline_index is None:
            self.baseline_index = len(self.samples) - 1

    def summary(self, rate_hz: float) -> dict:
        """
        Summarise: VmRSS first/baseline/end/peak [MB], growth of VmRSS and RssAnon, trend.

        The trend is the least-squares slope of RssAnon over time after the baseline, in MB per
        1000 frames at ``rate_hz`` frames per second.
        """
        if not self.samples:
            raise ValueError(f'no memory samples for {self.name!r}')
        times = np.array([t for t, _, _ in self.samples], float)
        rss = np.array([v for _, v, _ in self.samples], float) / 2**20
        anon = np.array([v for _, _, v in self.samples], float) / 2**20
        base = self.baseline_index if self.baseline_index is not None else 0
        tail_t, tail_v = times[base:], anon[base:]
        slope = float(np.polyfit(tail_t, tail_v, 1)[0]) * 1000.0 / rate_hz \
            if len(tail_t) >= 3 and np.ptp(tail_t) > 0 else 0.0
        return {'name': self.name, 'samples': len(rss), 'first_mb': float(rss[0]),
                'baseline_mb': float(rss[base]), 'end_mb': float(rss[-1]),
                'peak_mb': float(rss.max()), 'rss_growth': float(rss[-1] / rss[base]),
                'anon_baseline_mb': float(anon[base]), 'anon_end_mb': float(anon[-1]),
                'anon_peak_mb': float(anon.max()), 'growth': float(anon[-1] / anon[base]),
                'anon_mb_per_1000_frames': slope}


def drop_bursts(stamps, rate_hz: float) -> list[int]:
    """
    Return the runs of consecutive missing frames in a stream captured at ``rate_hz``.

    ``stamps`` are the capture times [s] of the frames that came through (any order); a gap of
    ``k + 1`` periods between two of them means ``k`` frames missing there. Raises
    ``ValueError`` for a rate <= 0.
    """
    if not rate_hz > 0:
        raise ValueError(f'rate_hz must be > 0, got {rate_hz!r}')
    times = np.sort(np.asarray(list(stamps), float))
    missing = np.rint(np.diff(times) * rate_hz).astype(int) - 1
    return [int(k) for k in missing if k > 0]


@dataclass
class SoakResult:
    """What ``qcoinf bench soak`` measured (written as JSON with ``--json``)."""

    model: str
    rate_hz: float
    rate_source: str
    capacity_hz: float | None
    frames_sent: int
    frames_encoded: int
    frames_captioned: int
    latency_messages: int
    duration_s: float
    latency_s: dict
    encode_s: dict
    decode_s: dict
    rss: list[dict]
    max_rss_growth: float
    drop_bursts: list[int] = field(default_factory=list)
    agent_drops: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return self.frames_sent - self.frames_captioned

    @property
    def memory_ok(self) -> bool:
        return all(r['growth'] <= self.max_rss_growth for r in self.rss)

    @property
    def ok(self) -> bool:
        return self.dropped == 0 and self.memory_ok

    def to_dict(self) -> dict:
        return dict(asdict(self), dropped=self.dropped, memory_ok=self.memory_ok, ok=self.ok)


class _Graph(BoundedSpin):
    """The bench's rclpy node: node counters from /diagnostics, latency, bounded spinning."""

    def __init__(self):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Vector3Stamped

        from qcoinf_ros.ros.qos import reliable

        super().__init__('qcoinf_bench_soak')
        self.latency: list[tuple[float, float, float, float]] = []
        self.counters: dict[str, dict[str, str]] = {}
        self.updates: dict[str, int] = {}
        self.node.create_subscription(
            Vector3Stamped, 'qcoinf/latency',
            lambda m: self.latency.append((m.vector.x, m.vector.y, m.vector.z, m.header.stamp.sec
                                           + 1e-9 * m.header.stamp.nanosec)), reliable(100))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      reliable(20))

    def _on_diagnostics(self, msg) -> None:
        """Keep the counters of the bench's agent and decoder (root namespace), by task."""
        for status in msg.status:
            task = status_task(status.name)
            if task in (AGENT_ENCODER, EDGE_DECODER) and in_namespace(status.name, '/'):
                self.counters[task] = {kv.key: kv.value for kv in status.values}
                self.updates[task] = self.updates.get(task, 0) + 1

    def counter(self, task: str, key: str) -> int:
        return int(self.counters.get(task, {}).get(key, 0))

    @property
    def encoded(self) -> int:
        return self.counter(AGENT_ENCODER, 'frames')

    @property
    def captioned(self) -> int:
        return self.counter(EDGE_DECODER, 'captions')

    def drops(self, task: str) -> dict[str, int]:
        """Return the ``dropped[<class>]`` counters of ``task``'s last status, by class."""
        return {key[len('dropped['):-1]: int(value)
                for key, value in self.counters.get(task, {}).items()
                if key.startswith('dropped[')}

    def fresh_counters(self, timeout: float = 5.0) -> None:
        """Wait for the next diagnostics of both nodes (published once a second)."""
        seen = dict(self.updates)
        self.spin_until(lambda: all(self.updates[k] > n for k, n in seen.items()), timeout)

    def start_camera(self, rate: float, timeout: float, settle: float = 1.0) -> None:
        """Once ``camera_node`` is discovered (and ``settle`` s more), set its rate."""
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        if not self.spin_until(lambda: self.node.count_publishers('camera/image_raw') >= 1,
                               timeout):
            raise RuntimeError('camera_node did not appear on the graph')
        self.spin(settle)
        client = AsyncParameterClient(self.node, 'camera_node')
        if not self.spin_until(client.services_are_ready, timeout):
            raise RuntimeError('camera_node offers no parameter services')
        future = client.set_parameters([Parameter('rate_hz', value=float(rate))])
        if not self.spin_until(future.done, timeout) or \
                not all(r.successful for r in future.result().results):
            raise RuntimeError(f'camera_node refused rate_hz={rate}')


#: The soak's camera -> agent link is reliable: every frame lost counts against the pipeline.
RELIABLE_FRAMES = 'qos_overrides./camera/image_raw.{}.reliability:=reliable'


def _camera(env, rate: float, frames: int, scenes: int, name: str):
    from qcoinf_ros.ros.processes import NodeProcess
    # wait_for_subscribers: no frame before the agent's subscription has matched
    return NodeProcess('camera_node', ['-p', 'source:=scenes', '-p', f'scene_count:={scenes}',
                                       '-p', f'rate_hz:={rate}', '-p', f'max_frames:={frames}',
                                       '-p', 'wait_for_subscribers:=1',
                                       '-p', RELIABLE_FRAMES.format('publisher')],
                       env=env, name=name)


def _drain(graph: _Graph, quiet: float, timeout: float) -> None:
    """Spin until no latency message has come for ``quiet`` s (at most ``timeout`` s)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        seen = len(graph.latency)
        graph.spin(quiet)
        if len(graph.latency) == seen:
            return


def calibrate(graph: _Graph, env, args: SoakConfig, console) -> float:
    """Flood the graph and return the captions per second over the last two thirds."""
    camera = _camera(env, args.calibrate_rate, 0, args.scenes, 'calibration camera')
    try:
        graph.spin(args.calibrate / 3.0)
        count, start = len(graph.latency), time.monotonic()
        graph.spin(args.calibrate * 2.0 / 3.0)
        capacity = (len(graph.latency) - count) / (time.monotonic() - start)
    finally:
        camera.stop()
    _drain(graph, 2.0, 30.0)
    console.print(f'calibration: camera at {args.calibrate_rate:g} Hz for {args.calibrate:g} s '
                  f'-> {capacity:.2f} captions/s through the graph')
    if capacity <= 0:
        raise RuntimeError('calibration: no caption came through the graph')
    return capacity


def soak(args: SoakConfig, console) -> SoakResult:
    """Start the graph, calibrate if asked, run the soak and return what was measured."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess

    env = loopback_dds_env(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                         random.randint(1, 100)))
    os.environ.update(env)
    params = ['-p', f'model:={args.model}', '-p', 'threads:=1']
    procs = [NodeProcess('edge_decoder_node',
                         params + ['-p', f'max_new_tokens:={args.max_new_tokens}'],
                         env=env, name='decoder'),
             # the split pipeline: local mode off, so every frame goes to the decoder (at
             # start the link is LOST until the decoder answers: a frame would be captioned
             # on the robot)
             NodeProcess('agent_encoder_node',
                         params + ['-p', RELIABLE_FRAMES.format('subscription'),
                                   '-p', 'local_mode:=false'],
                         env=env, name='agent')]
    graph = _Graph()
    try:
        ready = graph.spin_until(lambda: graph.node.count_subscribers('camera/image_raw') >= 1
                                 and graph.node.count_subscribers('qcoinf/embedding') >= 1
                                 and len(graph.counters) == 2, args.startup_timeout)
        if not ready or any(p.returncode is not None for p in procs):
            raise RuntimeError('the nodes did not start:\n' +
                               '\n'.join(f'--- {p.name}\n{p.output}' for p in procs))
        capacity, rate, source = None, args.rate, 'given'
        if not rate:
            capacity = calibrate(graph, env, args, console)
            rate = math.floor(10.0 * args.rate_fraction * capacity) / 10.0
            source = f'{args.rate_fraction:g} x calibrated {capacity:.2f} Hz'
            if rate <= 0:
                raise RuntimeError(f'calibrated rate {rate} Hz: the graph is too slow here')
        graph.fresh_counters()
        encoded0, captioned0, latency0 = graph.encoded, graph.captioned, len(graph.latency)
        drops0 = graph.drops(AGENT_ENCODER)
        console.print(f'soak: {args.frames} frames at {rate:g} Hz ({source}), model '
                      f'{args.model}')
        # the camera starts idle (first frame due in 100 s) and gets its rate once the graph
        # has discovered it: frames published before the agent matched would be lost
        camera = _camera(env, 0.01, args.frames, args.scenes, 'camera')
        procs.append(camera)
        graph.start_camera(rate, args.startup_timeout)
        series = [RssSeries(p.name) for p in procs]
        baseline_at = latency0 + max(1, int(args.baseline_fraction * args.frames))
        start = time.monotonic()
        next_sample, next_line = start, max(1, args.frames // 10)
        columns = (TextColumn('{task.description}'), BarColumn(), MofNCompleteColumn(),
                   TextColumn('{task.fields[extra]}'), TimeElapsedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task('captioned', total=args.frames, extra='')
            while camera.returncode is None and any(p.returncode is None for p in procs[:2]):
                graph.spin(0.1)
                now = time.monotonic()
                if now >= next_sample:
                    for proc, rss in zip(procs, series):
                        rss.add(now - start, process_memory(proc.pid))
                    if len(graph.latency) >= baseline_at:
                        for rss in series:
                            rss.mark_baseline()
                    next_sample = now + args.rss_period
                    done = len(graph.latency) - latency0
                    memory = 'RSS ' + ' '.join(f'{s.samples[-1][1] / 2**20:.0f}'
                                               for s in series if s.samples) + ' MB'
                    progress.update(task, completed=done, extra=memory)
                    if not console.is_terminal and done >= next_line:  # a log: a line per 10 %
                        console.print(f'{done}/{args.frames} captioned after '
                                      f'{now - start:.0f} s, {memory}')
                        next_line += max(1, args.frames // 10)
            if camera.returncode != 0 or any(p.returncode is not None for p in procs[:2]):
                raise RuntimeError('a node stopped during the soak:\n' +
                                   '\n'.join(f'--- {p.name} ({p.returncode})\n{p.output}'
                                             for p in procs))
            duration = time.monotonic() - start
            end = time.monotonic() + args.drain
            while time.monotonic() < end and len(graph.latency) - latency0 < args.frames:
                graph.spin(0.1)
            graph.spin(0.5)
            progress.update(task, completed=len(graph.latency) - latency0)
        for proc, rss in zip(procs[:2], series[:2]):
            rss.add(time.monotonic() - start, process_memory(proc.pid))
        graph.fresh_counters()
        lat = graph.latency[latency0:]
        return SoakResult(
            model=args.model, rate_hz=rate, rate_source=source, capacity_hz=capacity,
            frames_sent=args.frames, frames_encoded=graph.encoded - encoded0,
            frames_captioned=graph.captioned - captioned0, latency_messages=len(lat),
            duration_s=duration, latency_s=percentiles(m[0] for m in lat),
            encode_s=percentiles(m[1] for m in lat), decode_s=percentiles(m[2] for m in lat),
            rss=[s.summary(rate) for s in series], max_rss_growth=args.max_rss_growth,
            drop_bursts=drop_bursts((m[3] for m in lat), rate),
            agent_drops={cls: n - drops0.get(cls, 0)
                         for cls, n in graph.drops(AGENT_ENCODER).items()
                         if n > drops0.get(cls, 0)})
    finally:
        graph.close()
        for proc in reversed(procs):
            proc.stop()
