"""
Names and hardware ids of the nodes' ``/diagnostics`` statuses, fleet-readable (no ROS).

Each node publishes one status named as ROS 2's ``diagnostic_updater`` names a task's status
with ``diagnostic_updater.use_fqn: true``: the node's fully qualified name, ``": "``, the task
(``/robot1/planner_node: planner``). The C++ updater prefixes
``get_fully_qualified_name() + ": "``, so the leading slash stays; its default
(``use_fqn: false``) prefixes the bare ``get_name()``, which two robots would share. Before
this rule every status was ``qcoinf: <task>``; bags recorded then still carry those names, so
readers match a status by its task (:func:`status_task`), never by the whole name, and take a
legacy name as belonging to any namespace (:func:`in_namespace`).
"""

from __future__ import annotations

import socket
from typing import Mapping, TypeVar

#: The tasks, one per node that publishes a status (the part after ``": "``).
AGENT_ENCODER = 'agent encoder'
EDGE_DECODER = 'edge decoder'
PLANNER = 'planner'
FREQUENCY_ACTUATOR = 'frequency actuator'
MONITOR = 'monitor'
TASKS = (AGENT_ENCODER, EDGE_DECODER, PLANNER, FREQUENCY_ACTUATOR, MONITOR)

#: Between the node's name and the task (as diagnostic_updater puts it).
SEPARATOR = ': '

V = TypeVar('V')


def status_name(node_name: str, task: str) -> str:
    """
    Return the status name of ``task`` published by the node ``node_name``.

    ``node_name`` is the node's fully qualified name (``/robot1/planner_node``, ``/planner_node``
    in the root namespace); ``task`` a short text without ``": "``. Raises ``ValueError`` naming
    the bad value otherwise.
    """
    if not (isinstance(node_name, str) and node_name.startswith('/') and len(node_name) > 1
            and not node_name.endswith('/') and '//' not in node_name
            and SEPARATOR not in node_name and not any(c.isspace() for c in node_name)):
        raise ValueError(f'node_name must be a fully qualified node name such as '
                         f"'/robot1/planner_node', got {node_name!r}")
    if not (isinstance(task, str) and task.strip() == task and task and
            SEPARATOR not in task):
        raise ValueError(f"task must be a non-empty text without ': ' or surrounding spaces, "
                         f'got {task!r}')
    return f'{node_name}{SEPARATOR}{task}'


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise ValueError(f'a status name must be a string, got {name!r}')
    return name


def status_task(name: str) -> str:
    """
    Return the task of a status name: ``'planner'`` for ``'/robot1/planner_node: planner'``.

    Also for the legacy ``'qcoinf: planner'`` and any ``diagnostic_updater`` name. A name
    without ``": "`` has no task: ``''``. Raises ``ValueError`` when ``name`` is not a string.
    """
    node, sep, task = _check_name(name).partition(SEPARATOR)
    return task if sep else ''


def status_node(name: str) -> str | None:
    """
    Return the fully qualified name of the node that published ``name``, or None.

    None for a legacy ``qcoinf: <task>`` name (and any name whose node part is not a fully
    qualified name: a ``diagnostic_updater`` without ``use_fqn``, a name without ``": "``).
    """
    node, sep, _ = _check_name(name).partition(SEPARATOR)
    return node if sep and node.startswith('/') and len(node) > 1 else None


def normalize_namespace(namespace: str) -> str:
    """Return ``namespace`` as ROS writes it: ``''`` or ``'/'`` is ``'/'``, ``'a/'`` ``'/a'``."""
    if not isinstance(namespace, str) or SEPARATOR in namespace or \
            any(c.isspace() for c in namespace):
        raise ValueError(f'namespace must be a ROS namespace such as /robot1, got {namespace!r}')
    return '/' + namespace.strip('/')


def status_namespace(name: str) -> str | None:
    """Return the namespace of the node that published ``name`` (``'/'`` at the root), or None."""
    node = status_node(name)
    if node is None:
        return None
    return node.rsplit('/', 1)[0] or '/'


def in_namespace(name: str, namespace: str | None) -> bool:
    """
    Tell whether the status ``name`` belongs to the graph in ``namespace``.

    None takes every status; a name without a node namespace (``qcoinf: planner`` in a bag
    recorded before the fleet-readable names) belongs to any namespace.
    """
    if namespace is None:
        return True
    own = status_namespace(name)
    return own is None or own == normalize_namespace(namespace)


def find_status(statuses: Mapping[str, V], task: str,
                namespace: str | None = None) -> tuple[str, V] | None:
    """
    Return the one ``(name, value)`` of ``statuses`` (by name) whose task is ``task``, or None.

    Only statuses in ``namespace`` count (:func:`in_namespace`; None: all). None also when
    several statuses match (two robots' planners seen by a reader of every namespace): they
    are never mixed, nor is one picked at random.
    """
    found = [(name, value) for name, value in statuses.items()
             if status_task(name) == task and in_namespace(name, namespace)]
    return found[0] if len(found) == 1 else None


def resolve_hardware_id(hardware_id: str) -> str:
    """Return the ``hardware_id`` a status carries: the value, or this host's name for ``''``."""
    if not isinstance(hardware_id, str):
        raise ValueError(f'hardware_id must be a string, got {hardware_id!r}')
    return hardware_id or socket.gethostname()
