"""
Publishing one node's ``/diagnostics`` status (diagnostic_msgs/DiagnosticArray).

The status is named ``<fully qualified node name>: <task>`` (:mod:`qcoinf_ros.core.status_names`,
as diagnostic_updater with ``use_fqn``) and carries the node's ``hardware_id`` parameter
(:data:`HARDWARE_ID_PARAM`; ``''``: the host name), so that two robots on one network are
told apart in rqt_robot_monitor and by a diagnostic_aggregator.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from qcoinf_ros.core.status_names import status_name
from qcoinf_ros.ros.params import ParamSpec

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR

#: The parameter of every node that publishes a status (read with ``resolve_hardware_id``).
HARDWARE_ID_PARAM = ParamSpec(
    'hardware_id', '', 'hardware_id of its /diagnostics status (tells robots apart); "" = '
    'the host name.', read_only=True)


def publish_status(node, publisher, task: str, level, message: str, values: dict[str, Any],
                   hardware_id: str) -> DiagnosticArray:
    """
    Publish the status of ``task`` (values as strings), stamped with the node's clock.

    Named after the node's fully qualified name (``/robot1/planner_node: planner``); return
    the array published.
    """
    status = DiagnosticStatus(name=status_name(node.get_fully_qualified_name(), task),
                              hardware_id=hardware_id, level=level, message=message)
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = node.get_clock().now().to_msg()
    publisher.publish(array)
    return array
