"""
``qcoinf bench encode``: the agent's encode time per kernel and bit-width, through the node.

For each kernel an ``agent_encoder_node`` process runs ``model`` (one thread by default) and
calibrates itself (its published ``qcoinf/agent_cost``: the prediction the planner uses); this
process then sets each bit-width on ``qcoinf/bit_width``, sends frames one at a time on
``camera/image_raw`` (closed loop: the next frame ``pause`` seconds after the previous
embedding, as between camera frames: an encode after a gap finds colder caches than a
back-to-back one; 0 sends back-to-back) and reads the encode time the node measured from each
embedding's payload. The ``reference`` kernel runs dequantized weights with fp32 matrix
products: its time is the fp32 agent's; ``auto`` runs each bit-width on the faster of the
library's exact kernels as the node measured them (``routes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
import random
import statistics
import time

import numpy as np

from qcoinf_ros.core.validation import require_int_in_range, require_nonnegative

__all__ = ['EncodeResult', 'encode_through_node', 'frames']


@dataclass
class EncodeResult:
    """One kernel: measured encode seconds per bit-width, and the node's own calibration."""

    kernel: str
    isa: str
    seconds: dict[int, list[float]] = field(default_factory=dict)
    predicted: dict[int, float] = field(default_factory=dict)
    #: The kernel each bit-width ran on (``lut+qint8``: the node's per-b choice).
    routes: dict[int, str] = field(default_factory=dict)

    def median_ms(self, b: int) -> float:
        """Median encode time at ``b`` [ms]."""
        return 1e3 * statistics.median(self.seconds[b])


def frames(count: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB frames of ``size`` x ``size`` (the package's scenes; the cost is the same)."""
    try:
        from qcoinf_ros.core.scenes.generator import iter_scenes, SceneConfig
        return [image for image, _, _ in iter_scenes('test', count, SceneConfig(image_size=size))]
    except ImportError:  # pragma: no cover - the scenes ship with the package
        rng = np.random.default_rng(seed)
        return [rng.integers(0, 256, (size, size, 3), np.uint8) for _ in range(count)]


def encode_through_node(model: str, kernel: str, bits, count: int = 10, size: int = 224,
                        threads: int = 1, timeout: float = 600.0, warmup: int = 2,
                        extra_params: tuple[str, ...] = (), pause: float = 0.05) -> EncodeResult:
    """Run one agent node with ``kernel`` and time ``count`` frames at each of ``bits``."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import UInt8

    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.messages import AgentCost, cost_from_msg, Embedding, embedding_from_msg
    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess
    from qcoinf_ros.ros.qos import LATCHED, reliable, SENSOR

    count = require_int_in_range('count', count, 1)
    pause = require_nonnegative('pause', pause)
    bits = [require_int_in_range('bit width', b, 1, 16) for b in bits]
    env = loopback_dds_env(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                         random.randint(1, 100)))
    params = ['-p', f'model:={model}', '-p', f'kernel:={kernel}', '-p', f'threads:={threads}',
              '-p', 'calibrate:=always', *extra_params]
    context = Context()
    rclpy.init(context=context, domain_id=int(env['ROS_DOMAIN_ID']))
    node = rclpy.create_node('qcoinf_bench_encode', context=context)
    got: list = []
    costs: list = []

    def on_embedding(msg):
        try:
            got.append(embedding_from_msg(msg)[1])
        except ValueError:
            pass

    node.create_subscription(Embedding, 'qcoinf/embedding', on_embedding, reliable(2))
    node.create_subscription(AgentCost, 'qcoinf/agent_cost',
                             lambda m: costs.append(cost_from_msg(m)), LATCHED)
    image_pub = node.create_publisher(Image, 'camera/image_raw', SENSOR)
    bits_pub = node.create_publisher(UInt8, 'qcoinf/bit_width', LATCHED)
    images = frames(warmup + count, size)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    proc = NodeProcess('agent_encoder_node', params, env=env)

    def spin(predicate, seconds):
        end = time.monotonic() + seconds
        while not predicate() and time.monotonic() < end and proc.returncode is None:
            executor.spin_once(timeout_sec=0.02)
        return predicate()

    try:
        if not spin(lambda: costs and image_pub.get_subscription_count() >= 1, timeout):
            raise RuntimeError(f'the agent did not start within {timeout} s:\n{proc.output}')
        result = EncodeResult(costs[-1].kernel, costs[-1].isa)
        result.predicted = {b: costs[-1].seconds[b - 1] for b in bits
                            if b <= len(costs[-1].seconds)}
        result.routes = {b: costs[-1].kernel_at(b) for b in bits}
        for b in bits:
            bits_pub.publish(UInt8(data=b))
            result.seconds[b] = []
            for i, image in enumerate(images):
                if pause:
                    spin(lambda: False, pause)
                msg = array_to_image_msg(image, 'rgb8')
                seen = len(got)
                end = time.monotonic() + timeout
                while len(got) == seen and time.monotonic() < end:
                    msg.header.stamp = node.get_clock().now().to_msg()
                    image_pub.publish(msg)  # best effort: resend until its embedding comes
                    spin(lambda: len(got) > seen, 5.0)
                if len(got) == seen:
                    raise RuntimeError(f'no embedding within {timeout} s:\n{proc.output}')
                meta = got[-1]
                if i >= warmup and meta.bit_width == b:
                    result.seconds[b].append(meta.agent_latency_s)
            if not result.seconds[b]:
                raise RuntimeError(f'the agent never encoded at b = {b}:\n{proc.output}')
        return result
    finally:
        proc.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
