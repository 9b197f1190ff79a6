"""Publishing one node's ``/diagnostics`` status (diagnostic_msgs/DiagnosticArray)."""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def publish_status(node, publisher, name: str, level, message: str, values: dict[str, Any],
                   hardware_id: str = '') -> DiagnosticArray:
    """Publish one status (values as strings) stamped with the node's clock; return it."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id, level=level, message=message)
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    array = DiagnosticArray(status=[status])
    array.header.stamp = node.get_clock().now().to_msg()
    publisher.publish(array)
    return array
