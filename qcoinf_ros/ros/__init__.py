"""
The ROS 2 wing: the nodes (``nodes/``) and the rclpy glue they share (QoS, parameters, processes).

It imports ``qcoinf_ros.core`` and the message packages, never ``qcoinf_ros.tools``
(test/lint/test_layering.py).
"""
