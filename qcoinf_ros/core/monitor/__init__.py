"""
Monitoring helpers (pure): the dashboard model, RViz marker content, the annotated image.

The ROS sides are the monitor node (:mod:`qcoinf_ros.ros.nodes.monitor_node`, RViz) and
``qcoinf monitor`` (:mod:`qcoinf_ros.tools.cli.monitor`, terminal).
"""

from qcoinf_ros.core.monitor.annotate import annotate
from qcoinf_ros.core.monitor.markers import KEYS, marker_texts, MarkerText
from qcoinf_ros.core.monitor.state import CaptionPairer, MonitorState

__all__ = ['annotate', 'CaptionPairer', 'KEYS', 'marker_texts', 'MarkerText', 'MonitorState']
