"""
Set another node's parameters from a node of ours, with bounded waits and retries.

A reply to ``set_parameters`` is lost when the server has not yet discovered the client's
response reader (a known ROS 2 service race: the server logs "failed to send response"), so a
request without a reply within ``reply_timeout`` is sent again; setting the same values twice is
harmless. Every wait is bounded.
"""

from __future__ import annotations

import time

__all__ = ['set_remote_parameters']


def _spin_until(node, condition, timeout: float) -> bool:
    import rclpy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return bool(condition())


def set_remote_parameters(node, target: str, values: dict, timeout: float = 30.0,
                          reply_timeout: float = 3.0, attempts: int = 5) -> None:
    """
    Set ``values`` (``{name: python value}``) on the node named ``target``, all at once.

    Atomically (``set_parameters_atomically``): the node's checks see all the new values
    together (e.g. two lists that must have the same length) and either all are set or none.
    ``node`` is spun while waiting (it must not be spun elsewhere meanwhile). Raises
    ``ValueError`` with the node's reason when it rejects the values, or saying what timed out.
    """
    from rcl_interfaces.srv import SetParametersAtomically
    from rclpy.parameter import Parameter

    client = node.create_client(SetParametersAtomically,
                                f'{target.rstrip("/")}/set_parameters_atomically')
    try:
        if not _spin_until(node, client.service_is_ready, timeout):
            raise ValueError(f'{target}: its set_parameters_atomically service did not appear '
                             f'within {timeout:g} s')
        parameters = [Parameter(name, value=value) for name, value in values.items()]
        request = SetParametersAtomically.Request(
            parameters=[p.to_parameter_msg() for p in parameters])
        for _ in range(attempts):
            future = client.call_async(request)
            if _spin_until(node, future.done, reply_timeout):
                break
        else:
            raise ValueError(f'{target}: no reply to set_parameters_atomically after '
                             f'{attempts} tries')
        result = future.result().result
        if not result.successful:
            raise ValueError(f'{target} rejected {", ".join(sorted(values))}: {result.reason}')
    finally:
        node.destroy_client(client)
