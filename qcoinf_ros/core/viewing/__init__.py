"""
What Foxglove (or Lichtblick) shows of the graph: its channels, their schemas and the messages.

``model.py`` turns the graph's messages (read by attribute: rclpy's and rosbags' alike, the
package's old JSON-in-String types and its own message types) into the plain records of the
view's channels, with Foxglove's well-known schemas for the image and the caption drawn on it
and JSON schemas for the plottable plan, latency, battery and diagnostics. ``sdk.py`` writes
them to foxglove-sdk channels (a WebSocket server, an MCAP file). No rclpy here: the live bridge
(``qcoinf_ros/ros/foxglove_bridge.py``) and ``qcoinf bag mcap`` feed the same code.
"""

from qcoinf_ros.core.viewing.model import CHANNELS, GraphModel, SOURCE_TOPICS

__all__ = ['CHANNELS', 'GraphModel', 'SOURCE_TOPICS']
