"""
``qcoinf launch`` behaves as ``ros2 launch`` on each point where the two once differed.

Every expectation is written from the real tools' code and documentation (``launch``:
``IncludeLaunchDescription.execute`` sets an include's arguments in the current scope,
``GroupAction`` scoping, the frontend grammar, ``ExecuteProcess._parse_cmdline``;
``launch_ros``: ``PushRosNamespace``, ``evaluate_parameter_dict``, ``Node`` parameter files;
``ros2launch``: ``parse_launch_arguments``, ``print_arguments_of_launch_description``), not from
this package's implementation. docs/parameters.md's launch section lists them with the one
deliberate difference (an undeclared argument is warned about, not ignored silently).
"""

import contextlib
import io
import os
from pathlib import Path

import pytest
import yaml

from qcoinf_ros.core.launching import list_launch_arguments, parse_launch_file
from qcoinf_ros.core.launching.substitutions import parse, split_command_line
from qcoinf_ros.tools.cli import launch as launch_cli

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[3]
LAUNCH = ROOT / 'launch'


def _write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f'<launch>\n{body}\n</launch>\n')
    return path


def _cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = launch_cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _param(node, name):
    return node.params.get(name)


# 1. arguments declared in included files are global -------------------------------------------
def test_arguments_declared_in_included_files_are_set_from_the_command_line():
    desc = parse_launch_file(LAUNCH / 'coinference.launch.xml', {'device_index': '1'})
    camera, = [n for n in desc.nodes if n.executable == 'camera_node']
    assert _param(camera, 'device_index') == '1'
    desc = parse_launch_file(LAUNCH / 'multi_agent.launch.xml',
                             {'backend': 'cpufreq', 'camera_source': 'scenes',
                              'namespace': 'x'})
    actuators = [n for n in desc.nodes if n.executable == 'frequency_actuator_node']
    cameras = [n for n in desc.nodes if n.executable == 'camera_node']
    assert [_param(n, 'backend') for n in actuators] == ['cpufreq', 'cpufreq']
    assert [_param(n, 'source') for n in cameras] == ['scenes', 'scenes']
    # the include's own <arg namespace> is set when the include runs, after the command line
    assert [n.namespace for n in cameras] == ['/robot1', '/robot2']
    assert desc.warnings == []


def test_show_args_lists_the_arguments_of_included_files_too():
    names = [a.name for a in list_launch_arguments(LAUNCH / 'coinference.launch.xml')]
    assert {'device_index', 'camera_source', 'backend', 'params_file'} <= set(names)
    assert len(names) == len(set(names))  # the first declaration only
    code, out, _ = _cli('coinference.launch.xml', '--show-args')
    assert code == 0 and out.startswith("Arguments (pass arguments as '<name>:=<value>'):")
    assert "\n    'device_index':\n" in out and '(default: ' in out


# 2. an undeclared argument ----------------------------------------------------------------------
def test_an_undeclared_argument_is_a_warning_not_an_error(tmp_path):
    path = _write(tmp_path, 'a.launch.xml', '<arg name="a" default="1"/>'
                  '<node pkg="qcoinf_ros" exec="scenario_node"/>')
    desc = parse_launch_file(path, {'zzz': '2'})
    assert len(desc.nodes) == 1
    assert any('zzz' in w and 'ignored' in w for w in desc.warnings)
    code, _, err = _cli(str(path), 'zzz:=2', '--print')
    assert code == 0 and 'warning' in err and 'zzz' in err


# 3. values are text, never parsed for substitutions again --------------------------------------
def test_argument_values_are_not_parsed_for_substitutions_again(tmp_path):
    desc = parse_launch_file(LAUNCH / 'agent.launch.xml',
                             {'camera_path': '$(env HOME)/frames'})
    camera, = [n for n in desc.nodes if n.executable == 'camera_node']
    assert _param(camera, 'path') == '$(env HOME)/frames'
    desc = parse_launch_file(LAUNCH / 'agent.launch.xml', {'camera_path': '/data/$(x)'})
    camera, = [n for n in desc.nodes if n.executable == 'camera_node']
    assert _param(camera, 'path') == '/data/$(x)'
    # the same text written in a launch file *is* a substitution
    path = _write(tmp_path, 'b.launch.xml', '<node pkg="qcoinf_ros" exec="scenario_node">'
                  '<param name="p" value="$(env QCOINF_SEMANTICS_X)/f"/></node>')
    os.environ['QCOINF_SEMANTICS_X'] = '/somewhere'
    try:
        node, = parse_launch_file(path).nodes
    finally:
        del os.environ['QCOINF_SEMANTICS_X']
    assert _param(node, 'p') == '/somewhere/f'


# 4. relative paths: the current directory; $(dirname); a missing <param from> ------------------
def test_relative_paths_resolve_against_the_current_directory(tmp_path, monkeypatch):
    here = tmp_path / 'cwd'
    there = tmp_path / 'files'
    here.mkdir()
    there.mkdir()
    (here / 'p.yaml').write_text('/**:\n  ros__parameters: {a: 1}\n')
    (there / 'p.yaml').write_text('/**:\n  ros__parameters: {a: 2}\n')
    _write(here, 'inner.launch.xml', '<node pkg="qcoinf_ros" exec="scenario_node" name="in"/>')
    _write(there, 'inner.launch.xml', '<node pkg="qcoinf_ros" exec="scenario_node" '
           'name="wrong"/>')
    path = _write(there, 'outer.launch.xml', """
      <arg name="params_file" default="p.yaml"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="n"><param from="$(var params_file)"/>
        <param from="$(dirname)/p.yaml"/></node>
      <include file="inner.launch.xml"/>""")
    monkeypatch.chdir(here)
    desc = parse_launch_file(path)
    node, inner = desc.nodes
    assert node.params_files == [str(here / 'p.yaml'), str(there / 'p.yaml')]
    assert inner.name == 'in'
    desc = parse_launch_file(path, {'params_file': 'missing.yaml'})
    assert desc.nodes[0].params_files == [str(there / 'p.yaml')]
    assert any('parameter file path is not a file' in w and 'missing.yaml' in w
               for w in desc.warnings)


# 5. values ros2 launch refuses -------------------------------------------------------------------
@pytest.mark.parametrize('value', ['null', '~', '2024-01-01', '[1, 2.5]', '{a: 1}', '[]',
                                   '[true, a]', '[true, 1]'])
def test_parameter_values_launch_ros_refuses_are_refused(tmp_path, value):
    with pytest.raises(ValueError, match="parameter 'path'"):
        parse_launch_file(LAUNCH / 'agent.launch.xml', {'camera_path': value})
    path = _write(tmp_path, 'v.launch.xml', '<node pkg="qcoinf_ros" exec="scenario_node">'
                  f'<param name="x" value="{value}"/></node>')
    with pytest.raises(ValueError, match="parameter 'x'"):
        parse_launch_file(path)


def test_accepted_parameter_values_keep_their_yaml_type(tmp_path):
    path = _write(tmp_path, 'v.launch.xml', """
      <node pkg="qcoinf_ros" exec="scenario_node" name="v">
        <param name="e" value=""/><param name="i" value="3"/><param name="f" value="2.5"/>
        <param name="b" value="true"/><param name="s" value="text"/>
        <param name="li" value="[1, 2]"/><param name="lf" value="[1.5, 2.0]"/>
        <param name="ls" value="[a, b]"/><param name="lb" value="[1, true]"/>
      </node>""")
    node, = parse_launch_file(path).nodes
    args = node.ros_args(tmp_path / 'params')
    written = yaml.safe_load(open(args[args.index('--params-file') + 1]))
    assert written['/**']['ros__parameters'] == {
        'e': '', 'i': 3, 'f': 2.5, 'b': True, 's': 'text', 'li': [1, 2], 'lf': [1.5, 2.0],
        'ls': ['a', 'b'], 'lb': [1, True]}  # a bool is an int for launch_ros' check too


# 6. include scoping -----------------------------------------------------------------------------
def test_an_include_sees_the_parent_arguments_and_its_own_stay_set(tmp_path):
    _write(tmp_path, 'child.launch.xml', """
      <arg name="who" default="nobody"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="$(var who)_$(var parent_only)"/>""")
    path = _write(tmp_path, 'parent.launch.xml', """
      <arg name="parent_only" default="p"/>
      <include file="$(dirname)/child.launch.xml"><arg name="who" value="alice"/></include>
      <node pkg="qcoinf_ros" exec="scenario_node" name="after_$(var who)"/>""")
    first, second = parse_launch_file(path).nodes
    assert (first.name, second.name) == ('alice_p', 'after_alice')


def test_a_scoped_group_restores_arguments_an_unscoped_one_does_not(tmp_path):
    path = _write(tmp_path, 'g.launch.xml', """
      <let name="x" value="outer"/>
      <group><let name="x" value="scoped"/></group>
      <node pkg="qcoinf_ros" exec="scenario_node" name="a_$(var x)"/>
      <group scoped="false"><let name="x" value="unscoped"/></group>
      <node pkg="qcoinf_ros" exec="scenario_node" name="b_$(var x)"/>""")
    assert [n.name for n in parse_launch_file(path).nodes] == ['a_outer', 'b_unscoped']


# 7. push_ros_namespace leaking -------------------------------------------------------------------
def test_push_ros_namespace_leaks_from_unscoped_groups_and_included_files(tmp_path):
    _write(tmp_path, 'ns.launch.xml', """
      <push_ros_namespace namespace="inc"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="i"/>""")
    path = _write(tmp_path, 'top.launch.xml', """
      <group><push_ros_namespace namespace="scoped"/></group>
      <node pkg="qcoinf_ros" exec="scenario_node" name="a"/>
      <group scoped="false"><push_ros_namespace namespace="open"/></group>
      <node pkg="qcoinf_ros" exec="scenario_node" name="b"/>
      <include file="$(dirname)/ns.launch.xml"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="c"/>
      <node pkg="qcoinf_ros" exec="scenario_node" name="d" namespace="/abs"/>""")
    got = [(n.name, n.namespace) for n in parse_launch_file(path).nodes]
    assert got == [('a', ''), ('b', '/open'), ('i', '/open/inc'), ('c', '/open/inc'),
                   ('d', '/abs')]


# 8. if/unless on <param> -------------------------------------------------------------------------
@pytest.mark.parametrize('child', ['<param name="a" value="1" if="true"/>',
                                   '<param from="x.yaml" unless="false"/>',
                                   '<remap from="a" to="b" if="true"/>'])
def test_if_unless_on_param_or_remap_is_refused(tmp_path, child):
    path = _write(tmp_path, 'c.launch.xml',
                  f'<node pkg="qcoinf_ros" exec="scenario_node">{child}</node>')
    with pytest.raises(ValueError, match='takes no if/unless'):
        parse_launch_file(path)


# 9. <node args> split like a shell ---------------------------------------------------------------
def test_node_args_are_split_like_a_shell_and_substitutions_stay_whole(tmp_path):
    path = _write(tmp_path, 'n.launch.xml', """
      <arg name="x" default="d e"/>
      <node pkg="qcoinf_ros" exec="scenario_node"
            args="--a 'b c' $(var x) pre$(var x)post  --z"/>""")
    node, = parse_launch_file(path).nodes
    assert node.args == ['--a', 'b c', 'd e', 'pred epost', '--z']
    assert [t.is_text for t in split_command_line(parse('one two three'))] == [True] * 3
    assert [p for t in split_command_line(parse('one two three')) for p in t.parts] == \
        ['one', 'two', 'three']


# 10. quoted substitution arguments -------------------------------------------------------------
def test_quoted_substitution_arguments(tmp_path, monkeypatch):
    monkeypatch.delenv('QCOINF_NOPE', raising=False)
    path = _write(tmp_path, 'q.launch.xml', """
      <node pkg="qcoinf_ros" exec="scenario_node">
        <param name="a" value="$(env QCOINF_NOPE 'a b')"/>
        <param name="b" value='$(env QCOINF_NOPE "c $(dirname) d")'/>
        <param name="c" value="$(optenv QCOINF_NOPE)x"/>
        <param name="d" value="\\$(not a substitution)"/>
        <param name="e" value="$(var missing 'fallback value')"/>
      </node>""")
    node, = parse_launch_file(path).nodes
    assert node.params == {'a': 'a b', 'b': f'c {tmp_path} d', 'c': 'x',
                           'd': '$(not a substitution)', 'e': 'fallback value'}
    with pytest.raises(ValueError, match='cannot parse'):
        parse("$(env X 'unclosed)")


# 11. the command line --------------------------------------------------------------------------
@pytest.mark.parametrize('item', ['name', ':=v', 'name:='])
def test_malformed_command_line_arguments_are_refused_as_ros2_launch_does(item):
    with pytest.raises(ValueError, match='malformed launch argument'):
        launch_cli.parse_launch_arguments([item])
    code, _, err = _cli('scenario.launch.xml', item, '--print')
    assert code == 2 and 'malformed launch argument' in err


def test_the_last_value_of_an_argument_wins_and_may_contain_colon_equals():
    assert launch_cli.parse_launch_arguments(['a:=1', 'a:=2', 'b:=x:=y']) == \
        {'a': '2', 'b': 'x:=y'}
