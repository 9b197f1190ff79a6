"""LaunchedNodes (ros/processes.py): the nodes of a launch file as processes, named by ns/name."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

LAUNCH = """<launch>
  <node pkg="qcoinf_ros" exec="camera_node" name="camera_node" namespace="robot1">
    <param name="source" value="scenes"/><param name="max_frames" value="1"/>
    <param name="rate_hz" value="20.0"/>
  </node>
  <node pkg="qcoinf_ros" exec="camera_node" name="camera_node" namespace="/robot2">
    <param name="source" value="scenes"/><param name="max_frames" value="1"/>
    <param name="rate_hz" value="20.0"/>
  </node>
  <node pkg="qcoinf_ros" exec="camera_node" name="camera_node">
    <param name="source" value="scenes"/><param name="max_frames" value="1"/>
    <param name="rate_hz" value="20.0"/>
  </node>
</launch>
"""


def test_nodes_of_one_name_in_two_namespaces_are_two_entries(tmp_path, ros_env):
    from qcoinf_ros.launching import parse_launch_file
    from qcoinf_ros.ros.processes import LaunchedNodes

    path = tmp_path / 'cameras.launch.xml'
    path.write_text(LAUNCH)
    with LaunchedNodes(parse_launch_file(path), env=ros_env) as graph:
        names = ['robot1/camera_node', 'robot2/camera_node', 'camera_node']
        assert [graph.key(spec) for spec, _ in graph.running] == names
        assert {proc.name for _, proc in graph.running} == {'camera_node'}  # the log prefix
        assert graph['robot2/camera_node'] is graph.running[1][1]
        with pytest.raises(KeyError):
            graph['robot3/camera_node']
        deadline = time.monotonic() + 60.0
        while graph.poll() and time.monotonic() < deadline:  # each stops after its frame
            time.sleep(0.1)
        assert graph.codes == dict.fromkeys(names, 0), [p.output for _, p in graph.running]
