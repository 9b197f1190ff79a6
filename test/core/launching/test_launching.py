"""The launch XML parser and the `qcoinf launch` runner."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

from qcoinf_ros.core.launching import parse_launch_file
from qcoinf_ros.core.resources import share_dir

ROOT = Path(__file__).resolve().parents[3]


def _write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(f'<launch>\n{body}\n</launch>\n')
    return path


def test_nodes_params_remaps_namespaces_and_conditions(tmp_path, monkeypatch):
    monkeypatch.setenv('QCOINF_TEST_RATE', '7.5')
    (tmp_path / 'p.yaml').write_text('/**/n:\n  ros__parameters: {}\n')
    path = _write(tmp_path, 'a.launch.xml', """
      <arg name="ns" default="robot1" description="namespace"/>
      <arg name="with_b" default="false"/>
      <let name="topic" value="$(var ns)_image"/>
      <group>
        <push_ros_namespace namespace="$(var ns)"/>
        <node pkg="qcoinf_ros" exec="scenario_node" name="n" args="--foo bar">
          <param from="$(dirname)/p.yaml"/>
          <param name="rate_hz" value="$(env QCOINF_TEST_RATE)"/>
          <param name="frame_id" value="$(env QCOINF_UNSET_VAR base_link)"/>
          <remap from="battery_state" to="$(var topic)"/>
        </node>
      </group>
      <node pkg="qcoinf_ros" exec="scenario_node" name="b" if="$(var with_b)"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="c" unless="$(var with_b)"
            namespace="/abs"/>""")
    desc = parse_launch_file(path)
    assert [a.name for a in desc.args] == ['ns', 'with_b']
    first, second = desc.nodes
    assert (first.name, first.namespace, second.name, second.namespace) == \
        ('n', '/robot1', 'c', '/abs')
    assert first.params == {'rate_hz': '7.5', 'frame_id': 'base_link'}
    assert first.params_files == [str(tmp_path / 'p.yaml')]
    assert first.remaps == [('battery_state', 'robot1_image')]
    assert first.args == ['--foo', 'bar']
    assert first.ros_args()[:4] == ['-r', '__node:=n', '-r', '__ns:=/robot1']
    overridden = parse_launch_file(path, {'ns': 'r2', 'with_b': 'true'})
    assert [(n.name, n.namespace) for n in overridden.nodes] == [('n', '/r2'), ('b', '')]


def test_include_passes_args_and_keeps_namespace(tmp_path):
    _write(tmp_path, 'inner.launch.xml', """
      <arg name="who"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="$(var who)"/>""")
    outer = _write(tmp_path, 'outer.launch.xml', """
      <group><push-ros-namespace namespace="team"/>
        <include file="$(dirname)/inner.launch.xml"><arg name="who" value="alice"/></include>
      </group>""")
    (node,) = parse_launch_file(outer).nodes
    assert (node.name, node.namespace) == ('alice', '/team')


@pytest.mark.parametrize('body, needle', [
    ('<executable cmd="ls"/>', 'unsupported launch tag <executable>'),
    ('<node pkg="qcoinf_ros" exec="x" launch-prefix="gdb"/>', 'unsupported attribute'),
    ('<node pkg="qcoinf_ros" exec="x" name="$(command ls)"/>', 'unsupported substitution'),
    ('<node pkg="qcoinf_ros" exec="x" name="$(var nope)"/>', "'nope' is not set"),
    ('<arg name="must"/>', "'must' is required"),
    ('<node pkg="qcoinf_ros" exec="x"><remap from="a"/></node>', 'needs from and to'),
    ('<node pkg="qcoinf_ros" exec="x" if="maybe"/>', 'true/false'),
    ('<node exec="x"/>', 'needs pkg and exec'),
    ('<param name="a" value="b"/>', 'only valid inside <node>'),
])
def test_unsupported_or_broken_launch_files_fail_clearly(tmp_path, body, needle):
    with pytest.raises(ValueError, match=needle):
        parse_launch_file(_write(tmp_path, 'bad.launch.xml', body))


def test_malformed_xml_unknown_override_and_wrong_root(tmp_path):
    bad = tmp_path / 'broken.xml'
    bad.write_text('<launch><node')
    with pytest.raises(ValueError, match='cannot read launch file'):
        parse_launch_file(bad)
    root = tmp_path / 'root.xml'
    root.write_text('<robot/>')
    with pytest.raises(ValueError, match='root element must be <launch>'):
        parse_launch_file(root)


def test_every_shipped_launch_file_parses_with_its_defaults():
    files = sorted((ROOT / 'launch').glob('*.launch.xml'))
    assert files
    for path in files:
        desc = parse_launch_file(path)
        assert desc.nodes, path
        assert all(n.package == 'qcoinf_ros' for n in desc.nodes)
        for n in desc.nodes:
            assert (ROOT / 'qcoinf_ros' / 'ros' / 'nodes' / f'{n.executable}.py').is_file(), n


@pytest.mark.parametrize('value', ['true', 'false'])
def test_use_sim_time_reaches_every_node_of_every_launch_file(value):
    # ros2 bag play --clock replays need every node on /clock: one argument per file, passed
    # on through the includes to each node (the default: the system clock)
    for path in sorted((ROOT / 'launch').glob('*.launch.xml')):
        args = parse_launch_file(path).args
        assert any(a.name == 'use_sim_time' and a.default == 'false' for a in args), path
        desc = parse_launch_file(path, {'use_sim_time': value})
        assert desc.nodes, path
        for node in desc.nodes:
            assert node.params.get('use_sim_time') == value, (path, node.name)


@pytest.mark.parametrize('name', ['agent.launch.xml', 'coinference.launch.xml'])
def test_a_camera_drivers_topic_replaces_the_built_in_camera(name):
    # the default: the built-in camera on camera/image_raw, the agent on raw frames
    desc = parse_launch_file(ROOT / 'launch' / name)
    camera, = [n for n in desc.nodes if n.executable == 'camera_node']
    agent, = [n for n in desc.nodes if n.executable == 'agent_encoder_node']
    assert camera.remaps == agent.remaps == [('camera/image_raw', 'camera/image_raw')]
    assert agent.params['image_transport'] == 'raw'
    # a driver's compressed topic: no built-in camera, the agent remapped and on compressed
    desc = parse_launch_file(ROOT / 'launch' / name, {
        'use_camera': 'false', 'image_topic': '/usb_cam/image_raw',
        'image_transport': 'compressed'})
    assert not [n for n in desc.nodes if n.executable == 'camera_node']
    agent, = [n for n in desc.nodes if n.executable == 'agent_encoder_node']
    assert agent.remaps == [('camera/image_raw', '/usb_cam/image_raw')]
    assert agent.params['image_transport'] == 'compressed'
    assert agent.params['local_mode'] == 'true'  # the robot captions when the server is lost
    desc = parse_launch_file(ROOT / 'launch' / name, {'local_mode': 'false'})
    assert [n.params['local_mode'] for n in desc.nodes
            if n.executable == 'agent_encoder_node'] == ['false']
    assert '-r' in agent.ros_args() and 'camera/image_raw:=/usb_cam/image_raw' in \
        agent.ros_args()
    # the built-in camera can publish on the chosen topic and open a device by path
    desc = parse_launch_file(ROOT / 'launch' / name, {
        'image_topic': '/front/image_raw', 'camera_source': 'device',
        'camera_device': '/dev/video2'})
    camera, = [n for n in desc.nodes if n.executable == 'camera_node']
    assert camera.remaps == [('camera/image_raw', '/front/image_raw')]
    assert (camera.params['source'], camera.params['device_path']) == ('device', '/dev/video2')


@pytest.mark.ros
def test_qcoinf_launch_runs_the_nodes_as_processes(ros_env, rclpy_node, spin_until, tmp_path):
    from sensor_msgs.msg import BatteryState

    from qcoinf_ros.ros.qos import SENSOR

    params = tmp_path / 'scenario.yaml'
    params.write_text('/**/scenario_node:\n  ros__parameters:\n    rate_hz: 20.0\n'
                      '    initial_percentage: 0.7\n    frame_id: launched\n')
    received = []
    rclpy_node.create_subscription(BatteryState, '/lab/battery_state', received.append, SENSOR)
    cmd = [sys.executable, '-m', 'qcoinf_ros.tools.cli.main', 'launch', 'scenario.launch.xml',
           f'params_file:={params}', 'namespace:=lab', '--timeout', '25']
    proc = subprocess.Popen(cmd, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        spin_until(lambda: len(received) >= 5 or proc.poll() is not None, timeout=25.0)
        assert len(received) >= 5, 'no battery_state from the launched node'
        assert {m.header.frame_id for m in received} == {'launched'}
        assert received[0].percentage <= 0.7
    finally:
        os.killpg(proc.pid, 2)  # Ctrl-C: the runner stops its nodes and exits 0
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert '[scenario_node]' in out


def test_launch_cli_errors_and_listing(tmp_path):
    run = [sys.executable, '-m', 'qcoinf_ros.tools.cli.main', 'launch']
    shown = subprocess.run(run + ['scenario.launch.xml', '--show-args'], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "'params_file'" in shown.stdout
    printed = subprocess.run(run + ['scenario.launch.xml', '--print', 'namespace:=r1'],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0
    assert 'qcoinf_ros scenario_node --ros-args -r __node:=scenario_node -r __ns:=/r1' in \
        printed.stdout
    assert str(share_dir() / 'config' / 'demo.yaml') in printed.stdout
    missing = subprocess.run(run + ['nope.launch.xml'], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 2 and 'not found' in missing.stderr


def test_param_values_are_written_to_a_typed_params_file(tmp_path):
    import yaml

    path = _write(tmp_path, 'p.launch.xml', """
      <node pkg="qcoinf_ros" exec="camera_node" name="cam">
        <param name="path" value=""/>
        <param name="device_index" value="3"/>
        <param name="loop" value="false"/>
        <param name="rate_hz" value="2.5"/>
        <param name="frame_id" value="cam0"/>
      </node>""")
    (node,) = parse_launch_file(path).nodes
    args = node.ros_args(tmp_path / 'params')
    written = args[args.index('--params-file') + 1]
    params = yaml.safe_load(open(written))['/**']['ros__parameters']
    assert params == {'path': '', 'device_index': 3, 'loop': False, 'rate_hz': 2.5,
                      'frame_id': 'cam0'}
    assert '-p' not in args
