"""
Foxglove node: ``qcoinf foxglove`` as a node of the launch files (``foxglove:=true``).

A Foxglove WebSocket server (foxglove-sdk) on ``address``:``port`` streaming the graph of the
node's own namespace with the shipped layout's channels (``config/foxglove_layout.json``): the
camera frame with the caption drawn on it, b and the clocks over time, the latency against the
deadline, the battery and the energy per inference, the diagnostics. The same bridge as the
command (:class:`~qcoinf_ros.ros.foxglove_bridge.FoxgloveBridge`); the command is for a graph
already running, the node for one launched with it.

Topics in: those of :data:`qcoinf_ros.core.viewing.SOURCE_TOPICS`, relative to the node's
namespace, each subscribed once the graph advertises it. Topics out: none (the WebSocket only).
A port in use or an address that cannot be bound stops the node at start with one FATAL line
and exit code 2; SIGINT/SIGTERM close the server and exit 0.
"""

from __future__ import annotations

import sys

from rclpy.node import Node

from qcoinf_ros.core.resources import share_file
from qcoinf_ros.core.viewing.model import view_topics
from qcoinf_ros.core.viewing.sdk import start_server, ViewChannels
from qcoinf_ros.ros.foxglove_bridge import FoxgloveBridge
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.spin import run_node

PARAMS = [
    ParamSpec('address', '127.0.0.1', 'Address the WebSocket server listens on (127.0.0.1: this '
              "machine only; 0.0.0.0: every interface, for a laptop on the robot's network).",
              read_only=True),
    ParamSpec('port', 8765, "TCP port of the WebSocket server (8765: Foxglove's; 0: any free "
              'port, logged).', low=0, high=65535, read_only=True),
    ParamSpec('image', 'raw', 'Camera frames streamed: raw (camera/image_raw), compressed '
              '(camera/image_raw/compressed: less bandwidth to a laptop) or none.',
              choices=('raw', 'compressed', 'none'), read_only=True),
]


class FoxgloveNode(Node):
    """Streams the graph of its namespace to Foxglove/Lichtblick over a WebSocket."""

    def __init__(self, **kwargs):
        super().__init__('foxglove_node', **kwargs)
        self._p = declare_all(self, PARAMS)
        install_validator(self, PARAMS, on_change=self._p.update)
        self._channels = ViewChannels(view_topics(self._p['image']))
        try:
            self._server = start_server(self._channels, self._p['address'], self._p['port'])
        except Exception as exc:  # noqa: BLE001 - the SDK's error for a port in use, an address
            self._channels.close()
            raise ValueError(f"cannot listen on {self._p['address']}:{self._p['port']}: "
                             f'{exc}') from exc
        # the names as this node resolves them: its namespace and its remapping rules (a
        # camera driver's frames: camera/image_raw:=/camera/image_raw, as for the agent)
        self.bridge = FoxgloveBridge(self, self._channels, image=self._p['image'],
                                     resolve_name=self.resolve_topic_name)
        self.port = self._server.port
        self.get_logger().info(
            f"ws://{self._p['address']}:{self.port} (Foxglove/Lichtblick: Open connection -> "
            f"Foxglove WebSocket); layout: {share_file('config/foxglove_layout.json')}")

    def destroy_node(self) -> None:
        """Stop the server and close the channels (clients see them go), then the node."""
        self._server.stop()
        self._channels.close()
        self.get_logger().info(f'stopped: {self.bridge.summary()}')
        super().destroy_node()


def main(args=None) -> int:
    return run_node(FoxgloveNode, args, 'foxglove_node')


if __name__ == '__main__':
    sys.exit(main())
