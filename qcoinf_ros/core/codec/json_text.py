"""
One bounded, strict JSON decoder for every JSON text that arrives from outside.

``json.loads`` accepts texts that Python then cannot use: integers of any length (``float()``
of them raises ``OverflowError``, often later, in a timer that formats the value), ``1e999``
(inf), ``NaN``/``Infinity``, nesting deep enough to raise ``RecursionError``, and texts of any
size (parsed in full before a check can reject them). :func:`loads_bounded` bounds the size
first, then the nesting depth (a linear scan, before parsing), and parses numbers strictly:
floats must be finite, integers must fit in 64 bits, ``NaN`` only where the caller allows it,
``Infinity`` never. ``ValueError`` with the reason is the only exception it raises.
"""

from __future__ import annotations

import json
import math
import re

__all__ = ['decode_record', 'loads_bounded', 'MAX_JSON_BYTES', 'MAX_JSON_DEPTH', 'MAX_JSON_INT']

#: Longest JSON text taken from a topic (the package's own messages are < 2 kB).
MAX_JSON_BYTES = 65536
#: Deepest nesting of arrays and objects (the package's own messages nest 2 deep).
MAX_JSON_DEPTH = 16
#: Largest magnitude of a JSON integer (a signed 64-bit value).
MAX_JSON_INT = 2 ** 63 - 1

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r'[\[\]{}]')


def _depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub('', text)):
        depth += 1 if bracket in '[{' else -1
        deepest = max(deepest, depth)
    return deepest


def loads_bounded(text, *, what: str = 'JSON text', max_bytes: int = MAX_JSON_BYTES,
                  max_depth: int = MAX_JSON_DEPTH, allow_nan: bool = False):
    """
    Parse ``text`` (str or UTF-8 bytes) as JSON within bounds; ``ValueError`` naming ``what``.

    Refused: more than ``max_bytes`` characters (checked before anything else), nesting deeper
    than ``max_depth``, integers beyond :data:`MAX_JSON_INT` in magnitude, floats that are not
    finite (``1e999``), ``NaN`` unless ``allow_nan`` and ``Infinity`` always, and anything that
    is not JSON.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        if len(text) > max_bytes:
            raise ValueError(f'{what} is {len(text)} bytes, more than {max_bytes}')
        try:
            text = bytes(text).decode('utf-8')
        except UnicodeDecodeError as exc:
            raise ValueError(f'{what} is not UTF-8: {exc}') from None
    if not isinstance(text, str):
        raise ValueError(f'{what} must be a string, got {type(text).__name__}')
    if len(text) > max_bytes:
        raise ValueError(f'{what} is {len(text)} characters, more than {max_bytes}')
    depth = _depth(text)
    if depth > max_depth:
        raise ValueError(f'{what} nests {depth} deep, more than {max_depth}')

    def parse_int(digits: str) -> int:
        if len(digits.lstrip('-')) > 19 or abs(int(digits)) > MAX_JSON_INT:
            raise ValueError(f'{what} holds the integer {digits:.30} beyond the 64-bit range')
        return int(digits)

    def parse_float(digits: str) -> float:
        value = float(digits)
        if not math.isfinite(value):
            raise ValueError(f'{what} holds the number {digits:.30} beyond the float range')
        return value

    def parse_constant(name: str) -> float:
        if name == 'NaN' and allow_nan:
            return math.nan
        raise ValueError(f'{what} holds {name}, which is not a JSON number')

    try:
        return json.loads(text, parse_int=parse_int, parse_float=parse_float,
                          parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{what} is not JSON: {exc}') from None
    except RecursionError:  # pragma: no cover - the depth bound comes first
        raise ValueError(f'{what} nests too deep') from None


def decode_record(text, cls, *, what: str, max_bytes: int, allow_nan: bool = False,
                  optional: frozenset[str] = frozenset()):
    """
    Parse ``text`` with :func:`loads_bounded` into the dataclass ``cls``; ``ValueError`` only.

    The text must be a JSON object whose keys are exactly ``cls``'s fields, less any of
    ``optional`` (fields with a default, added after the first release of the message); ``cls``
    validates the values (its ``__post_init__``).
    """
    data = loads_bounded(text, what=what, max_bytes=max_bytes, allow_nan=allow_nan)
    if not isinstance(data, dict):
        raise ValueError(f'{what} must be a JSON object, got {type(data).__name__}')
    want = set(cls.__dataclass_fields__)
    if not want - set(optional) <= set(data) <= want:
        raise ValueError(f'{what} keys must be {sorted(want)}, got {sorted(map(str, data))[:20]}')
    try:
        return cls(**data)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f'{what} content: {exc}') from None
