"""A small runner for the package's launch XML, for machines without ROS 2 ``launch``."""

from qcoinf_ros.core.launching.xml_launch import (
    LaunchArg, LaunchDescription, list_launch_arguments, NodeSpec, parse_launch_file,
    SUPPORTED_TAGS, typed_parameter)

__all__ = ['LaunchArg', 'LaunchDescription', 'list_launch_arguments', 'NodeSpec',
           'parse_launch_file', 'SUPPORTED_TAGS', 'typed_parameter']
