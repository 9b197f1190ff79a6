"""
The package's records as the fields of its message types (``msg/*.msg``), and back.

One mapping for both sides that hold messages: rclpy's generated classes
(:mod:`qcoinf_ros.ros.messages`, the nodes) and the rosbags typestore's (``qcoinf_ros.core.bags``,
which converts old bags). ``*_fields`` return the keyword arguments of a message's constructor
without its header; ``*_from`` read any object with the message's attributes and return the
validated record (``ValueError`` with the reason, and no other exception, for bad content).

Where a record says "missing" and a message field cannot: ``None`` <-> NaN (clocks, the
reference clock of a cost), a missing nvpmodel mode <-> -1.
"""

from __future__ import annotations

import math

import numpy as np

from qcoinf_ros.core.codec.agent_model import AgentModelInfo
from qcoinf_ros.core.codec.applied import AppliedMessage
from qcoinf_ros.core.codec.caption import CaptionRecord
from qcoinf_ros.core.codec.cost import CostMessage
from qcoinf_ros.core.codec.embedding import (
    EmbeddingMeta, pack_values, payload_values, unpack_values)
from qcoinf_ros.core.codec.plan import ProfileMessage

__all__ = [
    'applied_fields', 'applied_from', 'caption_fields', 'caption_from', 'cost_fields',
    'cost_from', 'embedding_fields', 'embedding_from', 'model_fields', 'model_from',
    'payload_fields', 'profile_fields', 'profile_from']

NO_MODE = -1


def _nan_for_none(value) -> float:
    return float('nan') if value is None else float(value)


def _none_for_nan(value):
    return None if isinstance(value, float) and math.isnan(value) else value


def _read(build, what: str, obj):
    """Call ``build(obj)``: every error from a malformed object becomes ``ValueError``."""
    try:
        return build(obj)
    except ValueError:
        raise
    except (TypeError, AttributeError, OverflowError, UnicodeDecodeError) as exc:
        raise ValueError(f'malformed {what} message: {exc!r:.200}') from None


def _num(value):
    """Return a message's number as Python's (rosbags gives numpy scalars)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


# -- qcoinf/frequency_profile: FrequencyProfile ------------------------------------------------
def profile_fields(p: ProfileMessage) -> dict:
    return {'name': p.name, 'f_hz': float(p.f), 'f_server_hz': float(p.f_server),
            'bit_width': int(p.bit_width), 'feasible': bool(p.feasible),
            'nvpmodel_mode': NO_MODE if p.nvpmodel_mode is None else int(p.nvpmodel_mode),
            'predicted_delay_s': float(p.predicted_delay_s),
            'predicted_energy_j': float(p.predicted_energy_j),
            'predicted_agent_delay_s': float(p.predicted_agent_delay_s)}


def profile_from(msg) -> ProfileMessage:
    def build(m):
        mode = _num(m.nvpmodel_mode)
        return ProfileMessage(
            m.name, _num(m.f_hz), _num(m.f_server_hz), _num(m.bit_width), _num(m.feasible),
            None if mode == NO_MODE else mode, _num(m.predicted_delay_s),
            _num(m.predicted_energy_j), _num(m.predicted_agent_delay_s))
    return _read(build, 'frequency profile', msg)


# -- qcoinf/applied_profile: AppliedProfile ----------------------------------------------------
def applied_fields(a: AppliedMessage) -> dict:
    return {'name': a.name, 'f_hz': _nan_for_none(a.f), 'f_server_hz': _nan_for_none(a.f_server),
            'backend': a.backend, 'detail': a.detail, 'clamped': bool(a.clamped)}


def applied_from(msg) -> AppliedMessage:
    return _read(lambda m: AppliedMessage(
        m.name, _none_for_nan(_num(m.f_hz)), _none_for_nan(_num(m.f_server_hz)), m.backend,
        m.detail, _num(m.clamped)), 'applied profile', msg)


# -- qcoinf/agent_cost, server_cost, local_cost: AgentCost -------------------------------------
def cost_fields(c: CostMessage) -> dict:
    return {'part': c.part, 'model_id': c.model_id, 'kernel': c.kernel, 'isa': c.isa,
            'threads': int(c.threads), 'cpu': c.cpu, 'device': c.device, 'dtype': c.dtype,
            'seconds': [float(s) for s in c.seconds], 'kernels': list(c.kernels),
            't_fixed_s': float(c.t_fixed), 't_plane_s': float(c.t_plane), 'r2': float(c.r2),
            'f_ref_hz': _nan_for_none(c.f_ref_hz), 'cached': bool(c.cached),
            'scheme': c.scheme,
            'b_max': int(c.b_max), 'max_new_tokens': int(c.max_new_tokens)}


def cost_from(msg) -> CostMessage:
    def build(m):
        seconds = m.seconds
        if len(seconds) > 64:  # bounded before each is converted
            raise ValueError(f'seconds must be a list of 1 to 64 latencies, got {len(seconds)}')
        return CostMessage(
            m.part, m.model_id, m.kernel, m.isa, _num(m.threads),
            tuple(float(s) for s in seconds), _num(m.t_fixed_s), _num(m.t_plane_s),
            _num(m.r2), _none_for_nan(_num(m.f_ref_hz)), m.cpu, _num(m.cached), m.scheme,
            _num(m.b_max), _num(m.max_new_tokens), m.device, m.dtype, tuple(m.kernels))
    return _read(build, 'cost', msg)


# -- qcoinf/agent_model: ModelInfo -------------------------------------------------------------
def model_fields(info: AgentModelInfo) -> dict:
    return {'model_id': info.model_id, 'scheme': info.scheme, 'b_max': int(info.b_max),
            'lam': float(info.lam), 'ks': float(info.ks), 'num_params': int(info.num_params)}


def model_from(msg) -> AgentModelInfo:
    return _read(lambda m: AgentModelInfo(m.model_id, m.scheme, _num(m.b_max), _num(m.lam),
                                          _num(m.ks), _num(m.num_params)), 'agent model', msg)


# -- qcoinf/caption: Caption -------------------------------------------------------------------
def caption_fields(c: CaptionRecord) -> dict:
    return {'text': c.text, 'origin': int(c.origin), 'bit_width': int(c.bit_width),
            'tokens': int(c.tokens), 'latency_s': float(c.latency_s),
            'encode_s': float(c.encode_s), 'decode_s': float(c.decode_s)}


def caption_from(msg) -> CaptionRecord:
    return _read(lambda m: CaptionRecord(m.text, _num(m.origin), _num(m.bit_width),
                                         _num(m.tokens), _num(m.latency_s), _num(m.encode_s),
                                         _num(m.decode_s)), 'caption', msg)


# -- qcoinf/embedding: Embedding ---------------------------------------------------------------
def embedding_fields(embedding, meta: EmbeddingMeta, scheme: str = '') -> dict:
    """Return the fields of an ``Embedding`` of ``embedding`` (array or tensor) and ``meta``."""
    data, shape, scale = pack_values(embedding, meta.compression)
    return _embedding_dict(data, shape, scale, meta, scheme)


def payload_fields(payload: bytes, scheme: str = '') -> dict:
    """Return the fields of the ``Embedding`` an old ``qcoinf/embedding;v1`` payload carried."""
    data, shape, scale, meta = payload_values(payload)
    return _embedding_dict(data, shape, scale, meta, scheme)


def _embedding_dict(data, shape, scale, meta: EmbeddingMeta, scheme: str) -> dict:
    return {'model_id': meta.model_id, 'bit_width': int(meta.bit_width), 'scheme': scheme,
            'codec': meta.compression, 'shape': [int(d) for d in shape], 'scale': float(scale),
            'data': data, 'encode_s': float(meta.agent_latency_s),
            'captioned': bool(meta.captioned), 'probe': bool(meta.probe)}


def embedding_from(msg) -> tuple[np.ndarray, EmbeddingMeta]:
    """Return the float32 embedding and its metadata of an ``Embedding`` message."""
    def build(m):
        meta = EmbeddingMeta(m.model_id, _num(m.bit_width), m.codec, _num(m.encode_s),
                             _num(m.captioned), _num(m.probe))
        return unpack_values(m.data, m.shape, meta.compression, _num(m.scale)), meta
    return _read(build, 'embedding', msg)
