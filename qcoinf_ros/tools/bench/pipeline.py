"""
End-to-end latency through ROS 2 vs the same split model in-process (``qcoinf bench pipeline``).

In-process: preprocess, agent encode, the ``Embedding`` message round trip, server decode — the
same work the nodes do, in one Python process. Through ROS: the agent encoder and edge decoder as
separate processes over DDS (the loopback profile); this process publishes a frame, waits for its
caption (closed loop, so no queueing) and takes the latency the decoder reports from the camera
stamp. Prints the medians, their ratio (target <= 1.10) and the embedding bytes per frame for each
codec against the raw image: the serialized ``qcoinf_ros/msg/Embedding`` (CDR, as DDS carries it;
its header's frame_id empty). Both sides use one torch thread per process; ``device`` and ``dtype``
place the server part (and ``device`` the agent part) in both, as the nodes' parameters of the same
names do.
"""

from __future__ import annotations

import os
import random
import time

import numpy as np

from qcoinf_ros.core.codec import COMPRESSIONS, EmbeddingMeta


def in_process(model: str, frames, warmup: int, max_new_tokens: int, device: str = 'cpu',
               dtype: str = 'float32') -> list[float]:
    """Per-frame seconds of the whole split inference in this process."""
    import torch

    from std_msgs.msg import Header

    from qcoinf_ros.core.models.device import place, resolve_device, upload
    from qcoinf_ros.core.models.registry import load_split
    from qcoinf_ros.ros.messages import embedding_from_msg, embedding_msg
    split = load_split(model)
    server = resolve_device(device, dtype)
    place(split.agent_module, server, what='the agent part', dtype=False)
    place(split.server_module, server, what='the server part')
    times = []
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        with torch.no_grad():
            emb = split.encode(split.preprocess(frame))[0].cpu()
            msg = embedding_msg(emb, EmbeddingMeta(split.model_id, 8), Header())
            back, _ = embedding_from_msg(msg)
            ids = split.decode(upload(torch.from_numpy(back).unsqueeze(0), server),
                               max_new_tokens=max_new_tokens).cpu()
            split.captions(ids)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def through_ros(model: str, frames, warmup: int, max_new_tokens: int, timeout: float,
                device: str = 'cpu', dtype: str = 'float32'):
    """Per frame through the two nodes: (end-to-end, agent encode, server decode) seconds."""
    import rclpy
    from geometry_msgs.msg import Vector3Stamped

    from qcoinf_ros.ros.image import array_to_image_msg
    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess
    from qcoinf_ros.ros.qos import reliable, SENSOR
    from sensor_msgs.msg import Image

    env = loopback_dds_env(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                         random.randint(1, 100)))
    os.environ.update(env)
    params = ['-p', f'model:={model}', '-p', 'threads:=1', '-p', f'device:={device}']
    procs = [NodeProcess('edge_decoder_node', params + ['-p', f'max_new_tokens:={max_new_tokens}',
                                                        '-p', f'dtype:={dtype}'], env=env),
             NodeProcess('agent_encoder_node', params, env=env)]
    rclpy.init()
    node = rclpy.create_node('qcoinf_bench_pipeline')
    got: list[Vector3Stamped] = []
    node.create_subscription(Vector3Stamped, 'qcoinf/latency', got.append, reliable(10))
    pub = node.create_publisher(Image, 'camera/image_raw', SENSOR)
    times = []
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and pub.get_subscription_count() < 1:
            rclpy.spin_once(node, timeout_sec=0.05)
        for i, frame in enumerate(frames):
            msg = array_to_image_msg(frame, 'rgb8')
            msg.header.frame_id = f'frame{i}'
            seen = len(got)
            deadline = time.monotonic() + timeout
            while len(got) == seen and time.monotonic() < deadline:
                msg.header.stamp = node.get_clock().now().to_msg()
                pub.publish(msg)  # best effort: resend until its caption comes back
                wait = time.monotonic() + (1.0 if i < warmup else 10.0)
                while len(got) == seen and time.monotonic() < min(wait, deadline):
                    rclpy.spin_once(node, timeout_sec=0.01)
            if len(got) == seen:
                raise RuntimeError(f'no caption for frame {i} within {timeout} s:\n' +
                                   '\n'.join(p.output for p in procs))
            if i >= warmup:
                times.append((got[-1].vector.x, got[-1].vector.y, got[-1].vector.z))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for p in procs:
            p.stop()
    return times


def embedding_sizes(model: str, frame: np.ndarray) -> tuple[tuple[int, ...], dict[str, int]]:
    """Return the embedding shape of ``frame`` and its serialized ``Embedding`` bytes per codec."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header
    import torch

    from qcoinf_ros.core.models.registry import load_split
    from qcoinf_ros.ros.messages import embedding_msg
    split = load_split(model, parts=('agent',))
    with torch.no_grad():
        emb = split.encode(split.preprocess(frame))[0]
    return tuple(emb.shape), {
        codec: len(serialize_message(embedding_msg(emb, EmbeddingMeta(split.model_id, 8, codec),
                                                   Header())))
        for codec in COMPRESSIONS}
