"""
Edge decoder (lifecycle node): the full-precision rest of the model, on the edge server.

``on_configure`` loads the server part of ``model``. Each ``qcoinf/embedding`` whose values
decode, whose model id matches this model and whose shape is the model's embedding shape is
queued for decoding into a caption; anything else is logged once per reason and dropped.

One server may serve several agents (parameter ``agents``: namespaces relative to this node's;
the default ``['']`` is this node's own namespace, i.e. one agent). A decoding thread takes the
embeddings that arrived together (up to ``max_batch``, waiting at most ``batch_wait`` after the
oldest) and decodes them as one batch (:class:`qcoinf_ros.core.serving.BatchQueue`).

Topics in, per agent ``<ns>``: ``<ns>/qcoinf/embedding`` (qcoinf_ros/Embedding).
An embedding marked ``captioned`` (the agent's local mode captioned the frame itself) is not
captioned again; one marked ``probe`` (a lost agent testing whether this server is back) is
decoded like any other and answered on ``<ns>/qcoinf/probe_answer`` (geometry_msgs/
Vector3Stamped, as ``qcoinf/latency``), with no caption: the robot captioned that frame.

Topics out, per agent: ``<ns>/qcoinf/caption`` (qcoinf_ros/Caption: header = the camera
frame's, origin EDGE, the embedding's bit-width, the tokens generated, the end-to-end latency
from the camera stamp to the caption [s], the agent's measured encode time [s], the decode time
of the batch it was in [s]); ``<ns>/qcoinf/latency`` (geometry_msgs/Vector3Stamped, deprecated:
the same latencies as x, y, z, published after the caption as before);
``<ns>/qcoinf/server_queue_delay`` (std_msgs/Float64: mean server queueing delay, arrival ->
decode start, of the agent's last ``queue_delay_window`` embeddings [s]; the planner's
``use_server_queue_delay``); ``<ns>/qcoinf/server_cost`` (qcoinf_ros/AgentCost, latched, part
``server``: the caption time measured at configure, one embedding of the model's shape
decoded to ``max_new_tokens`` tokens, EOS suppressed — the worst
case, which the planner plans with; cached like the agent's); and ``/diagnostics``.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64

from qcoinf_ros.core.codec.caption import CaptionRecord, ORIGIN_EDGE
from qcoinf_ros.core.models.device import (
    DeviceError, DEVICES_HELP, DTYPES, place, resolve_device, upload)
from qcoinf_ros.core.serving import agent_topic, BatchQueue, DelayWindow
from qcoinf_ros.core.serving.stamps import StampGuard
from qcoinf_ros.core.status_names import EDGE_DECODER, resolve_hardware_id
from qcoinf_ros.ros.diagnostics import HARDWARE_ID_PARAM, OK, publish_status, WARN
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.image import source_of
from qcoinf_ros.ros.messages import (
    AgentCost, Caption, caption_msg, cost_msg, Embedding, embedding_from_msg)
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.qos import LATCHED, reliable
from qcoinf_ros.ros.spin import autostart, join_worker, run_node
from qcoinf_ros.ros.stamps import stamp_age
from qcoinf_ros.ros.stop import STOP, StopRequested

PARAMS = [
    ParamSpec('model', 'default', 'Model: default or tiny (the embedded captioners), git:<dir> or '
              'blip2:<dir>. Must be the same as the agent encoder.', read_only=True),
    ParamSpec('max_new_tokens', 20, 'Longest caption in tokens.', low=1, high=512),
    ParamSpec('device', 'cpu', f'Where the server part runs: {DEVICES_HELP}. Weights, '
              'embeddings (uploaded through pinned memory) and generation stay on it; a device '
              'that cannot take the model refuses the configure transition with the reason.',
              read_only=True),
    ParamSpec('dtype', 'float32', 'Precision of the server part (float16 and bfloat16 halve '
              'its memory; on a GPU they are also faster).', choices=DTYPES,
              read_only=True),
    ParamSpec('threads', 0, 'torch intra-op threads; 0 keeps the torch default.', low=0,
              high=256, read_only=True),
    ParamSpec('agents', [''], "Namespaces of the agents served, relative to this node's ('' = "
              "this node's own namespace).", type='str[]', read_only=True,
              min_items=1),
    ParamSpec('max_batch', 1, 'Most embeddings decoded together as one batch (1: one at a '
              'time).', low=1, high=64, read_only=True),
    ParamSpec('batch_wait', 0.0, 'Longest wait [s] after the oldest waiting embedding for more '
              'to join its batch (0: take what has arrived).', low=0.0, high=1.0,
              read_only=True),
    ParamSpec('queue_depth', 2, 'Embeddings waiting per agent and frame_id; beyond, the oldest '
              'is dropped (a flood of one frame_id cannot push out the camera).',
              low=1, high=1000, read_only=True),
    ParamSpec('queue_delay_window', 20, 'Embeddings per agent averaged in '
              'qcoinf/server_queue_delay.', low=1, high=100000, read_only=True),
    ParamSpec('calibrate', 'auto', 'Measured caption time at configure: auto (from the cost '
              'cache when it has this model, threads, max_new_tokens and machine, else '
              'measured), always (measure and refresh the cache), never (publish no cost).',
              choices=('auto', 'always', 'never'), read_only=True),
    ParamSpec('calibration_repeats', 3, 'Timed decodes in the calibration.', low=1, high=1000,
              read_only=True),
    ParamSpec('calibration_budget', 10.0, 'Longest calibration [s] (at least one timed decode).',
              low=0.01, high=3600.0, read_only=True),
    ParamSpec('cost_cache_dir', '', 'Folder of the cost cache; "" = $XDG_CACHE_HOME/qcoinf_ros/'
              'cost.', read_only=True),
    ParamSpec('max_stamp_age', 30.0, 'Embeddings stamped more than this many seconds before '
              "this node's clock are dropped, and so are repeats of a stamp already taken from "
              'the same publisher within it (a replay); 0 accepts any age and repeats '
              '(replaying recorded stamps without --clock / use_sim_time).', low=0.0, high=1e9),
    ParamSpec('max_stamp_future', 2.0, 'Embeddings stamped more than this many seconds after '
              "this node's clock are dropped; 0 accepts any.", low=0.0, high=1e9),
    ParamSpec('autostart', True, 'Configure and activate at start.', read_only=True),
    HARDWARE_ID_PARAM,
]


class _Agent:
    """Publishers and statistics of one served agent."""

    def __init__(self, namespace: str, window: int):
        self.namespace = namespace
        self.caption_pub = self.latency_pub = self.queue_pub = self.cost_pub = self.sub = None
        self.probe_pub = None
        self.queue_delay = DelayWindow(window)
        self.captions = 0
        self.probes = 0  # probes of the agent's local mode answered


class EdgeDecoderNode(LifecycleNode):
    """Decodes embeddings of one or more agents into captions, batching those that coincide."""

    def __init__(self, **kwargs):
        super().__init__('edge_decoder_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        self._hardware_id = resolve_hardware_id(self._p['hardware_id'])
        names = list(self._p['agents'])
        for ns in names:
            agent_topic(ns, 'qcoinf/embedding')  # raises ValueError on an invalid namespace
        if len({ns.strip('/') for ns in names}) != len(names):
            raise ValueError(f'invalid parameter: agents has a repeated namespace: {names!r}')
        self._agents = [_Agent(ns, self._p['queue_delay_window']) for ns in names]
        self._drops = DropLog(self.get_logger())
        self._stamps = StampGuard(self._p['max_stamp_age'], self._p['max_stamp_future'])
        install_validator(self, PARAMS, on_change=self._on_change)
        self._split = self._cost = self._placement = None
        self._diag = self._timer = None
        self._queue: BatchQueue | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._e2e: list[float] = []
        self._captions = self._batches = 0
        self._captioned_by_agent = 0  # embeddings the agent captioned itself (local mode)
        self._meter = None  # the GPU's energy counter (NVML), on a GPU
        self._energy: list[float] = []  # joules per caption of the last batches
        self._error = ''
        self._error_may_pass = False
        if self._p['autostart']:
            autostart(self)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        import torch
        from transformers.utils import logging as hf_logging

        from qcoinf_ros.core.models.registry import load_split

        hf_logging.disable_progress_bar()
        if self._p['threads']:
            torch.set_num_threads(self._p['threads'])
        try:
            start = time.perf_counter()
            self._placement = resolve_device(self._p['device'], self._p['dtype'])
            self._split = load_split(self._p['model'], parts=('server',))
            STOP.check()  # a stop while the model loaded: no calibration
            place(self._split.server_module, self._placement, what='the server part')
            self.get_logger().info(self._placement.note)
            self._meter = self._energy_meter()
            self._cost = self._calibrate(self._p['threads'] or torch.get_num_threads())
        except StopRequested as exc:
            self.get_logger().info(f'configure abandoned: {exc}')
            if self._meter is not None:
                self._meter.close()
            self._split = self._cost = self._meter = None
            return TransitionCallbackReturn.FAILURE
        except (ValueError, OSError, RuntimeError) as exc:
            self._error = str(exc)
            self._error_may_pass = isinstance(exc, DeviceError)
            self.get_logger().error(f'configure failed: {exc}')
            if self._meter is not None:  # opened before a later step failed
                self._meter.close()
            self._split = self._cost = self._meter = None
            return TransitionCallbackReturn.FAILURE
        for i, agent in enumerate(self._agents):
            ns = agent.namespace
            agent.caption_pub = self.create_lifecycle_publisher(
                Caption, agent_topic(ns, 'qcoinf/caption'), reliable(10))
            agent.latency_pub = self.create_lifecycle_publisher(
                Vector3Stamped, agent_topic(ns, 'qcoinf/latency'), reliable(10))
            # a lost agent's probes (local mode): answered here, captioned on the robot
            agent.probe_pub = self.create_lifecycle_publisher(
                Vector3Stamped, agent_topic(ns, 'qcoinf/probe_answer'), reliable(10))
            agent.queue_pub = self.create_lifecycle_publisher(
                Float64, agent_topic(ns, 'qcoinf/server_queue_delay'), LATCHED)
            agent.cost_pub = self.create_publisher(
                AgentCost, agent_topic(ns, 'qcoinf/server_cost'), LATCHED)
            if self._cost is not None:
                agent.cost_pub.publish(cost_msg(self._cost, self.get_clock().now().to_msg()))
            agent.sub = self.create_subscription(
                Embedding, agent_topic(ns, 'qcoinf/embedding'),
                functools.partial(self._on_embedding_info, i), reliable(2))
        self._diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._timer = self.create_timer(1.0, self._publish_diagnostics)
        self._queue = BatchQueue(len(self._agents), self._p['queue_depth'])
        self._stop.clear()
        self._worker = threading.Thread(target=self._decode_loop, name='edge_decoder',
                                        daemon=True)
        self._worker.start()
        served = ', '.join(a.namespace or '(own namespace)' for a in self._agents)
        self.get_logger().info(
            f'configured {self._split.model_id} (server part) in '
            f'{time.perf_counter() - start:.2f} s; agents: {served}; max_batch '
            f'{self._p["max_batch"]}, batch_wait {self._p["batch_wait"]:g} s')
        return TransitionCallbackReturn.SUCCESS

    def _on_change(self, changed: dict) -> None:
        old_tokens = self._p['max_new_tokens']
        self._p.update(changed)  # the decode loop reads max_new_tokens for every batch
        if {'max_stamp_age', 'max_stamp_future'} & set(changed):
            self._stamps = StampGuard(self._p['max_stamp_age'], self._p['max_stamp_future'])
        tokens = self._p['max_new_tokens']
        if tokens != old_tokens and self._cost is not None:
            # the caption time grows with the tokens generated: scale the measured cost (the
            # next configure, or calibrate:=always, measures it again)
            k = tokens / old_tokens
            self._cost = dataclasses.replace(
                self._cost, seconds=tuple(k * t for t in self._cost.seconds),
                t_fixed=k * self._cost.t_fixed, t_plane=k * self._cost.t_plane,
                max_new_tokens=tokens, cached=False)
            for agent in self._agents:
                if agent.cost_pub is not None:
                    agent.cost_pub.publish(cost_msg(self._cost,
                                                    self.get_clock().now().to_msg()))
            self.get_logger().info(f'max_new_tokens {old_tokens} -> {tokens}: caption cost '
                                   f'scaled to {1e3 * self._cost.seconds[0]:.2f} ms')

    def _energy_meter(self):
        """Return the GPU's NVML energy counter when the server part runs on one, else None."""
        if not self._placement.is_cuda:
            return None
        import torch

        from qcoinf_ros.core.actuation.backends import NvmlEnergyMeter
        try:
            uuid = str(torch.cuda.get_device_properties(self._placement.torch_device).uuid)
            uuid = uuid if uuid.startswith('GPU-') else f'GPU-{uuid}'
            meter = NvmlEnergyMeter(what='GPU energy', uuid=uuid)
        except (RuntimeError, AttributeError) as exc:
            self.get_logger().info(f'energy per caption: not measured ({exc})')
            return None
        self.get_logger().info(f'energy per caption: the NVML energy counter of '
                               f'{self._placement.name}')
        return meter

    def _calibrate(self, threads: int):
        """Measure (or read from the cache) the worst-case caption time."""
        if self._p['calibrate'] == 'never':
            return None
        import torch

        from qcoinf_ros.core.system.calibration import calibrate_server, CostCache
        tokens = self._p['max_new_tokens']
        batches = self._p['max_batch']
        embeddings = torch.randn((batches, *self._split.embedding_shape),
                                 generator=torch.Generator().manual_seed(0))

        def decode(size):  # upload, generate and the ids back on the host, as a batch's decode
            STOP.check()  # a stop during configure abandons the calibration
            with torch.no_grad():
                self._split.decode(upload(embeddings[:size], self._placement),
                                   max_new_tokens=tokens, min_new_tokens=tokens).cpu()

        cost = calibrate_server(
            self._split.model_id, decode, threads=threads, max_new_tokens=tokens,
            repeats=self._p['calibration_repeats'], budget_s=self._p['calibration_budget'],
            cache=CostCache(self._p['cost_cache_dir'] or None),
            refresh=self._p['calibrate'] == 'always', device=self._placement.device,
            dtype=self._placement.dtype, batches=batches)
        per_batch = ', '.join(f'{n}: {1e3 * t:.1f}' for n, t in enumerate(cost.seconds, 1))
        self.get_logger().info(
            f'caption cost ({"cached" if cost.cached else "measured"}, {self._placement.device} '
            f'{self._placement.dtype}): {1e3 * cost.seconds[0]:.2f} ms for {tokens} tokens at '
            f'batch 1' + (f' (ms per batch of n: {per_batch})' if len(cost.seconds) > 1 else ''))
        return cost

    def _stop_worker(self) -> None:
        # also called by rclpy's shutdown on a node whose constructor raised half-way
        if getattr(self, '_worker', None) is None:
            return
        self._stop.set()
        self._queue.close()
        join_worker(self._worker, self.get_logger(), 'the decode worker')
        self._worker = None

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        for agent in self._agents:
            self.destroy_subscription(agent.sub)
            for pub in (agent.caption_pub, agent.latency_pub, agent.queue_pub, agent.probe_pub):
                self.destroy_lifecycle_publisher(pub)
            self.destroy_publisher(agent.cost_pub)
            agent.caption_pub = agent.latency_pub = agent.queue_pub = agent.cost_pub = None
            agent.probe_pub = None
            agent.sub = None
        self.destroy_timer(self._timer)
        self.destroy_publisher(self._diag)
        if self._meter is not None:
            self._meter.close()
        self._split = self._queue = self._cost = self._meter = None
        self._energy = []
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        if self._meter is not None:
            self._meter.close()
            self._meter = None
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self):
        self._stop_worker()
        return super().destroy_node()

    # -- callbacks (executor thread) ---------------------------------------------------------
    def _on_embedding_info(self, index: int, msg: Embedding, info) -> None:
        # two required arguments after the index: rclpy then passes the message info
        self._on_embedding(index, msg, info)

    def _on_embedding(self, index: int, msg: Embedding, info=None) -> None:
        """
        Check an embedding and queue it under its publisher (executor thread).

        The publisher (its GID from the message info, as Kilted's rclpy gives it; Jazzy's
        gives none, and the frame_id stands in) keys both the replay check and the queue; the
        replay check refuses exact repeats only, so a message stamped ahead cannot block the
        next ones of its key, and another publisher's flood pushes out its own oldest.
        """
        agent = self._agents[index]
        source = source_of(msg, info)
        if not agent.caption_pub.is_activated:
            return
        try:
            embedding, meta = embedding_from_msg(msg)
        except ValueError as exc:
            self._drops.drop_error('embedding.corrupt', exc)
            return
        if meta.model_id != self._split.model_id:
            self._drops.drop('embedding.model', f'model id {meta.model_id!r} differs from this '
                             f'decoder model {self._split.model_id!r}')
            return
        if tuple(embedding.shape) != tuple(self._split.embedding_shape):
            self._drops.drop('embedding.shape', f'shape {tuple(embedding.shape)} differs from the '
                             f'model embedding shape {tuple(self._split.embedding_shape)}')
            return
        # last: a valid embedding only may advance its agent's newest stamp
        stamp = msg.header.stamp
        refusal = self._stamps.check((index, source), stamp.sec, stamp.nanosec,
                                     self.get_clock().now().nanoseconds)
        if refusal is not None:
            self._drops.drop(f'embedding.{refusal.kind}', refusal.reason)
            return
        if meta.captioned and not meta.probe:  # local mode captioned it: not a second time
            self._captioned_by_agent += 1
            return
        if self._queue.put(index, (msg.header, embedding, meta), source) is not None:
            self._drops.drop('embedding.queue', f'more than queue_depth = '
                             f'{self._p["queue_depth"]} waiting from one publisher for agent '
                             f'{agent.namespace!r} (frame_id '
                             f'{str(msg.header.frame_id)[:64]!r}): its oldest is dropped')

    # -- decoding (worker thread) ------------------------------------------------------------
    def _decode_loop(self) -> None:
        while not self._stop.is_set():
            batch = self._queue.take(self._p['max_batch'], self._p['batch_wait'], timeout=0.2)
            if batch and not self._stop.is_set():
                try:
                    self._decode(batch)
                except (RuntimeError, ValueError) as exc:  # keep serving the other batches
                    self._drops.drop_error('batch.decode_failed', exc, 'decoding failed: ')

    def _decode(self, batch) -> None:
        import numpy as np
        import torch

        start_mono = time.monotonic()
        start = time.perf_counter()
        meter = self._meter
        before = meter.read() if meter is not None else None
        stacked = upload(torch.from_numpy(np.stack([p.item[1] for p in batch])),
                         self._placement)
        with torch.no_grad():
            ids = self._split.decode(stacked, max_new_tokens=self._p['max_new_tokens']).cpu()
        captions = [c.strip() for c in self._split.captions(ids)]
        tokens = self._split.token_counts(ids)
        decode_s = time.perf_counter() - start
        after = meter.read() if before is not None else None
        if before is not None and after is not None:  # the board's energy while it decoded
            self._energy = (self._energy + [(after.joules - before.joules) / len(batch)])[-200:]
        if self._stop.is_set():  # stopping: the publishers are being torn down
            return
        now = self.get_clock().now()
        for pending, caption, count in zip(batch, captions, tokens):
            agent = self._agents[pending.agent]
            if not agent.caption_pub.is_activated:
                continue
            header, _, meta = pending.item
            e2e = stamp_age(now, header.stamp)  # NaN: not stamped
            latency = Vector3Stamped()
            latency.header = header
            latency.vector.x, latency.vector.y, latency.vector.z = \
                e2e, meta.agent_latency_s, decode_s
            if meta.probe:  # the robot captioned this frame: answer the probe, no caption
                agent.probe_pub.publish(latency)
                agent.probes += 1
                continue
            # the caption and then its latency (deprecated: the caption carries it), nothing in
            # between: older monitors pair them
            agent.caption_pub.publish(caption_msg(CaptionRecord(
                caption, ORIGIN_EDGE, meta.bit_width, count, e2e, meta.agent_latency_s,
                decode_s), header))
            agent.latency_pub.publish(latency)
            mean = agent.queue_delay.add(max(start_mono - pending.arrived, 0.0))
            agent.queue_pub.publish(Float64(data=mean))
            agent.captions += 1
            self._e2e = (self._e2e + [e2e])[-200:]
        self._captions += sum(not pending.item[2].probe for pending in batch)
        self._batches += 1

    def _publish_diagnostics(self) -> None:
        self._drops.tick()  # a summary of the drops since the last one, when due
        lat = sorted(t for t in self._e2e if t == t)  # without the unstamped (NaN)
        values = {
            'model': self._split.model_id if self._split else 'n/a', 'captions': self._captions,
            'captioned_by_agent': self._captioned_by_agent,
            'device': self._placement.device if self._placement else 'n/a',
            'dtype': self._placement.dtype if self._placement else 'n/a',
            **self._drops.diagnostic_values(),
            'e2e_ms_p50': f'{1e3 * statistics.median(lat):.1f}' if lat else 'n/a',
            'e2e_ms_p95': f'{1e3 * lat[int(0.95 * (len(lat) - 1))]:.1f}' if lat else 'n/a',
            'agents': len(self._agents), 'batches': self._batches,
            'mean_batch': f'{self._captions / self._batches:.2f}' if self._batches else 'n/a',
            'cost_caption_ms': f'{1e3 * self._cost.seconds[0]:.2f}' if self._cost else 'n/a',
            'energy_per_caption_J': f'{statistics.mean(self._energy):.4g}' if self._energy
            else 'n/a',
            'energy_source': 'nvml: the GPU board while its batch decoded' if self._meter
            else 'n/a',
        }
        for agent in self._agents:
            key = agent.namespace.strip('/') or 'own'
            values[f'queue_delay_ms[{key}]'] = f'{1e3 * agent.queue_delay.mean:.1f}'
            values[f'captions[{key}]'] = agent.captions
            values[f'probes_answered[{key}]'] = agent.probes
        publish_status(self, self._diag, EDGE_DECODER, WARN if self._drops.total else OK,
                       f'{self._captions} captions', values, self._hardware_id)


def main(args=None) -> int:
    return run_node(EdgeDecoderNode, args, 'edge_decoder_node')


if __name__ == '__main__':
    sys.exit(main())
