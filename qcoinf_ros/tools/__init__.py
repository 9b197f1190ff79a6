"""
The tools: the ``qcoinf`` command (``cli``), its harnesses (``bench``), the paper's evaluation.

The top wing: it may import ``qcoinf_ros.ros`` and ``qcoinf_ros.core``; neither imports it
(test/lint/test_layering.py). ``experiments`` is the paper's figures and tables.
"""
