"""
N agents sharing one edge decoder, with and without batching (``qcoinf bench agents``).

One real ``edge_decoder_node`` process serves the namespaces ``robot1..robotN``
(``agents`` parameter); this process plays the N agents: real embeddings of scene images from
the default captioner's agent part, one rclpy node per agent, each in a closed loop (it sends
its next embedding when its caption arrives; all start together, so their embeddings reach the
server together). Per N it prints the throughput (captions/s), the per-agent latency p50/p95
(send -> caption, from ``qcoinf/latency``), the mean server queueing delay the decoder
publishes (``qcoinf/server_queue_delay``), for ``max_batch = 1`` and ``max_batch = N``, and the
throughput ratio batched / unbatched.
"""

from __future__ import annotations

from dataclasses import dataclass
import random
import statistics
import time


__all__ = ['AgentsResult', 'run_agents']


@dataclass
class AgentsResult:
    """One (N, max_batch) measurement."""

    agents: int
    max_batch: int
    captions: int
    seconds: float
    latencies: list[float]
    queue_delay_s: float

    @property
    def throughput(self) -> float:
        """Captions per second over the measured window."""
        return self.captions / self.seconds if self.seconds > 0 else 0.0

    def latency(self, q: float) -> float:
        """Latency quantile ``q`` [s] over all agents' frames."""
        lat = sorted(self.latencies)
        return lat[min(int(q * (len(lat) - 1) + 0.5), len(lat) - 1)] if lat else float('nan')


def _embeddings(count: int = 8, model: str = 'default'):
    from qcoinf_ros.core.codec import EmbeddingMeta
    from qcoinf_ros.core.models.registry import load_split
    from qcoinf_ros.core.scenes.generator import make_scene
    from qcoinf_ros.ros.messages import embedding_msg

    split = load_split(model, parts=('agent',))
    images = [make_scene('test', i).as_tuple()[0] for i in range(count)]
    embeddings = split.encode(split.preprocess(images)).numpy()
    # one message each, its header set before each send (publish serializes at once)
    return [embedding_msg(e, EmbeddingMeta(split.model_id, 32), None) for e in embeddings]


class _Fleet:
    """N closed-loop agents inside this process (one rclpy node each)."""

    def __init__(self, context, n_max: int, payloads: list):
        import rclpy
        from geometry_msgs.msg import Vector3Stamped
        from std_msgs.msg import Float64

        from qcoinf_ros.ros.messages import Embedding
        from qcoinf_ros.ros.qos import LATCHED, reliable

        self.payloads = payloads  # Embedding messages
        self.nodes, self.pubs = [], []
        self.active = 0
        self.measuring = False
        self.latencies: list[float] = []
        self.captions = 0
        self.queue: dict[int, float] = {}
        self.sent = [0] * n_max
        for i in range(n_max):
            node = rclpy.create_node(f'bench_agent_{i + 1}', namespace=f'robot{i + 1}',
                                     context=context)
            self.pubs.append(node.create_publisher(Embedding, 'qcoinf/embedding',
                                                   reliable(2)))
            node.create_subscription(Vector3Stamped, 'qcoinf/latency',
                                     lambda m, i=i: self._on_latency(i, m), reliable(10))
            node.create_subscription(Float64, 'qcoinf/server_queue_delay',
                                     lambda m, i=i: self.queue.__setitem__(i, m.data), LATCHED)
            self.nodes.append(node)

    def send(self, i: int) -> None:
        msg = self.payloads[self.sent[i] % len(self.payloads)]
        msg.header.stamp = self.nodes[i].get_clock().now().to_msg()
        msg.header.frame_id = f'robot{i + 1}'
        self.sent[i] += 1
        self.pubs[i].publish(msg)

    def _on_latency(self, i: int, msg) -> None:
        if i >= self.active:
            return
        if self.measuring:
            self.latencies.append(msg.vector.x)
            self.captions += 1
        self.send(i)  # closed loop: the next embedding once the caption is back


def run_agents(counts=(1, 2, 4, 8), duration: float = 5.0, warmup: float = 2.0,
               batching=(False, True), max_new_tokens: int = 20, env=None,
               timeout: float = 60.0, progress=None, model: str = 'default',
               device: str = 'cpu', dtype: str = 'float32') -> list[AgentsResult]:
    """
    Measure each N in ``counts`` with ``max_batch`` 1 and/or N against one decoder.

    ``model``, ``device`` and ``dtype``: the decoder's parameters of those names (the agents'
    embeddings come from the same model's agent part, encoded on the CPU).
    """
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess

    n_max = max(counts)
    env = env or loopback_dds_env(domain_id=random.SystemRandom().randint(1, 100))
    payloads = _embeddings(model=model)
    results = []
    context = Context()
    rclpy.init(context=context, domain_id=int(env['ROS_DOMAIN_ID']))
    try:
        for batched in batching:
            fleet = _Fleet(context, n_max, payloads)
            executor = SingleThreadedExecutor(context=context)
            for node in fleet.nodes:
                executor.add_node(node)

            def spin(seconds, until=lambda: False):
                end = time.monotonic() + seconds
                while time.monotonic() < end and not until():
                    executor.spin_once(timeout_sec=0.02)
                return until()

            agents = '[' + ', '.join(f'robot{i + 1}' for i in range(n_max)) + ']'
            decoder = NodeProcess('edge_decoder_node', [
                '-p', f'model:={model}', '-p', 'threads:=1', '-p', f'agents:={agents}',
                '-p', f'device:={device}', '-p', f'dtype:={dtype}',
                '-p', f'max_batch:={n_max if batched else 1}', '-p', 'queue_depth:=2',
                '-p', f'max_new_tokens:={max_new_tokens}'], env=env)
            try:
                if not spin(timeout, lambda: all(p.get_subscription_count() for p in
                                                 fleet.pubs)):
                    raise RuntimeError('the edge decoder did not subscribe:\n' + decoder.output)
                for n in counts:
                    fleet.active, fleet.measuring = n, False
                    spin(1.0)  # let the previous round's captions drain
                    for i in range(n):
                        fleet.send(i)
                    spin(warmup)
                    fleet.latencies, fleet.captions, fleet.queue = [], 0, {}
                    fleet.measuring, start = True, time.monotonic()
                    spin(duration)
                    seconds = time.monotonic() - start
                    fleet.measuring, fleet.active = False, 0
                    queue = statistics.mean(fleet.queue.values()) if fleet.queue else 0.0
                    results.append(AgentsResult(n, n_max if batched else 1, fleet.captions,
                                                seconds,
                                                list(fleet.latencies), queue))
                    if progress:
                        progress(results[-1])
            finally:
                decoder.stop()
                executor.shutdown()
                for node in fleet.nodes:
                    node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return results
