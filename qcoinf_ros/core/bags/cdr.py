"""
Serialized (CDR) messages as rosbag2 stores them: type names, validation, restamping.

Messages travel through the bag tools as the raw CDR bytes DDS carries, never as Python
objects: the recorder writes what it received, the player publishes what the bag holds. The
``rosbags`` typestore of the ROS 2 distribution (``$ROS_DISTRO``: Jazzy, Kilted, ...) knows
every standard type the package uses; it checks a
message (a strict deserialization: sizes, string lengths and trailing bytes) before it is
replayed, and tells where a message's ``std_msgs/Header`` stamp sits so that ``--restamp`` can
rewrite it in place.
"""

from __future__ import annotations

from functools import lru_cache
import importlib
import os
import re
import struct

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import get_types_from_idl, get_types_from_msg, Stores
from rosbags.typesys import get_typestore as _get_typestore

from qcoinf_ros.core.bags.interfaces import package_types

#: rosbag2 type names: ``package/msg/Name`` (``package/Name`` is accepted and normalized).
_TYPE_RE = re.compile(r'^([A-Za-z][A-Za-z0-9_]*)/(?:(msg|srv|action)/)?([A-Za-z][A-Za-z0-9_]*)$')
_HEADER = 'std_msgs/msg/Header'
_ENCAPSULATION = {b'\x00\x00': '>', b'\x00\x01': '<', b'\x00\x02': '>', b'\x00\x03': '<'}


#: The typestore of each distribution the package runs on (``$ROS_DISTRO``); others: Jazzy.
_STORES = {'humble': Stores.ROS2_HUMBLE, 'iron': Stores.ROS2_IRON, 'jazzy': Stores.ROS2_JAZZY,
           'kilted': Stores.ROS2_KILTED}


def distro() -> str:
    """Return the ROS 2 distribution the typestore is for: ``$ROS_DISTRO`` if known, else jazzy."""
    name = os.environ.get('ROS_DISTRO', '').strip().lower()
    return name if name in _STORES else 'jazzy'


@lru_cache(maxsize=None)
def _typestore(name: str):
    store = _get_typestore(_STORES[name])
    store.register(package_types())  # qcoinf_ros/msg/Caption and the others
    return store


def typestore():
    """
    Return the rosbags typestore of :func:`distro` (shared; types from bags are added to it).

    It holds the distribution's standard types and the package's own
    (:mod:`qcoinf_ros.core.bags.interfaces`).
    """
    return _typestore(distro())


def normalize_type(type_name: str) -> str:
    """Return ``package/msg/Name`` for ``package/msg/Name`` or ``package/Name``."""
    match = _TYPE_RE.match(type_name) if isinstance(type_name, str) else None
    if match is None:
        raise ValueError(f'Invalid message type name: "{type_name}" (expected package/msg/Name)')
    package, kind, name = match.groups()
    return f'{package}/{kind or "msg"}/{name}'


def import_message_class(type_name: str):
    """Return the Python message class of ``type_name``: ``sensor_msgs/msg/Image`` -> Image."""
    package, kind, name = normalize_type(type_name).split('/')
    try:
        module = importlib.import_module(f'{package}.{kind}')
        return getattr(module, name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f'message type {type_name!r} is not importable ({exc}); is its '
                         'package installed and sourced?') from None


def is_known(type_name: str) -> bool:
    """Return whether the typestore can (de)serialize ``type_name``."""
    return normalize_type(type_name) in typestore().fielddefs


def register_definition(type_name: str, definition: str, fmt: str = 'msg') -> bool:
    """
    Add a type the typestore lacks from its definition in a bag; return whether it is known now.

    ``fmt`` is ``msg`` (rosbag2's ``ros2msg``, with its ``====`` separated dependencies) or
    ``idl``. A definition that does not parse leaves the type unknown (its messages are then
    replayed unchecked, as rosbag2 does).
    """
    name = normalize_type(type_name)
    store = typestore()
    if name in store.fielddefs:
        return True
    if not definition:
        return False
    try:
        types = get_types_from_idl(definition) if fmt == 'idl' else \
            _types_from_msg_bundle(name, definition)
        store.register(types)
    except Exception:  # noqa: BLE001 - any parse error: the type stays unknown
        return False
    return name in store.fielddefs


def _types_from_msg_bundle(name: str, text: str) -> dict:
    """Parse a rosbag2 ``ros2msg`` bundle: the type's text, then ``MSG: pkg/Name`` sections."""
    types = {}
    parts = re.split(r'^={10,}\s*$', text, flags=re.MULTILINE)
    types.update(get_types_from_msg(parts[0], name))
    for part in parts[1:]:
        head, _, body = part.strip().partition('\n')
        if head.startswith('MSG: '):
            types.update(get_types_from_msg(body, normalize_type(head[5:].strip())))
    return types


def check_message(data: bytes, type_name: str):
    """
    Deserialize ``data`` strictly and return the message object (rosbags dataclass).

    Raises ``ValueError`` with the reason when the bytes are not a valid ``type_name`` message
    (truncated, a length field out of range, trailing bytes...).
    """
    try:
        return typestore().deserialize_cdr(bytes(data), normalize_type(type_name))
    except KeyError:
        raise ValueError(f'message type {type_name!r} is unknown to the typestore') from None
    except Exception as exc:  # noqa: BLE001 - SerdeError, struct.error, UnicodeDecodeError...
        raise ValueError(f'invalid {type_name} message: {exc}') from None


_NUMPY = {'bool': np.bool_, 'byte': np.uint8, 'char': np.uint8, 'int8': np.int8,
          'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32,
          'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64, 'float32': np.float32,
          'float64': np.float64}


def _default(node):
    nodetype, ref = node
    if nodetype == Nodetype.BASE:
        kind = ref[0]
        if kind == 'string' or kind == 'wstring':
            return ''
        return False if kind == 'bool' else (0.0 if kind.startswith('float') else 0)
    if nodetype == Nodetype.NAME:
        return build(ref)
    inner, size = ref
    if inner[0] == Nodetype.BASE and inner[1][0] in _NUMPY:
        return np.zeros(size if nodetype == Nodetype.ARRAY else 0, _NUMPY[inner[1][0]])
    return [_default(inner) for _ in range(size)] if nodetype == Nodetype.ARRAY else []


def build(type_name: str, **fields):
    """Return a rosbags message object of ``type_name``; fields not given get their defaults."""
    name = normalize_type(type_name)
    store = typestore()
    if name not in store.fielddefs:
        raise ValueError(f'message type {type_name!r} is unknown to the typestore')
    defs = store.fielddefs[name][1]
    unknown = set(fields) - {f[0] for f in defs}
    if unknown:
        raise ValueError(f'{name} has no field(s) {sorted(unknown)}')
    values = {key: _array(node, fields[key]) if key in fields else _default(node)
              for key, node in defs}
    return store.types[name](**values)


def _array(node, value):
    """Return a list, tuple or bytes given for a numeric array field as a numpy array."""
    nodetype, ref = node
    if nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE) and ref[0][0] == Nodetype.BASE and \
            ref[0][1][0] in _NUMPY and isinstance(value, (list, tuple, bytes, bytearray)):
        kind = _NUMPY[ref[0][1][0]]
        return np.frombuffer(bytes(value), kind) if isinstance(value, (bytes, bytearray)) \
            else np.asarray(value, kind)
    return value


def header(stamp_ns: int, frame_id: str = ''):
    """Return a ``std_msgs/Header`` message object stamped ``stamp_ns``."""
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return build('std_msgs/msg/Header', stamp=build('builtin_interfaces/msg/Time', sec=sec,
                                                    nanosec=nanosec), frame_id=frame_id)


def serialize(message, type_name: str) -> bytes:
    """Serialize a rosbags message object to CDR bytes (what rclpy would publish)."""
    return bytes(typestore().serialize_cdr(message, normalize_type(type_name)))


def has_header(type_name: str) -> bool:
    """Return whether the type's first field is a ``std_msgs/Header`` (stamp at CDR offset 4)."""
    fields = typestore().fielddefs.get(normalize_type(type_name))
    if not fields or not fields[1]:
        return False
    _, (nodetype, ref) = fields[1][0]
    return nodetype == Nodetype.NAME and ref == _HEADER


def restamp(data: bytes, type_name: str, stamp_ns: int) -> bytes:
    """
    Return ``data`` with its header stamp set to ``stamp_ns`` (no-op for types without header).

    The header is the first field, so its ``builtin_interfaces/Time`` (int32 sec, uint32
    nanosec) is the first 8 bytes after the 4-byte CDR encapsulation header, in the byte order
    that header names.
    """
    if not has_header(type_name):
        return bytes(data)
    data = bytes(data)
    order = _ENCAPSULATION.get(data[:2])
    if order is None or len(data) < 12:
        raise ValueError(f'not a CDR message (encapsulation {data[:4].hex()!r})')
    if stamp_ns < 0:
        raise ValueError(f'stamp must be >= 0 ns, got {stamp_ns!r}')
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    return data[:4] + struct.pack(f'{order}iI', sec, nanosec) + data[12:]


def header_stamp_ns(data: bytes, type_name: str) -> int | None:
    """Return the header stamp [ns] of a serialized message, or None if it has no header."""
    if not has_header(type_name):
        return None
    order = _ENCAPSULATION.get(bytes(data[:2]))
    if order is None or len(data) < 12:
        raise ValueError(f'not a CDR message (encapsulation {bytes(data[:4]).hex()!r})')
    sec, nanosec = struct.unpack_from(f'{order}iI', data, 4)
    return sec * 1_000_000_000 + nanosec
