"""
The numeric core: numpy/torch only, no rclpy, no message package, no ``main()``.

It imports nothing from ``qcoinf_ros.ros`` or ``qcoinf_ros.tools`` (test/lint/test_layering.py):
the models of the paper (``theory``, ``system``, ``planner``), the split model and its kernels
(``quant``, ``lut``, ``runtime``, ``models``, ``captioner``, ``weights``), the records and their
wire and file forms (``codec``, ``bags``, ``imaging``, ``scenes``, ``viewing``), the robot's
policies (``serving``, ``failover``, ``scenario``, ``actuation``, ``monitor``, ``launching``) and
the ground every one of them stands on (``validation``, ``stats``, ``qos``, ``status_names``,
``resources``).
"""
