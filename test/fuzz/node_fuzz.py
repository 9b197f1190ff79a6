"""
Hypothesis strategies derived from ROS message and parameter types, for the per-node fuzzer.

:func:`message_strategy` reads a message class's ``get_fields_and_field_types()`` and builds
messages field by field: numbers from the edge values of their type (+-0, subnormals, +-inf,
NaN, the extremes, values beyond the type) mixed with ordinary ones; strings that are huge,
deeply nested or hostile JSON, or mutations of the package's own JSON messages; sequences of
extreme lengths; stamps anywhere in time (1970, 2038, sec = -1, nanosec >= 1e9); images of
extreme sizes and aspect ratios with consistent data. :func:`parameter_strategy` does the same
for a :class:`~qcoinf_ros.ros.params.ParamSpec`.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys

from hypothesis import strategies as st

FLOAT_EDGES = [0.0, -0.0, 5e-324, -5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-9,
               0.001, 0.5, 1.0, 3.5, 100.0, 1e9, 1e300, sys.float_info.max,
               -sys.float_info.max, math.inf, -math.inf, math.nan, -1.0]
FLOAT32_MAX = 3.4028234663852886e38
INT_RANGES = {
    'int8': (-2 ** 7, 2 ** 7 - 1), 'uint8': (0, 2 ** 8 - 1), 'octet': (0, 255),
    'char': (0, 255), 'int16': (-2 ** 15, 2 ** 15 - 1), 'uint16': (0, 2 ** 16 - 1),
    'int32': (-2 ** 31, 2 ** 31 - 1), 'uint32': (0, 2 ** 32 - 1),
    'int64': (-2 ** 63, 2 ** 63 - 1), 'uint64': (0, 2 ** 64 - 1),
}
ENCODINGS = ['mono8', 'rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono16', '16UC1', '32FC1', '8UC3',
             'yuv422', 'yuv422_yuy2', 'nv12', 'bayer_rggb8', 'yuv444', '', 'rgb8\x00',
             'x' * 300]

# JSON texts that json.loads accepts and Python cannot use, or that cost to parse
HOSTILE_JSON = [
    '1' + '0' * 400, '{"lam": ' + '9' * 400 + ', "b_max": 8}', '[1e999]', '{"f": 1e999}',
    '{"a": NaN}', '{"a": Infinity}', '[' * 5000 + ']' * 5000, '[' * 100000,
    '{"a": "' + 'x' * 200000 + '"}', '"' + '\\ud800' * 100 + '"', '{"__proto__": {}}',
    '{"lam": 1e-310, "b_max": 8}', '{"lam": -0.0}', 'null', '[]', '{}', '', ' ', '\x00',
    '{"b_max": 18446744073709551616}',
]


def float_strategy(width: int = 64):
    edges = [x for x in FLOAT_EDGES if width == 64 or not math.isfinite(x) or
             abs(x) <= FLOAT32_MAX]
    if width == 32:
        edges = [x for x in edges if x == 0.0 or not math.isfinite(x) or abs(x) >= 1.2e-38]
    return st.one_of(st.sampled_from(edges), st.floats(width=width))


def int_strategy(kind: str):
    lo, hi = INT_RANGES[kind]
    return st.one_of(st.sampled_from(sorted({lo, hi, 0, 1, min(hi, 8), min(hi, 17)})),
                     st.integers(lo, hi))


def mutated_json(texts):
    """Return valid JSON messages of the package with one value replaced by an edge value."""
    def mutate(text, key_index, value):
        data = json.loads(text)
        if not isinstance(data, dict) or not data:
            return text
        key = sorted(data)[key_index % len(data)]
        data[key] = value
        return json.dumps(data)
    values = st.one_of(st.sampled_from(FLOAT_EDGES), st.integers(-2 ** 70, 2 ** 70),
                       st.sampled_from([None, True, '', 'x' * 5000, [], {}, [1] * 100]))
    return st.builds(mutate, st.sampled_from(texts), st.integers(0, 100), values)


def string_strategy(json_examples=()):
    parts = [st.text(max_size=40), st.sampled_from(HOSTILE_JSON),
             st.sampled_from(['x' * 1_000_000, ' '.join(['word'] * 50000), 'w' * 20000])]
    if json_examples:
        parts.append(st.sampled_from(list(json_examples)))
        parts.append(mutated_json(list(json_examples)))
    return st.one_of(*parts)


def stamp_values():
    """(sec, nanosec) anywhere in time: 1970, 2038, negative, nanosec out of range, now."""
    import time
    now = int(time.time())
    return st.tuples(
        st.one_of(st.sampled_from([0, -1, 1, now, now - 3600, now + 3600, 2 ** 31 - 1,
                                   -2 ** 31, now - 86400 * 365]),
                  st.integers(-2 ** 31, 2 ** 31 - 1)),
        st.one_of(st.sampled_from([0, 999_999_999, 1_000_000_000, 2 ** 32 - 1]),
                  st.integers(0, 2 ** 32 - 1)))


def _message_class(type_name: str):
    package, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.msg'), name)


_SEQUENCE = re.compile(r'sequence<(.+?)(?:, (\d+))?>')
_ARRAY = re.compile(r'(.+)\[(\d+)\]')


def field_strategy(type_name: str, field: str, json_examples=(), depth: int = 0):
    if type_name in ('double', 'float64'):
        return float_strategy(64)
    if type_name in ('float', 'float32'):
        return float_strategy(32)
    if type_name in INT_RANGES:
        return int_strategy(type_name)
    if type_name == 'boolean':
        return st.booleans()
    if type_name == 'string' or type_name.startswith('string<'):
        return string_strategy(json_examples)
    match = _SEQUENCE.fullmatch(type_name)
    if match:
        inner, bound = match.group(1), match.group(2)
        if inner in ('uint8', 'octet', 'char'):
            return st.one_of(st.binary(max_size=64), st.sampled_from([b'', b'\x00' * 1_000_000]))
        size = int(bound) if bound else (3 if depth else 40)
        return st.lists(field_strategy(inner, field, json_examples, depth + 1), max_size=size)
    match = _ARRAY.fullmatch(type_name)
    if match:
        n = int(match.group(2))
        return st.lists(field_strategy(match.group(1), field, json_examples, depth + 1),
                        min_size=n, max_size=n)
    if type_name == 'builtin_interfaces/Time':
        cls = _message_class(type_name)
        return stamp_values().map(lambda v: _set(cls(), sec=v[0], nanosec=v[1]))
    return message_strategy(_message_class(type_name), json_examples, depth + 1)


def _set(msg, **values):
    for key, value in values.items():
        setattr(msg, key, value)
    return msg


def _assign(cls, values: dict):
    msg = cls()
    for key, value in values.items():
        try:
            setattr(msg, key, value)
        except (AssertionError, ValueError, TypeError, OverflowError):
            pass  # a value the message class itself refuses cannot be published either
    return msg


def message_strategy(cls, json_examples=(), depth: int = 0, examples=()):
    """
    Messages of ``cls`` with every field drawn from :func:`field_strategy`.

    ``examples``: valid messages (of any types); those of ``cls`` are sent as they are and
    with one field replaced by a hostile value of its type (:func:`mutated_message`), so
    that a typed message gets past the first check and reaches the later ones.
    """
    fields = cls.get_fields_and_field_types()
    if depth > 3:
        return st.just(cls())
    generic = st.fixed_dictionaries(
        {name: field_strategy(kind, name, json_examples, depth) for name, kind in fields.items()}
    ).map(lambda values: _assign(cls, values))
    own = [m for m in examples if type(m) is cls]
    if not own:
        return generic
    return st.one_of(generic, st.sampled_from(own), mutated_message(own))


def mutated_message(examples):
    """Return copies of valid ``examples`` with one field replaced by an edge value."""
    import copy

    def strategy(example):
        fields = sorted(type(example).get_fields_and_field_types().items())
        return st.sampled_from(fields).flatmap(
            lambda item: field_strategy(item[1], item[0]).map(
                lambda value: _replace(example, item[0], value)))

    def _replace(example, name, value):
        msg = copy.deepcopy(example)
        return _assign(type(msg), {**{n: getattr(msg, n) for n in
                                      type(msg).get_fields_and_field_types()}, name: value})
    return st.sampled_from(examples).flatmap(strategy)


def image_strategy():
    """Images whose data matches their declared size, of extreme sizes, aspects, encodings."""
    from sensor_msgs.msg import Image
    sizes = st.one_of(
        st.sampled_from([(1, 1), (1, 8192), (8192, 1), (1, 32768), (32768, 1), (2, 4096),
                         (96, 96), (64, 48), (4000, 3000), (5000, 5000), (0, 10)]),
        st.tuples(st.integers(0, 300), st.integers(0, 300)))
    channels = {'mono8': 1, 'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'mono16': 2, '32FC1': 4,
                '8UC3': 3}

    def build(size, encoding, stamp, fill):
        width, height = size
        step = width * channels[encoding]
        msg = Image(width=width, height=height, encoding=encoding, step=step)
        msg.header.stamp.sec, msg.header.stamp.nanosec = stamp[0], stamp[1] % 1_000_000_000
        if step * height <= 64 * 1024 * 1024:
            msg.data = bytes([fill]) * (step * height)
        return msg
    return st.builds(build, sizes, st.sampled_from(sorted(channels)), stamp_values(),
                     st.integers(0, 255))


def parameter_strategy(spec):
    """Values of a parameter's own type, edge values first."""
    kind = spec.type if spec.type is not None else type(spec.default)
    if kind is float:
        return float_strategy(64)
    if kind is bool:
        return st.booleans()
    if kind is int:
        return int_strategy('int64')
    if kind is str:
        choices = list(spec.choices) or []
        return st.one_of(st.sampled_from(choices + ['', 'x' * 10000, '../../etc', '\x00']),
                         st.text(max_size=20))
    if kind == 'float[]':
        return st.one_of(st.lists(float_strategy(64), max_size=6),
                         st.sampled_from([[1.0] * 100000, [], [-1.0], [1e-310]]))
    if kind == 'str[]':
        return st.lists(st.text(max_size=10), max_size=6)
    raise AssertionError(f'no strategy for parameter {spec.name} of type {kind!r}')
