"""
The package's records as its own messages (``qcoinf_ros.msg``) and back, for the nodes.

The records (:mod:`qcoinf_ros.core.codec`: the dataclasses, validated) stay the nodes' model; these
helpers build the message a node publishes and read the one it receives, through the field
mapping the bag tools share (:mod:`qcoinf_ros.core.codec.fields`). ``*_from_msg`` raise
``ValueError`` with the reason for bad content: the node drops the message under one class
(:class:`qcoinf_ros.ros.drops.DropLog`).
"""

from __future__ import annotations

import array

from qcoinf_ros.core.codec import fields
from qcoinf_ros.core.codec.caption import CaptionRecord
from qcoinf_ros.msg import AgentCost, AppliedProfile, Caption, Embedding, FrequencyProfile
from qcoinf_ros.msg import ModelInfo

__all__ = [
    'AgentCost', 'AppliedProfile', 'Caption', 'Embedding', 'FrequencyProfile', 'ModelInfo',
    'applied_msg', 'caption_msg', 'cost_msg', 'embedding_msg', 'model_msg', 'profile_msg',
    'applied_from_msg', 'caption_from_msg', 'cost_from_msg', 'embedding_from_msg',
    'model_from_msg', 'profile_from_msg']


def _stamped(msg, stamp=None, header=None):
    if header is not None:
        msg.header = header
    elif stamp is not None:
        msg.header.stamp = stamp
    return msg


def profile_msg(profile, stamp=None) -> FrequencyProfile:
    """Return the ``FrequencyProfile`` of a :class:`~qcoinf_ros.core.codec.plan.ProfileMessage`."""
    return _stamped(FrequencyProfile(**fields.profile_fields(profile)), stamp)


def applied_msg(applied, stamp=None) -> AppliedProfile:
    return _stamped(AppliedProfile(**fields.applied_fields(applied)), stamp)


def cost_msg(cost, stamp=None) -> AgentCost:
    return _stamped(AgentCost(**fields.cost_fields(cost)), stamp)


def model_msg(info, stamp=None) -> ModelInfo:
    return ModelInfo(**fields.model_fields(info))


def caption_msg(record: CaptionRecord, header) -> Caption:
    """Return the ``Caption`` of ``record``, with the camera frame's ``header`` copied."""
    return _stamped(Caption(**fields.caption_fields(record)), header=header)


def embedding_msg(embedding, meta, header, scheme: str = '') -> Embedding:
    """Return the ``Embedding`` of an embedding and its metadata (``ValueError``: not codable)."""
    values = fields.embedding_fields(embedding, meta, scheme)
    values['data'] = array.array('B', values['data'])  # rclpy's fast path (no per-byte check)
    return _stamped(Embedding(**values), header=header)


profile_from_msg = fields.profile_from
applied_from_msg = fields.applied_from
cost_from_msg = fields.cost_from
model_from_msg = fields.model_from
caption_from_msg = fields.caption_from
embedding_from_msg = fields.embedding_from
