"""One edge server for several agents: batching of arriving embeddings, queueing delay."""

from qcoinf_ros.core.serving.batching import (
    agent_topic,
    BatchQueue,
    DelayWindow,
    effective_deadline,
    Pending,
)

__all__ = ['agent_topic', 'BatchQueue', 'DelayWindow', 'effective_deadline', 'Pending']
