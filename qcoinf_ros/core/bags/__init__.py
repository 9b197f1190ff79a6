"""
rosbag2 bags without rosbag2: writing, reading, salvaging, replay schedule, sample, report.

Pure (no rclpy): built on the ``rosbags`` library with the typestore of the ROS 2 distribution
in use. The ROS side (subscribing and publishing the raw CDR bytes) is ``qcoinf bag``
(:mod:`qcoinf_ros.tools.cli.bag`).
"""

from qcoinf_ros.core.bags.playback import BagClock, play, PlayOptions, PlayStats
from qcoinf_ros.core.bags.storage import (
    BagInfo, BagMessage, BagReader, BagWriter, METADATA_VERSION, Problem, qualify, STORAGES,
    TopicInfo, TopicSpec, write_bag)

__all__ = ['BagClock', 'BagInfo', 'BagMessage', 'BagReader', 'BagWriter', 'METADATA_VERSION',
           'play', 'PlayOptions', 'PlayStats', 'Problem', 'qualify', 'STORAGES', 'TopicInfo',
           'TopicSpec', 'write_bag']
