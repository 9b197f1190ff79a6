"""
Typed, described, bounded parameter declaration (as generate_parameter_library does).

A node lists its parameters as :class:`ParamSpec` entries; :func:`declare_all` declares them with
a ``ParameterDescriptor`` carrying the description and range, and :func:`install_validator`
rejects bad run-time values with a reason instead of raising.
"""

from __future__ import annotations

import array
from dataclasses import dataclass, field
import math
from typing import Any, Callable

from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType, SetParametersResult)
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from qcoinf_ros.core.validation import TINY

_TYPES = {
    float: ParameterType.PARAMETER_DOUBLE,
    int: ParameterType.PARAMETER_INTEGER,
    bool: ParameterType.PARAMETER_BOOL,
    str: ParameterType.PARAMETER_STRING,
    'float[]': ParameterType.PARAMETER_DOUBLE_ARRAY,
    'str[]': ParameterType.PARAMETER_STRING_ARRAY,
}


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: name, default, type, description, bounds, allowed choices."""

    name: str
    default: Any
    description: str
    # float, int, bool, str, 'float[]' or 'str[]'; inferred from the default when None.
    type: Any = None  # noqa: A003
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)
    read_only: bool = False
    #: Most items of an array parameter.
    max_items: int = 4096
    #: Fewest items of an array parameter (0: an empty list, ``[]``, is a valid value).
    min_items: int = 0

    @property
    def param_type(self):
        kind = self.type if self.type is not None else type(self.default)
        return _TYPES[kind]

    def descriptor(self) -> ParameterDescriptor:
        desc = self.description
        if self.choices:
            desc += f' One of: {", ".join(self.choices)}.'
        d = ParameterDescriptor(
            name=self.name, type=self.param_type, description=desc, read_only=self.read_only)
        if self.low is not None or self.high is not None:
            if self.param_type == ParameterType.PARAMETER_INTEGER:
                d.integer_range = [IntegerRange(
                    from_value=int(self.low), to_value=int(self.high), step=0)]
            elif self.param_type == ParameterType.PARAMETER_DOUBLE:
                d.floating_point_range = [FloatingPointRange(
                    from_value=float(self.low), to_value=float(self.high), step=0.0)]
        return d

    def check(self, value) -> str | None:
        """Return the reason ``value`` is not acceptable, or None."""
        # rclpy hands double and integer arrays over as array.array, not as lists
        values = list(value) if isinstance(value, (list, tuple, array.array)) else [value]
        if len(values) > self.max_items:
            return f'{self.name} must have at most {self.max_items} items, got {len(values)}'
        if self.param_type in _ARRAY_TYPES and len(values) < self.min_items:
            return (f'{self.name} must have at least {self.min_items} item(s), got '
                    f'{len(values)}')
        for v in values:
            if isinstance(v, float) and math.isnan(v):
                return f'{self.name} must not be NaN'
            if isinstance(v, float) and v != 0.0 and abs(v) < TINY:
                return f'{self.name} must not be subnormal (below {TINY:g}), got {v!r}'
            if self.low is not None and isinstance(v, (int, float)) and v < self.low:
                return f'{self.name} must be >= {self.low}, got {v!r}'
            if self.high is not None and isinstance(v, (int, float)) and v > self.high:
                return f'{self.name} must be <= {self.high}, got {v!r}'
            if self.choices and v not in self.choices:
                return f'{self.name} must be one of {list(self.choices)}, got {v!r}'
        return None


class ParamValues(dict):
    """
    A node's parameter values by name, also as read-only attributes (``values.rate_hz``).

    Each value has its spec's type (checked by :func:`declare_all`); a name no spec declares
    raises ``AttributeError`` naming it, so a typo fails where it is made. It stays a ``dict``
    (``values['rate_hz']``, ``update`` for accepted run-time changes).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f'no parameter {name!r} (declared: {", ".join(self)})') from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f'parameter {name!r} changes through set_parameters (validated), '
                             'not by assignment')


def declare_all(node: Node, specs: list[ParamSpec]) -> ParamValues:
    """
    Declare every spec on ``node`` and return the current values (:class:`ParamValues`).

    Raises ``ValueError`` with the reason when a start-time value (``-p``, a parameter file) is
    out of its range, of the wrong type or not one of the choices, so that
    :func:`qcoinf_ros.ros.spin.run_node` refuses to start with that reason (exit code 2).
    """
    empty = _take_empty_lists(node, specs)
    try:
        node.declare_parameters('', [(s.name, s.default, s.descriptor()) for s in specs])
        for name, kind in empty.items():  # the start value [], typed (no callback is set yet)
            node._parameters[name] = Parameter(name, kind, [])
        values = ParamValues((s.name, node.get_parameter(s.name).value) for s in specs)
    except ParameterException as exc:  # out of range, wrong type (rclpy's own checks)
        raise ValueError(f'invalid parameter: {exc}') from None
    for spec in specs:
        reason = spec.check(values[spec.name])
        if reason is not None:
            raise ValueError(f'invalid parameter: {reason}')
    return values


_ARRAY_TYPES = {
    ParameterType.PARAMETER_DOUBLE_ARRAY: Parameter.Type.DOUBLE_ARRAY,
    ParameterType.PARAMETER_STRING_ARRAY: Parameter.Type.STRING_ARRAY,
}


def _take_empty_lists(node: Node, specs: list[ParamSpec]) -> dict:
    """
    Take out the start values ``[]`` (``-p 'name:=[]'``, a file); return them with their type.

    rcl cannot type an empty YAML sequence: the override arrives as ``NOT_SET`` and rclpy then
    leaves a statically typed parameter uninitialized (``ParameterUninitializedException`` on
    the first read), and rclpy's declare types a plain ``[]`` as a byte array. An empty list is
    a value of an array parameter's declared type, so :func:`declare_all` sets it with that
    type after declaring (and checks it like any value: :meth:`ParamSpec.check`); for a scalar
    parameter it is refused with ``ValueError`` naming the parameter.
    """
    empty: dict = {}
    overrides = getattr(node, '_parameter_overrides', None)
    if not isinstance(overrides, dict):
        return empty
    for spec in specs:
        given = overrides.get(spec.name)
        if given is None or given.type_ != Parameter.Type.NOT_SET:
            continue
        kind = _ARRAY_TYPES.get(spec.param_type)
        if kind is None:
            expected = getattr(spec.type or type(spec.default), '__name__', spec.type)
            raise ValueError(f'invalid parameter: {spec.name} must be a {expected}, got an '
                             'empty list (or no value)')
        del overrides[spec.name]
        empty[spec.name] = kind
    return empty


def install_validator(
        node: Node, specs: list[ParamSpec],
        extra: Callable[[dict[str, Any]], str | None] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None) -> None:
    """
    Reject run-time values that break a spec (or ``extra``) with a reason; else apply them.

    ``extra`` receives the would-be full parameter set (current values updated with the request)
    and returns a reason to reject, or None. ``on_change`` receives the accepted new values.
    """
    by_name = {s.name: s for s in specs}

    def callback(params: list[Parameter]) -> SetParametersResult:
        changes = {}
        for p in params:
            spec = by_name.get(p.name)
            if spec is None:
                continue
            reason = spec.check(p.value)
            if reason is not None:
                node.get_logger().warning(f'rejected parameter change: {reason}')
                return SetParametersResult(successful=False, reason=reason)
            changes[p.name] = p.value
        if extra is not None and changes:
            proposed = {s.name: node.get_parameter(s.name).value for s in specs}
            proposed.update(changes)
            reason = extra(proposed)
            if reason is not None:
                node.get_logger().warning(f'rejected parameter change: {reason}')
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(callback)
    if on_change is not None:
        def post(params: list[Parameter]) -> None:
            changed = {p.name: p.value for p in params if p.name in by_name}
            if changed:
                on_change(changed)
        node.add_post_set_parameters_callback(post)
