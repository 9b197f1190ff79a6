"""A small runner for the package's launch XML, for machines without ROS 2 ``launch``."""

from qcoinf_ros.launching.xml_launch import (
    LaunchArg, LaunchDescription, NodeSpec, parse_launch_file, SUPPORTED_TAGS)

__all__ = ['LaunchArg', 'LaunchDescription', 'NodeSpec', 'parse_launch_file', 'SUPPORTED_TAGS']
