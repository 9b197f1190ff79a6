"""
Agent encoder (lifecycle node): the quantized first part of the model, on the robot.

``on_configure`` loads the agent part of ``model``, quantizes it once at ``b_max`` bits (nested
codes) and runs it on ``kernel`` (:mod:`qcoinf_ros.core.runtime`): the bit-plane lookup-table
kernels (``lut``, the default for the uniform scheme where the kernel library is built: cost
grows with b, a switch is one assignment), torch's dynamic int8 (``int8``) or the dequantized
reference (``reference``). It then measures its own encode latency per bit-width (a short,
bounded sweep on a model-sized frame; cached per model, kernel, thread count and machine, so a
restart is instant) and publishes it. While it runs it keeps comparing: when the median ratio
of the last ``cost_window`` encode times to the published cost at their bit-widths differs from
1 by more than ``cost_drift`` (other processes on the CPU, cold caches between frames), it
republishes the cost scaled by that ratio, so the planner's prediction follows the machine.
The bit-width then switches at run time from ``qcoinf/bit_width``. It also watches
whether the edge server answers (:mod:`qcoinf_ros.core.failover.link_state`): each embedding sent
is matched with the decoder's ``qcoinf/latency`` for its frame (same header), and the round trip is
held against the deadline T0 (``qcoinf/deadline``; ``answer_timeout`` until one arrives); the
link is ``LOST`` after ``loss_after_missed`` consecutive misses, at once when no decoder is
matched (the embedding publisher's matched readers, the latency subscription's writers) or the
decoder's liveliness is lost, and ``SPLIT`` again after ``recover_after_answers`` answers.
``on_cleanup``
frees the model. With ``autostart`` the node configures and activates itself; otherwise drive
it with the standard lifecycle services.

Topics in: ``camera/image_raw`` (sensor_msgs/Image; with ``image_transport`` = ``compressed``,
sensor_msgs/CompressedImage jpeg/png on ``<camera/image_raw as remapped>/compressed``: remap
``camera/image_raw`` to a camera driver's topic), ``qcoinf/bit_width`` (std_msgs/UInt8),
``qcoinf/deadline`` (std_msgs/Float64, T0 [s]), ``qcoinf/latency`` (the decoder's answers).
Topics out: ``qcoinf/embedding`` (qcoinf_ros/Embedding: header of the image, the values in
the ``compression`` codec, the bit-width used and the measured encode time);
``qcoinf/agent_model`` (qcoinf_ros/ModelInfo, latched: model id, scheme, b_max, and lambda
with its KS statistic fitted to the agent part's full-precision weights, eq. (3), before
quantization — the planner's lambda); ``qcoinf/agent_cost`` (qcoinf_ros/AgentCost, latched:
measured encode seconds per bit-width, their affine fit, kernel, threads and clock — the
planner's cost model); in local mode ``qcoinf/caption`` (qcoinf_ros/Caption, origin LOCAL),
``qcoinf/local_latency`` (deprecated: the caption carries it) and ``qcoinf/local_cost``
(AgentCost); ``qcoinf/link_state`` (std_msgs/String JSON, latched,
:mod:`qcoinf_ros.core.codec.link_state`: SPLIT, SUSPECT or LOST, why, since when, counters); and
``/diagnostics`` (WARN while the link is LOST).
"""

from __future__ import annotations

import collections
import os
import statistics
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from std_msgs.msg import Float64, String, UInt8

from qcoinf_ros.core.codec import COMPRESSIONS, EmbeddingMeta
from qcoinf_ros.core.codec.agent_model import AgentModelInfo
from qcoinf_ros.core.codec.caption import CaptionRecord, ORIGIN_LOCAL
from qcoinf_ros.core.codec.link_state import encode_link_state, LinkStateMessage
from qcoinf_ros.core.failover import EDGE, FrameRouter, LinkMonitor, LOCAL, LOST, PROBE, Transition
from qcoinf_ros.core.models.device import DeviceError, DEVICES_HELP, resolve_device
from qcoinf_ros.core.runtime import KERNELS
from qcoinf_ros.core.serving.fair import FairQueue
from qcoinf_ros.core.serving.stamps import StampGuard
from qcoinf_ros.core.status_names import AGENT_ENCODER, resolve_hardware_id
from qcoinf_ros.core.validation import physical_quantity_reason
from qcoinf_ros.ros.diagnostics import HARDWARE_ID_PARAM, OK, publish_status, WARN
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.eventlog import EventLog
from qcoinf_ros.ros.image import (
    frame_to_rgb, IMAGE_LIMIT_PARAMS, IMAGE_TRANSPORT_PARAM, source_of, subscribe_frames)
from qcoinf_ros.ros.messages import (
    AgentCost, Caption, caption_msg, cost_msg, Embedding, embedding_msg, model_msg, ModelInfo)
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.qos import LATCHED, reliable, subscribe_state
from qcoinf_ros.ros.spin import autostart, join_worker, run_node
from qcoinf_ros.ros.stamps import stamp_age
from qcoinf_ros.ros.stop import STOP, StopRequested

CALIBRATE = ('auto', 'always', 'never')
#: Frames awaiting their answer tracked at once by the link monitor (the oldest counts missed).
LINK_IN_FLIGHT = 256
#: Longest deadline taken from qcoinf/deadline [s] (a day), as the planner.
MAX_DEADLINE_S = 86400.0

PARAMS = [
    ParamSpec('model', 'default', 'Model: default or tiny (the embedded captioners), '
              'git:<dir> or blip2:<dir>.', read_only=True),
    ParamSpec('scheme', 'uniform', 'Weight quantization scheme (paper section II-C).',
              choices=('uniform', 'potlog'), read_only=True),
    ParamSpec('granularity', 'per_tensor', 'Scale per tensor or per output channel.',
              choices=('per_tensor', 'per_channel'), read_only=True),
    ParamSpec('b_max', 8, 'B_max: bit-width the codes are stored at; the largest usable b.',
              low=1, high=16, read_only=True),
    ParamSpec('initial_bit_width', 0, 'Bit-width until the planner says otherwise; 0 = b_max.',
              low=0, high=16),
    ParamSpec('compression', 'none', 'Compression of the embedding itself on the wire.',
              choices=COMPRESSIONS),
    ParamSpec('threads', 0, 'Threads of the kernels and of torch; 0 keeps the torch default. '
              "With more than one, OMP_WAIT_POLICY=PASSIVE in the environment keeps torch's "
              "spinning OpenMP workers off the cores the kernels' workers need (docs/kernels.md).",
              low=0, high=256, read_only=True),
    ParamSpec('device', 'cpu', f'Where the agent part runs: {DEVICES_HELP}. On a GPU the '
              'dequantized reference runs there (the nested codes move with it; a switch '
              'dequantizes on the device) and the cost is measured there.', read_only=True),
    ParamSpec('kernel', 'auto', 'How the quantized layers run: lut (bit-plane lookup tables, '
              'cost grows with b; uniform scheme), qint8 (exact int8 GEMM on the same codes, '
              'flat in b; uniform), lut+qint8 (both, each b on the faster, measured at '
              'configure), int8 (torch dynamic int8, flat in b, not exact), reference '
              '(dequantized fp32); auto = lut+qint8 where the kernel library runs, else '
              'reference.', choices=KERNELS, read_only=True),
    ParamSpec('calibrate', 'auto', 'Measured cost per bit-width at configure: auto (from the '
              'cost cache when it has this model, kernel, threads and machine, else measured), '
              'always (measure and refresh the cache), never (publish no cost).',
              choices=CALIBRATE, read_only=True),
    ParamSpec('calibration_repeats', 5, 'Timed encodes per bit-width in the calibration.',
              low=1, high=1000, read_only=True),
    ParamSpec('calibration_budget', 10.0, 'Longest calibration [s] (at least one timed encode '
              'per bit-width).', low=0.01, high=3600.0, read_only=True),
    ParamSpec('calibration_pause', 0.05, 'Untimed pause [s] before each timed encode of the '
              'calibration, as between camera frames (calls after a gap run slower than '
              'back-to-back ones); 0 measures back-to-back.', low=0.0, high=10.0,
              read_only=True),
    ParamSpec('cost_cache_dir', '', 'Folder of the cost cache; "" = $XDG_CACHE_HOME/qcoinf_ros/'
              'cost.', read_only=True),
    ParamSpec('cost_drift', 0.2, 'Republish the cost, scaled to the encode times measured '
              'while running, when their median differs from it by more than this fraction '
              '(0: never); the cost of the local decoder likewise.', low=0.0, high=100.0),
    ParamSpec('cost_window', 20, 'Encodes compared with the published cost (each at its own '
              'bit-width) before it is republished or kept.',
              low=3, high=100000, read_only=True),
    ParamSpec('frame_queue', 2, 'Camera frames waiting per publisher; beyond, its oldest is '
              'dropped. Publishers are served in turn (a flood on the topic cannot starve the '
              'camera).', low=1, high=1000, read_only=True),
    ParamSpec('max_sources', 16, 'Publishers on the camera topic tracked at once; a new one '
              'evicts the one heard from least recently.', low=1, high=4096, read_only=True),
    ParamSpec('max_source_rate_hz', 60.0, 'Frames of one publisher closer together than '
              '1 / this are dropped on arrival, before any work (0: no limit).', low=0.0,
              high=10000.0, read_only=True),
    ParamSpec('loss_after_missed', 3, 'Consecutive answers missed (not back within the '
              'deadline T0, or answer_timeout) before the link to the edge server is LOST.',
              low=1, high=100, read_only=True),
    ParamSpec('recover_after_answers', 3, 'Consecutive answers within the deadline that bring '
              'a LOST link back to SPLIT (one, after a decoder reappeared, with no other '
              'frame in flight).', low=1, high=100, read_only=True),
    ParamSpec('answer_timeout', 1.0, 'Longest round trip [s] (embedding sent -> its '
              'qcoinf/latency back) of an answer while no qcoinf/deadline is known.',
              low=0.001, high=86400.0, read_only=True),
    ParamSpec('link_check_period', 0.1, 'Period [s] of the check for overdue answers and '
              'matched decoders.', low=0.01, high=10.0, read_only=True),
    ParamSpec('local_mode', True, 'While the link to the edge server is LOST, caption on '
              'the robot: the decoder is loaded at configure when it fits (local_max_params); '
              'false (or a decoder too large): no captions while the server is lost.',
              read_only=True),
    ParamSpec('local_max_params', 50_000_000, 'Largest decoder [parameters] local mode runs '
              'on the robot (an embedded captioner has 0.6 M).', low=1, high=10**12,
              read_only=True),
    ParamSpec('local_max_new_tokens', 20, 'Longest local caption in tokens.', low=1, high=512,
              read_only=True),
    ParamSpec('max_stamp_age', 30.0, 'Local mode: frames stamped more than this many seconds '
              "before this node's clock, or repeats of a stamp within it, are not captioned on "
              'the robot (as the edge decoder refuses them); 0 accepts any age and repeats.',
              low=0.0, high=1e9),
    ParamSpec('max_stamp_future', 2.0, 'Local mode: frames stamped more than this many seconds '
              "after this node's clock are not captioned on the robot; 0 accepts any.",
              low=0.0, high=1e9),
    ParamSpec('probe_period', 1.0, 'While LOST in local mode, one frame per this period [s] '
              'goes to a present edge server instead (a probe: its answer brings the link '
              'back; unanswered, it is counted missed).', low=0.05, high=3600.0,
              read_only=True),
    ParamSpec('autostart', True, 'Configure and activate at start.', read_only=True),
    IMAGE_TRANSPORT_PARAM,
    *IMAGE_LIMIT_PARAMS,
    HARDWARE_ID_PARAM,
]


class AgentEncoderNode(LifecycleNode):
    """Encodes camera frames with the quantized agent part of a split model."""

    def __init__(self, **kwargs):
        super().__init__('agent_encoder_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        self._hardware_id = resolve_hardware_id(self._p['hardware_id'])
        reason = self._check(self._p)  # the cross-check, at start as at run time
        if reason is not None:
            raise ValueError(f'invalid parameters: {reason}')
        install_validator(self, PARAMS, extra=self._check, on_change=self._p.update)
        self._drops = DropLog(self.get_logger())
        # bit-width switches: a line each at a robot's pace, a summary under a flapping flood
        self._events = EventLog(self.get_logger(), per_second=2.0)
        self._split = self._runtime = self._cost = None
        self._latencies: list[float] = []
        # (bit-width, encode time / published cost at it) of the last cost_window encodes
        self._recent: collections.deque = collections.deque(maxlen=self._p['cost_window'])
        self._recent_local: collections.deque = collections.deque(
            maxlen=self._p['cost_window'])
        self._frames = 0
        self._pub = self._diag = self._timer = self._info = self._cost_pub = None
        self._subs = []
        self._queue: FairQueue | None = None
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()  # the runtime: bit-width switch vs encode
        self._error = ''
        self._error_may_pass = False
        self._link: LinkMonitor | None = None
        self._link_lock = threading.Lock()  # the link monitor: worker vs executor thread
        self._link_pub = self._link_timer = self._answers = None
        self._link_published = (None, 0.0)  # (snapshot, monotonic time) last published
        # local mode (issue 27): the decoder on the robot while the edge server is lost
        self._local = self._local_cost = self._router = None
        self._local_note = ''
        self._caption_pub = self._local_latency_pub = self._local_cost_pub = None
        self._local_captions = 0
        self._local_stamps = StampGuard(self._p['max_stamp_age'], self._p['max_stamp_future'])
        self._probes_answered = 0
        self._probe_answers = None
        self._local_decodes: list[float] = []
        if self._p['autostart']:
            autostart(self)

    def _check(self, proposed: dict) -> str | None:
        if proposed['initial_bit_width'] > proposed['b_max']:
            return (f'initial_bit_width ({proposed["initial_bit_width"]}) must not exceed '
                    f'b_max ({proposed["b_max"]})')
        return None

    @property
    def bit_width(self) -> int | None:
        return None if self._runtime is None else self._runtime.bit_width

    # -- lifecycle -----------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        import torch
        from transformers.utils import logging as hf_logging

        from qcoinf_ros.core.models.registry import load_split
        from qcoinf_ros.core.runtime import build_runtime
        from qcoinf_ros.core.theory.weight_stats import fit_model

        hf_logging.disable_progress_bar()
        if self._p['threads']:
            torch.set_num_threads(self._p['threads'])
        threads = self._p['threads'] or torch.get_num_threads()
        reason = self._check(self._p)
        state_subs = []
        try:
            # first: a bad qos_overrides start value refuses the configure before the model loads
            state_subs = subscribe_state(self, UInt8, 'qcoinf/bit_width', self._on_bit_width)
            state_subs += subscribe_state(self, Float64, 'qcoinf/deadline', self._on_deadline)
            if reason is not None:
                raise ValueError(reason)
            start = time.perf_counter()
            placement = resolve_device(self._p['device'])
            self._split = load_split(self._p['model'], parts=('agent',))
            STOP.check()  # a stop while the model loaded: no calibration
            self._fit = fit_model(self._split.agent_module, per_layer=False).overall
            bits = self._p['initial_bit_width'] or self._p['b_max']
            self._runtime = build_runtime(
                self._split.agent_module, self._p['kernel'], self._p['scheme'],
                self._p['b_max'], self._p['granularity'], bit_width=bits, threads=threads,
                stored=self._split.stored_codes, device=placement.device)
            self.get_logger().info(placement.note)
            self._log_stored()
            (self.get_logger().info if self._runtime.kernel != 'reference'
             or self._p['kernel'] != 'auto' else self.get_logger().warning)(
                f'kernels: {self._runtime.kernel} ({self._runtime.reason}); {threads} '
                f"thread(s), OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
            self._cost = self._calibrate(threads)
            self._local, self._local_cost, self._local_note = self._load_local(threads)
            self.get_logger().info(self._local_note)
        except StopRequested as exc:
            self.get_logger().info(f'configure abandoned: {exc}')
            self._split = self._runtime = self._cost = self._local = self._local_cost = None
            for sub in state_subs:
                self.destroy_subscription(sub)
            return TransitionCallbackReturn.FAILURE
        except (ValueError, OSError, RuntimeError) as exc:
            self._error = str(exc)
            self._error_may_pass = isinstance(exc, DeviceError)
            self.get_logger().error(f'configure failed: {exc}')
            self._split = self._runtime = self._cost = self._local = self._local_cost = None
            for sub in state_subs:
                self.destroy_subscription(sub)
            return TransitionCallbackReturn.FAILURE
        self._start_link_monitor()
        self._pub = self.create_lifecycle_publisher(
            Embedding, 'qcoinf/embedding', reliable(2),
            event_callbacks=_publisher_events(lambda info: self._link_check()))
        self._diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._info = self.create_publisher(ModelInfo, 'qcoinf/agent_model', LATCHED)
        self._info.publish(model_msg(AgentModelInfo(
            model_id=self._split.model_id, scheme=self._p['scheme'], b_max=self._p['b_max'],
            lam=self._fit.lam, ks=self._fit.ks_statistic, num_params=self._fit.num_params)))
        self._cost_pub = self.create_publisher(AgentCost, 'qcoinf/agent_cost', LATCHED)
        if self._cost is not None:
            self._cost_pub.publish(self._cost_message(self._cost))
        self._router = FrameRouter(self._local is not None, self._p['probe_period'])
        if self._local is not None:
            # local captions on the caption topic every consumer reads; their latency on
            # qcoinf/local_latency marks them local (and is no answer of the edge server)
            self._caption_pub = self.create_lifecycle_publisher(
                Caption, 'qcoinf/caption', reliable(10))
            self._local_latency_pub = self.create_lifecycle_publisher(
                Vector3Stamped, 'qcoinf/local_latency', reliable(10))
            self._local_cost_pub = self.create_publisher(AgentCost, 'qcoinf/local_cost', LATCHED)
            if self._local_cost is not None:
                self._local_cost_pub.publish(self._cost_message(self._local_cost))
        self._subs = [
            subscribe_frames(self, 'camera/image_raw', self._p['image_transport'],
                             self._on_image_info),
            *state_subs,
        ]
        self._answers = self.create_subscription(
            Vector3Stamped, 'qcoinf/latency', self._on_answer, reliable(10),
            event_callbacks=_subscription_events(self._on_liveliness,
                                                 lambda info: self._link_check()))
        self._probe_answers = self.create_subscription(
            Vector3Stamped, 'qcoinf/probe_answer', self._on_probe_answer, reliable(10))
        self._timer = self.create_timer(1.0, self._publish_diagnostics)
        self._link_timer = self.create_timer(self._p['link_check_period'], self._link_check)
        self._link_check()
        self._queue = FairQueue(self._p['frame_queue'], self._p['max_sources'],
                                self._p['max_source_rate_hz'])
        self._worker = threading.Thread(target=self._encode_loop, name='agent_encoder',
                                        daemon=True)
        self._worker.start()
        self.get_logger().info(
            f'configured {self._split.model_id} ({self._p["scheme"]}, b_max={self._p["b_max"]}, '
            f'{self._runtime.num_quantized} weights on {self._runtime.kernel}/'
            f'{self._runtime.isa}, {threads} thread(s), lambda {self._fit.lam:.4g}, KS '
            f'{self._fit.ks_statistic:.3f}) in {time.perf_counter() - start:.2f} s '
            f'({_library_versions()})')
        return TransitionCallbackReturn.SUCCESS

    def _log_stored(self) -> None:
        stored = self._split.stored_codes
        if not stored:
            return
        first = next(iter(stored.values()))
        if self._runtime.stored_weights:
            self.get_logger().info(f'{self._runtime.stored_weights} weights run on the '
                                   f'{first.bits}-bit codes the checkpoint stores')
        else:
            self.get_logger().warning(
                f'the checkpoint stores {first.bits}-bit {first.scheme} {first.granularity} '
                f'codes; scheme {self._p["scheme"]}, b_max {self._p["b_max"]}, '
                f'{self._p["granularity"]} quantizes its weights again (from those codes)')

    def _calibrate(self, threads: int):
        """Measure (or read from the cache) the encode latency per bit-width."""
        if self._p['calibrate'] == 'never':
            return None
        import numpy as np
        import torch

        from qcoinf_ros.core.system.calibration import calibrate_agent, CostCache
        size = tuple(self._split.input_shape[-2:])
        frame = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)

        def run():
            STOP.check()  # a stop during configure abandons the calibration
            with torch.no_grad():  # .cpu(): on a GPU, wait for the result as a frame does
                self._split.encode(self._split.preprocess(frame)).cpu()

        cost = calibrate_agent(
            self._split.model_id, self._runtime, run, threads=threads,
            repeats=self._p['calibration_repeats'], budget_s=self._p['calibration_budget'],
            pause_s=self._p['calibration_pause'],
            cache=CostCache(self._p['cost_cache_dir'] or None),
            refresh=self._p['calibrate'] == 'always')
        clock = f'{cost.f_ref_hz / 1e9:.2f} GHz' if cost.f_ref_hz else 'unknown clock'
        table = ', '.join(f'{1e3 * t:.3g}' for t in cost.seconds)
        self.get_logger().info(
            f'encode cost ({"cached" if cost.cached else "measured"}, {clock}, '
            f'{cost.kernel_summary()}): t(b) = [{table}] ms for b = 1..{len(cost.seconds)}; '
            f'{"lookup kernels" if "lut" in cost.kernel else "fit"} t(b) = '
            f'{1e3 * cost.t_fixed:.3f} ms + {1e3 * cost.t_plane:.3f} ms x b (R^2 {cost.r2:.3f})')
        return cost

    def _load_local(self, threads: int):
        """
        Load the decoder for local mode when it is on and fits; return it, its cost and a note.

        The decoder is loaded here, at configure, so switching to local mode loads nothing on
        the critical path. Its caption time is measured (or read from the cost cache) like the
        edge decoder's, for batch 1 on this machine.
        """
        model = self._p['model']
        if not self._p['local_mode']:
            return None, None, ('local mode: off (local_mode false): no captions while the '
                                'edge server is lost')
        import torch

        from qcoinf_ros.core.models.registry import load_split, part_parameters
        from qcoinf_ros.core.system.calibration import calibrate_server, CostCache
        STOP.check()
        # counted from the config before any weight is read: a decoder too large for the
        # robot is refused without being loaded (a 7 B decoder would not fit to be counted)
        size = part_parameters(model, 'server')
        if size > self._p['local_max_params']:
            return None, None, (
                f'local mode: the decoder of {model} has {size / 1e6:.1f} M '
                f'parameters, more than local_max_params = {self._p["local_max_params"]:,}: '
                'no captions while the edge server is lost (not loaded)')
        local = load_split(model, parts=('server',))
        tokens = self._p['local_max_new_tokens']
        embedding = torch.randn((1, *local.embedding_shape),
                                generator=torch.Generator().manual_seed(0))

        def decode(size):
            STOP.check()  # a stop during configure abandons the calibration
            with torch.no_grad():
                local.decode(embedding[:size], max_new_tokens=tokens,
                             min_new_tokens=tokens).cpu()

        cost = None
        if self._p['calibrate'] != 'never':
            cost = calibrate_server(
                local.model_id, decode, threads=threads, max_new_tokens=tokens,
                repeats=self._p['calibration_repeats'], budget_s=self._p['calibration_budget'],
                cache=CostCache(self._p['cost_cache_dir'] or None),
                refresh=self._p['calibrate'] == 'always')
        timed = (f', {1e3 * cost.seconds[0]:.1f} ms per caption of {tokens} tokens '
                 f'({"cached" if cost.cached else "measured"})') if cost is not None else ''
        return local, cost, (f'local mode: ready, the decoder of {local.model_id} '
                             f'({size / 1e6:.1f} M parameters) runs here while the edge '
                             f'server is lost{timed}')

    def _decode_local(self, header, embedding, encode_s: float, bit_width: int) -> None:
        """Caption a frame on the robot (LOST link) and publish it, marked local."""
        import torch
        # the edge decoder's rule on stamps: a replay without --clock is not captioned here either
        refusal = self._local_stamps.check(header.frame_id, header.stamp.sec,
                                           header.stamp.nanosec,
                                           self.get_clock().now().nanoseconds)
        if refusal is not None:
            self._drops.drop(f'local.{refusal.kind}', refusal.reason)
            return
        start = time.perf_counter()
        with torch.no_grad():
            ids = self._local.decode(embedding.float(),
                                     max_new_tokens=self._p['local_max_new_tokens']).cpu()
        caption = self._local.captions(ids)[0].strip()
        tokens = self._local.token_counts(ids)[0]
        decode_s = time.perf_counter() - start
        if self._queue is not None and self._queue.closed:  # stopping: publishers go next
            return
        if not self._caption_pub.is_activated:
            return
        latency = Vector3Stamped(header=header)
        latency.vector.x = stamp_age(self.get_clock().now(), header.stamp)  # NaN: not stamped
        latency.vector.y, latency.vector.z = encode_s, decode_s
        # the caption and then its latency, nothing in between (as the edge decoder)
        record = CaptionRecord(caption, ORIGIN_LOCAL, bit_width, tokens, latency.vector.x,
                               encode_s, decode_s)
        self._caption_pub.publish(caption_msg(record, header))
        self._local_latency_pub.publish(latency)  # deprecated: the caption carries it
        self._local_captions += 1
        self._local_decodes = (self._local_decodes + [decode_s])[-200:]
        self._track_local_cost(decode_s)

    def _drift(self, times, predicted: float) -> tuple[float, float | None]:
        """
        Return the median of ``times`` and its ratio to ``predicted``.

        The ratio is ``None`` while they agree within ``cost_drift``: the published cost holds.
        """
        measured = statistics.median(times)
        if abs(measured - predicted) <= self._p['cost_drift'] * predicted:
            return measured, None
        return measured, measured / predicted

    def _track_local_cost(self, decode_s: float) -> None:
        """Republish the local cost, scaled, when the local decode times drift away from it."""
        if self._local_cost is None or not self._p['cost_drift']:
            return
        self._recent_local.append(decode_s)
        if len(self._recent_local) < self._recent_local.maxlen:
            return
        predicted = self._local_cost.seconds[0]
        measured, k = self._drift(self._recent_local, predicted)
        self._recent_local.clear()
        if k is None:
            return
        self._local_cost = self._local_cost.scaled(k)
        self._local_cost_pub.publish(self._cost_message(self._local_cost))
        self.get_logger().info(
            f'local decode times drifted: median {1e3 * measured:.3f} ms over the last '
            f'{self._p["cost_window"]} local captions vs {1e3 * predicted:.3f} ms published; '
            f'local cost scaled by {k:.2f} and republished')

    def _stop_worker(self) -> None:
        # also called by rclpy's shutdown on a node whose constructor raised half-way
        if getattr(self, '_worker', None) is None:
            return
        self._queue.close()
        join_worker(self._worker, self.get_logger(), 'the encode worker')
        self._worker = None

    def destroy_node(self):
        self._stop_worker()
        return super().destroy_node()

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self.destroy_timer(self._timer)
        self.destroy_timer(self._link_timer)
        self.destroy_subscription(self._answers)
        self.destroy_subscription(self._probe_answers)
        self.destroy_publisher(self._link_pub)
        self._link = self._link_pub = self._link_timer = self._answers = None
        self._probe_answers = None
        self.destroy_lifecycle_publisher(self._pub)
        self.destroy_publisher(self._diag)
        self.destroy_publisher(self._info)
        self.destroy_publisher(self._cost_pub)
        if self._local is not None:
            self.destroy_lifecycle_publisher(self._caption_pub)
            self.destroy_lifecycle_publisher(self._local_latency_pub)
            self.destroy_publisher(self._local_cost_pub)
        self._caption_pub = self._local_latency_pub = self._local_cost_pub = None
        self._local = self._local_cost = self._router = None
        self._split = self._runtime = self._cost = None
        self._pub = self._diag = self._info = self._cost_pub = None
        self._recent.clear()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        return TransitionCallbackReturn.SUCCESS

    # -- callbacks -----------------------------------------------------------------------
    def _on_bit_width(self, msg: UInt8) -> None:
        if self._runtime is None:  # not configured: nothing to switch
            return
        b = int(msg.data)
        if not 1 <= b <= self._p['b_max']:
            self._drops.drop('bit_width.range', f'{b} is outside 1..b_max={self._p["b_max"]}')
            return
        if b != self._runtime.bit_width:
            with self._lock:
                seconds = self._runtime.set_bit_width(b)
            self._events.log('bit-width switch',
                             f'bit-width -> {b} (switched in {1e6 * seconds:.1f} us)')

    def _on_image_info(self, msg, info) -> None:
        """Queue the frame under its publisher (executor thread: O(1), drains the reader)."""
        if not self._pub.is_activated:
            return
        if msg.header.stamp.sec < 0 or msg.header.stamp.nanosec >= 1_000_000_000:
            self._drops.drop('image.stamp', f'invalid stamp sec={msg.header.stamp.sec} '
                             f'nanosec={msg.header.stamp.nanosec}')
            return
        throttled = self._queue.throttled
        if self._queue.put(source_of(msg, info), msg):
            if self._queue.throttled != throttled:
                self._drops.drop('image.rate', f'a publisher sends faster than '
                                 f'max_source_rate_hz = {self._p["max_source_rate_hz"]:g}: '
                                 'frames dropped on arrival')
            else:
                self._drops.drop('image.queue', f'more than frame_queue = '
                                 f'{self._p["frame_queue"]} frames of one publisher waiting (or '
                                 'an evicted publisher): the oldest is dropped')

    def _encode_loop(self) -> None:
        queue = self._queue
        while True:
            taken = queue.take(timeout=0.5)
            if queue.closed:  # stopping: what is still queued is not encoded
                return
            if taken is None:
                continue
            try:
                self._on_image(taken[1])
            except (RuntimeError, ValueError) as exc:  # keep serving the other frames
                self._drops.drop_error('image.encode_failed', exc, 'encoding failed: ')

    def _on_image(self, msg) -> None:
        """Encode one frame and publish its embedding (worker thread; tests call it too)."""
        if self._pub is None or not self._pub.is_activated:
            return
        try:
            rgb = frame_to_rgb(msg, self._p['max_image_pixels'], self._p['max_image_aspect'])
        except ValueError as exc:
            self._drops.drop_error('image.malformed', exc)
            return
        import torch
        with self._lock:
            start = time.perf_counter()
            with torch.no_grad():  # .cpu(): the result is on the host when the time is read
                embedding = self._split.encode(self._split.preprocess(rgb)).cpu()
            latency = time.perf_counter() - start
            bit_width = self._runtime.bit_width
        route = self._route()
        local = route in (LOCAL, PROBE)
        # captioned here (local mode): the embedding still goes out (recorders, monitors), marked
        # so that a decoder never captions it a second time; a probe's answer is awaited (on
        # qcoinf/probe_answer: the server is back), a plain local frame's is not
        meta = EmbeddingMeta(self._split.model_id, bit_width, self._p['compression'], latency,
                             captioned=local, probe=route == PROBE)
        try:
            out = embedding_msg(embedding[0], meta, msg.header, self._p['scheme'])
        except ValueError as exc:  # non-finite embedding, or out of the fp16 range
            self._drops.drop('embedding.encode', str(exc))
            return
        if self._queue is not None and self._queue.closed:  # stopping: publishers go next
            return
        if route != LOCAL:
            self._link_sent(msg.header)  # before: the answer may come back before publish
        self._pub.publish(out)
        self._frames += 1
        self._latencies = (self._latencies + [latency])[-200:]
        self._track_cost(latency, bit_width)
        if local:
            self._decode_local(msg.header, embedding, latency, bit_width)

    def _cost_message(self, cost) -> AgentCost:
        return cost_msg(cost, self.get_clock().now().to_msg())

    def _track_cost(self, latency: float, bit_width: int) -> None:
        """
        Republish the cost, scaled, when the encode times drift away from it.

        Each encode is held against the published cost at its own bit-width (``latency /
        t(b)``); the median of the last ``cost_window`` ratios, whatever their bit-widths, is the
        machine's factor: other processes on the cores (the decoder, on one machine), clocks
        and caches slow every b alike, so a plan that switches b often is still corrected.
        """
        if self._cost is None or not self._p['cost_drift']:
            return
        self._recent.append((bit_width, latency / self._cost.latency(bit_width)))
        if len(self._recent) < self._recent.maxlen:
            return
        _, k = self._drift([ratio for _, ratio in self._recent], 1.0)
        used = sorted({b for b, _ in self._recent}, reverse=True)
        self._recent.clear()
        if k is None:
            return
        self._cost = self._cost.scaled(k)
        self._cost_pub.publish(self._cost_message(self._cost))
        self.get_logger().info(
            f'encode times drifted: median {k:.2f}x the published cost over the last '
            f'{self._p["cost_window"]} frames (b = {", ".join(map(str, used))}); cost scaled by '
            f'{k:.2f} and republished')

    # -- the link to the edge server (qcoinf_ros.core.failover.link_state) ------------------------
    def _start_link_monitor(self) -> None:
        self._link_published = (None, 0.0)
        self._link = LinkMonitor(self._p['loss_after_missed'], self._p['recover_after_answers'],
                                 self._p['answer_timeout'], LINK_IN_FLIGHT,
                                 now=time.monotonic())
        self._link_pub = self.create_publisher(String, 'qcoinf/link_state', LATCHED)
        self._link_publish([], force=True)

    def _route(self) -> str:
        """Where the frame just encoded goes (worker thread): edge, local or a probe."""
        if self._router is None or self._link is None:
            return EDGE
        with self._link_lock:  # the router too: probe answers reach it from the executor
            snap = self._link.snapshot()
            return self._router.route(snap.state, snap.decoders != 0 and snap.alive,
                                      time.monotonic())

    def _link_sent(self, header) -> None:
        """Record an embedding about to go out (worker thread); unstamped frames are not."""
        if self._link is None or (header.stamp.sec == 0 and header.stamp.nanosec == 0):
            return
        with self._link_lock:
            changes = self._link.sent(_frame_key(header), time.monotonic())
        if changes:
            self._link_publish(changes)

    def _on_answer(self, msg: Vector3Stamped) -> None:
        if self._link is None:
            return
        with self._link_lock:
            changes = self._link.answered(_frame_key(msg.header), time.monotonic())
        if changes:
            self._link_publish(changes)

    def _on_probe_answer(self, msg: Vector3Stamped) -> None:
        """Take the decoder's answer to a probe (local mode): an answer as any other."""
        if self._link is None:
            return
        with self._link_lock:
            before = self._link.snapshot()
            changes = self._link.answered(_frame_key(msg.header), time.monotonic())
            after = self._link.snapshot()
            if after.answered > before.answered and after.missed_total == before.missed_total:
                self._probes_answered += 1  # in time (a late one is counted missed)
                if self._router is not None:
                    self._router.probe_answered()  # probe every frame until SPLIT
        if changes:
            self._link_publish(changes)

    def _on_deadline(self, msg: Float64) -> None:
        reason = physical_quantity_reason(msg.data, high=MAX_DEADLINE_S)
        if reason is not None:
            self._drops.drop('deadline.range', f'T0 [s] {reason}')
            return
        if self._link is not None:
            with self._link_lock:
                self._link.set_deadline(float(msg.data))

    def _on_liveliness(self, info) -> None:
        """Take the decoder's liveliness on qcoinf/latency (a QoS event of the subscription)."""
        if self._link is None:
            return
        if info.alive_count == 0 and info.not_alive_count > 0:
            alive = False
        elif info.alive_count > 0:
            alive = True
        else:  # no writer left: the matched count says so
            return
        with self._link_lock:
            changes = self._link.liveliness(alive, time.monotonic())
        self._link_publish(changes)

    def _link_check(self) -> None:
        """Count overdue answers, take the matched decoders (timer, and on matched events)."""
        if self._link is None or self._pub is None or self._answers is None:
            return
        # a decoder reads qcoinf/embedding and writes qcoinf/latency: the fewer of the two (a
        # recorder or a monitor may read the embeddings; only decoders write latencies)
        count = min(self._pub.get_subscription_count(), self._answers.get_publisher_count())
        with self._link_lock:
            now = time.monotonic()
            missed = self._link.snapshot().missed_total
            changes = self._link.tick(now) + self._link.decoders(count, now)
            snap = self._link.snapshot()
            if self._router is not None and snap.state == LOST and snap.missed_total > missed:
                self._router.probe_missed()  # the server went quiet again: probe sparingly
        self._link_publish(changes)

    def _link_publish(self, changes: list[Transition], force: bool = False) -> None:
        """
        Log each transition, rate-limited; publish on a transition, else counters at most 1/s.

        A link that flaps under a flood (the decoder drops the flooder's embeddings, so the
        agent misses their answers) is summarised, not logged per change.
        """
        for change in changes:
            line = f'link to the edge server: {change.old} -> {change.new} ({change.reason})'
            if change.new == LOST:
                line += (': captioning on the robot (local mode)' if self._local is not None
                         else ': no captions while the edge server is lost')
            elif change.old == LOST and self._local is not None:
                line += ': split inference again'
            self._events.log('link transition', line,
                             'warning' if change.new == LOST else 'info')
        with self._link_lock:
            if self._link is None or self._link_pub is None:
                return
            snap = self._link.snapshot()
            now = time.monotonic()
            last, at = self._link_published
            if not (changes or force) and (snap == last or now - at < 1.0):
                return
            self._link_published = (snap, now)
            since = self.get_clock().now().nanoseconds * 1e-9 - (now - snap.since)
            self._link_pub.publish(String(data=encode_link_state(
                LinkStateMessage.from_snapshot(snap, since))))

    def _publish_diagnostics(self) -> None:
        self._drops.tick()  # a summary of the drops since the last one, when due
        self._events.tick()
        lat = sorted(self._latencies)
        values = {
            'model': self._split.model_id if self._split else 'n/a',
            'bit_width': self.bit_width, 'scheme': self._p['scheme'],
            'frames': self._frames, **self._drops.diagnostic_values(),
            'encode_ms_p50': f'{1e3 * statistics.median(lat):.2f}' if lat else 'n/a',
            'encode_ms_p95': f'{1e3 * lat[int(0.95 * (len(lat) - 1))]:.2f}' if lat else 'n/a',
            'last_switch_us': f'{1e6 * self._runtime.last_switch_s:.1f}' if self._runtime
            else 'n/a',
            'kernel': self._runtime.kernel_at(self.bit_width) if self._runtime
            and self.bit_width else 'n/a',
            'kernels': self._runtime.kernel if self._runtime else 'n/a',
            'isa': self._runtime.isa if self._runtime else 'n/a',
        }
        if self._cost is not None:
            values['cost_t_fixed_ms'] = f'{1e3 * self._cost.t_fixed:.3f}'
            values['cost_t_plane_ms'] = f'{1e3 * self._cost.t_plane:.3f}'
            values['cost_predicted_ms'] = f'{1e3 * self._cost.latency(self.bit_width):.3f}' \
                if self.bit_width else 'n/a'
        level, message = OK, f'b = {self.bit_width}'
        if self._link is not None:
            with self._link_lock:
                snap = self._link.snapshot()
            values.update({
                'link_state': snap.state, 'link_reason': snap.reason,
                'link_for_s': f'{time.monotonic() - snap.since:.1f}',
                'link_timeout_s': f'{snap.timeout_s:g}',
                'link_rtt_ms': f'{1e3 * snap.rtt_s:.1f}' if snap.rtt_s is not None else 'n/a',
                'link_missed': snap.missed_total, 'link_late': snap.late,
                'link_decoders': snap.decoders if snap.decoders is not None else 'n/a'})
            message += f', link {snap.state}'
            level = WARN if snap.state == LOST else OK
            if snap.state == LOST:
                message += (', captioning locally' if self._local is not None
                            else ', no captions while the edge server is lost')
        if self._router is not None:
            local = sorted(self._local_decodes)
            values.update({
                'local_mode': 'ready' if self._local is not None else 'unavailable',
                'local_note': self._local_note,
                'frames_edge': self._router.counts.edge, 'frames_local': self._router.counts.local,
                'frames_probe': self._router.counts.probe,
                'probes_answered': self._probes_answered, 'local_captions': self._local_captions,
                'local_decode_ms_p50': f'{1e3 * statistics.median(local):.2f}' if local
                else 'n/a'})
        publish_status(self, self._diag, AGENT_ENCODER, level, message, values,
                       self._hardware_id)


def _frame_key(header) -> tuple[int, int, str]:
    """Return a frame's key: stamp and frame_id (the decoder's answer carries the header)."""
    return header.stamp.sec, header.stamp.nanosec, header.frame_id


def _publisher_events(matched):
    """Return publisher event callbacks with ``matched`` where rclpy has it (Iron and later)."""
    try:
        from rclpy.event_handler import PublisherEventCallbacks
        return PublisherEventCallbacks(matched=matched)
    except (ImportError, TypeError):  # Humble: no matched event; the timer polls the count
        return None


def _subscription_events(liveliness, matched):
    """Return subscription event callbacks: liveliness, and matched where rclpy has it."""
    try:
        from rclpy.event_handler import SubscriptionEventCallbacks
    except ImportError:  # Humble's rclpy
        from rclpy.qos_event import SubscriptionEventCallbacks
    try:
        return SubscriptionEventCallbacks(liveliness=liveliness, matched=matched)
    except TypeError:  # Humble: no matched event
        return SubscriptionEventCallbacks(liveliness=liveliness)


def _library_versions() -> str:
    """Return the torch and numpy versions of this process (a node says what it runs on)."""
    import numpy
    import torch
    return f'torch {torch.__version__}, numpy {numpy.__version__}'


def main(args=None) -> int:
    return run_node(AgentEncoderNode, args, 'agent_encoder_node')


if __name__ == '__main__':
    sys.exit(main())
