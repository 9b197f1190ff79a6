"""
qcoinf_ros: quantization-aware collaborative inference for embodied agents on ROS 2.

The numeric core (``theory``, ``system``, ``planner``, ``quant``, ``models``, ``scenario``)
imports no rclpy; the ROS 2 layer lives in ``nodes`` and ``ros``.
"""

__version__ = '0.1.0'
