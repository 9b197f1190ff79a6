"""The ``battery_state`` parameter shared by the nodes that read sensor_msgs/BatteryState."""

from __future__ import annotations

from qcoinf_ros.core.planner.battery import SCALES
from qcoinf_ros.ros.params import ParamSpec

#: How ``battery_state.percentage`` is read
#: (:class:`qcoinf_ros.core.planner.battery.ChargeReader`).
BATTERY_SCALE_PARAM = ParamSpec(
    'battery_percentage_scale', 'auto', 'How battery_state.percentage is read: unit (0..1, the '
    'message definition), percent (0..100 drivers), auto (0..1 until a value above 1 is seen). '
    'A NaN percentage is read as charge / capacity.', choices=SCALES, read_only=True)
