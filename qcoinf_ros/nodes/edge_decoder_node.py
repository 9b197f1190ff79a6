"""
Edge decoder (lifecycle node): the full-precision rest of the model, on the edge server.

``on_configure`` loads the server part of ``model``. Each ``qcoinf/embedding`` whose payload
decodes, whose model id matches this model and whose shape is the model's embedding shape is
decoded into a caption; anything else is logged once per reason and dropped.

Topics out: ``qcoinf/caption`` (std_msgs/String) and ``qcoinf/latency``
(geometry_msgs/Vector3Stamped, header = the camera frame's: x = end-to-end latency from the
camera stamp to the caption [s], y = the agent's measured encode time [s], z = this node's
decode time [s]); ``/diagnostics``.
"""

from __future__ import annotations

import statistics
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.time import Time
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String

from qcoinf_ros.codec import decode_embedding, FORMAT
from qcoinf_ros.ros.diagnostics import OK, publish_status, WARN
from qcoinf_ros.ros.drops import DropLog
from qcoinf_ros.ros.params import declare_all, ParamSpec
from qcoinf_ros.ros.qos import reliable
from qcoinf_ros.ros.spin import autostart, run_node

PARAMS = [
    ParamSpec('model', 'default', 'Model: default (the shipped captioner), git:<dir> or '
              'blip2:<dir>. Must be the same as the agent encoder.', read_only=True),
    ParamSpec('max_new_tokens', 20, 'Longest caption in tokens.', low=1, high=512),
    ParamSpec('threads', 0, 'torch intra-op threads; 0 keeps the torch default.', low=0,
              high=256, read_only=True),
    ParamSpec('autostart', True, 'Configure and activate at start.', read_only=True),
]


class EdgeDecoderNode(LifecycleNode):
    """Decodes embeddings into captions with the server part of a split model."""

    def __init__(self, **kwargs):
        super().__init__('edge_decoder_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        self._drops = DropLog(self.get_logger())
        self._split = None
        self._caption_pub = self._latency_pub = self._diag = self._timer = self._sub = None
        self._e2e: list[float] = []
        self._captions = 0
        self._error = ''
        if self._p['autostart']:
            autostart(self)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        import torch
        from transformers.utils import logging as hf_logging

        from qcoinf_ros.models.registry import load_split

        hf_logging.disable_progress_bar()
        if self._p['threads']:
            torch.set_num_threads(self._p['threads'])
        try:
            start = time.perf_counter()
            self._split = load_split(self._p['model'], parts=('server',))
        except (ValueError, OSError) as exc:
            self._error = str(exc)
            self.get_logger().error(f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        self._caption_pub = self.create_lifecycle_publisher(String, 'qcoinf/caption',
                                                            reliable(10))
        self._latency_pub = self.create_lifecycle_publisher(Vector3Stamped, 'qcoinf/latency',
                                                            reliable(10))
        self._diag = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._sub = self.create_subscription(CompressedImage, 'qcoinf/embedding',
                                             self._on_embedding, reliable(2))
        self._timer = self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f'configured {self._split.model_id} (server part) in '
                               f'{time.perf_counter() - start:.2f} s')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.destroy_subscription(self._sub)
        self.destroy_timer(self._timer)
        self.destroy_lifecycle_publisher(self._caption_pub)
        self.destroy_lifecycle_publisher(self._latency_pub)
        self.destroy_publisher(self._diag)
        self._split = self._sub = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return TransitionCallbackReturn.SUCCESS

    def _on_embedding(self, msg: CompressedImage) -> None:
        if not self._caption_pub.is_activated:
            return
        if msg.format != FORMAT:
            self._drops.drop('embedding', f'unknown format {msg.format!r} (expected {FORMAT})')
            return
        try:
            embedding, meta = decode_embedding(bytes(msg.data))
        except ValueError as exc:
            self._drops.drop('embedding', str(exc))
            return
        if meta.model_id != self._split.model_id:
            self._drops.drop('embedding', f'model id {meta.model_id!r} differs from this '
                             f'decoder model {self._split.model_id!r}')
            return
        if tuple(embedding.shape) != tuple(self._split.embedding_shape):
            self._drops.drop('embedding', f'shape {tuple(embedding.shape)} differs from the '
                             f'model embedding shape {tuple(self._split.embedding_shape)}')
            return
        import torch
        start = time.perf_counter()
        with torch.no_grad():
            ids = self._split.decode(torch.from_numpy(embedding).unsqueeze(0),
                                     max_new_tokens=self._p['max_new_tokens'])
        caption = self._split.captions(ids)[0].strip()
        decode_s = time.perf_counter() - start
        self._caption_pub.publish(String(data=caption))
        now = self.get_clock().now()
        e2e = (now - Time.from_msg(msg.header.stamp, clock_type=now.clock_type)).nanoseconds
        latency = Vector3Stamped()
        latency.header = msg.header
        latency.vector.x, latency.vector.y, latency.vector.z = 1e-9 * e2e, \
            meta.agent_latency_s, decode_s
        self._latency_pub.publish(latency)
        self._captions += 1
        self._e2e = (self._e2e + [1e-9 * e2e])[-200:]

    def _publish_diagnostics(self) -> None:
        lat = sorted(self._e2e)
        values = {
            'model': self._split.model_id if self._split else 'n/a', 'captions': self._captions,
            'dropped_inputs': self._drops.total,
            'e2e_ms_p50': f'{1e3 * statistics.median(lat):.1f}' if lat else 'n/a',
            'e2e_ms_p95': f'{1e3 * lat[int(0.95 * (len(lat) - 1))]:.1f}' if lat else 'n/a',
        }
        publish_status(self, self._diag, 'qcoinf: edge decoder', WARN if self._drops.total else OK,
                       f'{self._captions} captions', values, hardware_id='server')


def main(args=None) -> int:
    return run_node(EdgeDecoderNode, args, 'edge_decoder_node')


if __name__ == '__main__':
    sys.exit(main())
