"""
Read a node's parameters from a ROS 2 parameters file (``--params-file``), without rclpy.

The file maps node names to ``{ros__parameters: {...}}``. A name is a fully qualified node name
(``/ns/node``), a bare one (``node``, in the root namespace) or a pattern: ``*`` stands for one
name token and ``/**`` for any namespace (``/**`` alone: every node; ``/**/node``: ``node`` in
any namespace), as rcl's parser reads them. Every entry that matches contributes, later
entries in the file overriding earlier ones; nested dicts flatten to dotted names
(``a: {b: 1}`` is ``a.b``), as rclcpp declares them. A plain scalar that C's ``strtod`` reads
as a number is a double, as rcl reads it: ``1.0e9`` too, which YAML 1.1 leaves a string.
"""

from __future__ import annotations

import os
from pathlib import Path
import re

__all__ = ['node_parameters', 'matches']


def _pattern(key: str) -> re.Pattern:
    key = key if key.startswith('/') else '/' + key
    out, i = '', 0
    while i < len(key):
        if key.startswith('/**', i):
            out += '(/[^/]+)*'
            i += 3
        elif key[i] == '*':
            out += '[^/]+'
            i += 1
        else:
            out += re.escape(key[i])
            i += 1
    return re.compile(out + r'\Z')


def matches(key: str, node: str, namespace: str = '/') -> bool:
    """Return whether the parameters-file key ``key`` applies to ``namespace``/``node``."""
    namespace = '/' + namespace.strip('/') if namespace.strip('/') else ''
    return bool(_pattern(key).match(f'{namespace}/{node}'))


def _flatten(values: dict, prefix: str = '') -> dict:
    out = {}
    for name, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f'{prefix}{name}.'))
        else:
            out[f'{prefix}{name}'] = value
    return out


def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML 1.1 plus the exponent forms strtod takes (``1e9``, ``1.0e9``)."""

    Loader.add_implicit_resolver(
        'tag:yaml.org,2002:float',
        re.compile(r'^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$'), list('-+.0123456789'))
    return Loader


def node_parameters(path: str | os.PathLike, node: str, namespace: str = '/') -> dict:
    """
    Return the parameters ``path`` gives ``namespace``/``node``, as ``{name: value}``.

    Raises ``ValueError`` naming the file when it is not a parameters file.
    """
    import yaml
    try:
        document = yaml.load(Path(path).read_text(), Loader=_loader()) or {}  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f'cannot read the parameters file {str(path)!r}: {exc}') from exc
    if not isinstance(document, dict):
        raise ValueError(f'{str(path)!r} is not a parameters file (a mapping of node names)')
    out = {}
    for key, entry in document.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('ros__parameters'), dict):
            raise ValueError(f'{str(path)!r}: entry {key!r} has no ros__parameters mapping')
        if matches(str(key), node, namespace):
            out.update(_flatten(entry['ros__parameters']))
    return out
