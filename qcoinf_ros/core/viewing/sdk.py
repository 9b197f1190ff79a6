"""
The view's channels on foxglove-sdk: a WebSocket server for the live graph, an MCAP file for a bag.

:class:`ViewChannels` creates every channel of :data:`~qcoinf_ros.core.viewing.model.CHANNELS` in a
``foxglove.Context`` of its own (the SDK's typed channels, protobuf, for the well-known schemas;
JSON channels with their JSON schema for the rest) and logs the model's records on them. A
WebSocket server or an MCAP writer opened on :attr:`ViewChannels.context` receives them.
"""

from __future__ import annotations

import json
from typing import Any

import foxglove
from foxglove.channels import (CompressedImageChannel, ImageAnnotationsChannel,
                               RawImageChannel)
from foxglove.messages import (Color, CompressedImage, ImageAnnotations, Point2, RawImage,
                               TextAnnotation, Timestamp)

from qcoinf_ros.core.viewing.model import CHANNELS, encode_json

#: The JSON-encoded schemas and the server's name, advertised to clients.
SERVER_NAME = 'qcoinf_ros'
_TYPED = {'raw_image': RawImageChannel, 'compressed_image': CompressedImageChannel,
          'image_annotations': ImageAnnotationsChannel}


def _timestamp(ns: int) -> Timestamp:
    return Timestamp(sec=ns // 1_000_000_000, nsec=ns % 1_000_000_000)


def _color(rgba) -> Color:
    r, g, b, a = rgba
    return Color(r=r, g=g, b=b, a=a)


def to_message(kind: str, record: dict[str, Any]):
    """Return the foxglove-sdk message (or JSON bytes) for a record of a channel of ``kind``."""
    if kind == 'raw_image':
        return RawImage(timestamp=_timestamp(record['timestamp_ns']),
                        frame_id=record['frame_id'], width=record['width'],
                        height=record['height'], encoding=record['encoding'],
                        step=record['step'], data=record['data'])
    if kind == 'compressed_image':
        return CompressedImage(timestamp=_timestamp(record['timestamp_ns']),
                               frame_id=record['frame_id'], format=record['format'],
                               data=record['data'])
    if kind == 'image_annotations':
        stamp = _timestamp(record['timestamp_ns'])
        return ImageAnnotations(texts=[
            TextAnnotation(timestamp=stamp, position=Point2(x=t['x'], y=t['y']), text=t['text'],
                           font_size=t['font_size'], text_color=_color(t['text_color']),
                           background_color=_color(t['background_color']))
            for t in record['texts']])
    return encode_json(record)


class ViewChannels:
    """Every channel of the view in a context of its own; :meth:`log` writes a model record."""

    def __init__(self, topics=None):
        self.context = foxglove.Context()
        self.channels: dict[str, Any] = {}
        for topic, spec in CHANNELS.items():
            if topics is not None and topic not in topics:
                continue
            if spec.kind in _TYPED:
                self.channels[topic] = _TYPED[spec.kind](topic, context=self.context)
            else:
                schema = foxglove.Schema(name=spec.schema_name, encoding='jsonschema',
                                         data=json.dumps(spec.json_schema).encode())
                self.channels[topic] = foxglove.Channel(topic, schema=schema,
                                                        message_encoding='json',
                                                        context=self.context)

    def log(self, topic: str, log_time_ns: int, record: dict[str, Any]) -> None:
        """Log one record on ``topic``'s channel (none: ignored) at ``log_time_ns``."""
        channel = self.channels.get(topic)
        if channel is None:
            return
        channel.log(to_message(CHANNELS[topic].kind, record), log_time=int(log_time_ns))

    def close(self) -> None:
        """Close every channel (clients see them unadvertised)."""
        for channel in self.channels.values():
            channel.close()


def start_server(channels: ViewChannels, host: str, port: int):
    """Start the WebSocket server on ``host``:``port`` (0: any free port) for ``channels``."""
    return foxglove.start_server(name=SERVER_NAME, host=host, port=port,
                                 context=channels.context)


def open_mcap(channels: ViewChannels, path, allow_overwrite: bool = False):
    """Open an MCAP writer at ``path`` for ``channels``; close it to finish the file."""
    return foxglove.open_mcap(path, allow_overwrite=allow_overwrite, context=channels.context)
