"""
Bags recorded before the package had its own message types: converted on read and replay.

Until 0.2 the package published JSON in ``std_msgs/String`` (``qcoinf/frequency_profile``,
``qcoinf/applied_profile``, ``qcoinf/agent_cost``, ``qcoinf/server_cost``,
``qcoinf/local_cost``, ``qcoinf/agent_model``), an unstamped ``std_msgs/String`` caption, and
the embedding as a ``sensor_msgs/CompressedImage`` whose ``format`` is ``qcoinf/embedding;v1``
with a safetensors payload. A topic of one of those names (in any namespace) recorded with the
old type is read as the new one: the old text or payload is decoded with the old codec (the
same validation as ever) and written as the message a node publishes today. What a converted
message cannot know:

* the header of a plan, cost, model or applied profile (none was sent): stamped with the time
  the recorder received it, ``frame_id`` empty;
* the header of a caption (it was unstamped: ``qcoinf/latency`` carried the frame's header),
  its origin, bit width, tokens and latencies: an empty header, origin EDGE, bit width 0,
  0 tokens and NaN latencies (``qcoinf bag report`` still takes the latencies from
  ``qcoinf/latency``);
* the embedding's quantization scheme: empty.

A message that does not decode is reported (not replayed), as a damaged one is: ``ValueError``
with the reason and the recorded text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

from qcoinf_ros.core.bags.cdr import build, check_message, header, normalize_type, serialize
from qcoinf_ros.core.codec import fields
from qcoinf_ros.core.codec.agent_model import decode_agent_model
from qcoinf_ros.core.codec.applied import decode_applied
from qcoinf_ros.core.codec.caption import CaptionRecord
from qcoinf_ros.core.codec.cost import decode_cost
from qcoinf_ros.core.codec.embedding import FORMAT
from qcoinf_ros.core.codec.plan import decode_profile

__all__ = ['Conversion', 'conversion', 'convert', 'converted', 'LEGACY_TOPICS']

STRING, COMPRESSED = 'std_msgs/msg/String', 'sensor_msgs/msg/CompressedImage'


def _string(data: bytes) -> str:
    return check_message(data, STRING).data


def _decoded(decode, text: str):
    """Return ``decode(text)``; its ``ValueError`` names the recorded text (80 characters)."""
    try:
        return decode(text)
    except ValueError as exc:
        raise ValueError(f'{exc} (recorded: {text!r:.80})') from None


def _stamped(new_type: str, values: dict, stamp_ns: int) -> bytes:
    return serialize(build(new_type, header=header(stamp_ns), **values), new_type)


def _json(decode, to_fields, new_type: str):
    def convert(data: bytes, stamp_ns: int) -> bytes:
        return _stamped(new_type, to_fields(_decoded(decode, _string(data))), stamp_ns)
    return convert


def _model(data: bytes, stamp_ns: int) -> bytes:
    values = fields.model_fields(_decoded(decode_agent_model, _string(data)))
    return serialize(build('qcoinf_ros/msg/ModelInfo', **values), 'qcoinf_ros/msg/ModelInfo')


def _caption(data: bytes, stamp_ns: int) -> bytes:
    values = fields.caption_fields(_decoded(CaptionRecord, _string(data)))
    return serialize(build('qcoinf_ros/msg/Caption', **values), 'qcoinf_ros/msg/Caption')


def _embedding(data: bytes, stamp_ns: int) -> bytes:
    import numpy as np
    msg = check_message(data, COMPRESSED)
    if msg.format != FORMAT:
        raise ValueError(f'not an embedding: format {str(msg.format)[:80]!r} (expected {FORMAT})')
    values = fields.payload_fields(bytes(msg.data))
    values['data'] = np.frombuffer(values['data'], np.uint8)
    values['shape'] = np.asarray(values['shape'], np.uint32)
    return serialize(build('qcoinf_ros/msg/Embedding', header=msg.header, **values),
                     'qcoinf_ros/msg/Embedding')


_COST = _json(decode_cost, fields.cost_fields, 'qcoinf_ros/msg/AgentCost')

#: The topics that changed type: their name (the last two components) -> (old type, new type,
#: converter of the old message's CDR bytes and its receive time [ns] into the new one's).
LEGACY_TOPICS: dict[str, tuple[str, str, Callable[[bytes, int], bytes]]] = {
    'qcoinf/frequency_profile': (STRING, 'qcoinf_ros/msg/FrequencyProfile', _json(
        decode_profile, fields.profile_fields, 'qcoinf_ros/msg/FrequencyProfile')),
    'qcoinf/applied_profile': (STRING, 'qcoinf_ros/msg/AppliedProfile', _json(
        decode_applied, fields.applied_fields, 'qcoinf_ros/msg/AppliedProfile')),
    'qcoinf/agent_cost': (STRING, 'qcoinf_ros/msg/AgentCost', _COST),
    'qcoinf/server_cost': (STRING, 'qcoinf_ros/msg/AgentCost', _COST),
    'qcoinf/local_cost': (STRING, 'qcoinf_ros/msg/AgentCost', _COST),
    'qcoinf/agent_model': (STRING, 'qcoinf_ros/msg/ModelInfo', _model),
    'qcoinf/caption': (STRING, 'qcoinf_ros/msg/Caption', _caption),
    'qcoinf/embedding': (COMPRESSED, 'qcoinf_ros/msg/Embedding', _embedding),
}


@dataclass(frozen=True)
class Conversion:
    """How one recorded topic is converted: its old and new type, and the converter."""

    topic: str
    old_type: str
    new_type: str
    convert: Callable[[bytes, int], bytes]


def conversion(topic: str, msgtype: str) -> Conversion | None:
    """Return the conversion of ``topic`` recorded as ``msgtype``, or None (read as it is)."""
    key = '/'.join(topic.strip('/').split('/')[-2:])
    entry = LEGACY_TOPICS.get(key)
    try:
        msgtype = normalize_type(msgtype)
    except ValueError:
        return None
    if entry is None or entry[0] != msgtype:
        return None
    return Conversion(topic, entry[0], entry[1], entry[2])


def convert(message):
    """
    Return a :class:`~qcoinf_ros.core.bags.storage.BagMessage` as today's type (others unchanged).

    ``ValueError`` with the reason where the old message does not decode.
    """
    conv = conversion(message.topic, message.msgtype)
    if conv is None:
        return message
    try:
        data = conv.convert(bytes(message.data), message.timestamp)
    except (AttributeError, TypeError, KeyError) as exc:
        raise ValueError(f'cannot convert a {conv.old_type} on {message.topic}: {exc!r:.200}') \
            from None
    return replace(message, msgtype=conv.new_type, data=data)


def converted(messages: Iterable, problems: list | None = None) -> Iterator:
    """
    Yield each message as :func:`convert` returns it.

    One that does not convert is left out, its reason appended to ``problems``.
    """
    for message in messages:
        try:
            yield convert(message)
        except ValueError as exc:
            if problems is not None:
                problems.append(f'{message.topic} at t={message.timestamp} ns: {exc}; not '
                                'converted, not replayed')
