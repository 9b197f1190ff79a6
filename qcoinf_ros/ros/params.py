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

from qcoinf_ros.validation import TINY

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
    try:
        node.declare_parameters('', [(s.name, s.default, s.descriptor()) for s in specs])
    except ParameterException as exc:  # out of range, wrong type (rclpy's own checks)
        raise ValueError(f'invalid parameter: {exc}') from None
    values = ParamValues((s.name, node.get_parameter(s.name).value) for s in specs)
    for spec in specs:
        reason = spec.check(values[spec.name])
        if reason is not None:
            raise ValueError(f'invalid parameter: {reason}')
    return values


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
