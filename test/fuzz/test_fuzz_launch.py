"""
Fuzzing the launch-XML parser and the ``qcoinf launch`` dry run with mutated launch files.

The shipped launch files are mutated as bytes (bit flips, cuts, spliced text) and as trees
(tags renamed, attributes set to substitution-laden text, elements duplicated, nested, or
turned into includes of themselves, of each other, of devices). Parsing, listing the arguments
(``--show-args``), printing the node commands (``--print``) and writing the nodes' parameter
files must end with a description or ``ValueError`` (exit code 2 for the CLI), within the
watchdog's time limit. No process is ever started from a fuzzed file.
"""

import contextlib
import copy
import io
from pathlib import Path
import shutil
import tempfile
import xml.etree.ElementTree as ET

from fuzz_support import bounded, fuzz_settings
from hypothesis import given, strategies as st
import pytest

from qcoinf_ros.core.launching import parse_launch_file, SUPPORTED_TAGS
from qcoinf_ros.core.launching.xml_launch import MAX_DEPTH
from qcoinf_ros.tools.cli import launch as launch_cli

SHIPPED = sorted((Path(__file__).resolve().parents[2] / 'launch').glob('*.launch.xml'))
ATTRS = ['name', 'default', 'value', 'pkg', 'exec', 'namespace', 'args', 'from', 'to', 'file',
         'if', 'unless', 'scoped', 'respawn', 'respawn_delay', 'description', 'output']
TEXT = st.sampled_from([
    '', 'true', 'false', '1', '0', 'nan', '-1', '1e999', 'qcoinf_ros', 'scenario_node', '/',
    '$(var params_file)', '$(var nope)', '$(env HOME)', '$(env QCOINF_NOPE dflt)', '$(env)',
    '$(find-pkg-share qcoinf_ros)', '$(find-pkg-share no_such_pkg)', '$(', ')', '$()',
    '$(var $(var namespace))', '$(eval 1+1)', '$(command ls)', '../x', '/dev/zero',
    '/dev/stdin', '.', 'x.launch.xml', 'agent.launch.xml', '[' * 3000, '{a: [1, 2]}',
    '!!python/object:os.system', '../../escape', 'a/b/c', '$(var model)' * 40,
]) | st.text(max_size=16)


def _tree_mutation(root: ET.Element, data) -> None:
    elements = list(root.iter())
    el = data.draw(st.sampled_from(elements), label='element')
    kind = data.draw(st.sampled_from(['attr', 'tag', 'dup', 'nest', 'include', 'drop',
                                      'deep']), label='mutation')
    if kind == 'attr':
        el.set(data.draw(st.sampled_from(ATTRS) | st.text(max_size=6), label='attr'),
               data.draw(TEXT, label='value'))
    elif kind == 'tag':
        el.tag = data.draw(st.sampled_from(list(SUPPORTED_TAGS)) | st.text(
            alphabet='abcdefghijklmnopqrstuvwxyz_-', min_size=1, max_size=8), label='tag')
    elif kind == 'dup' and el is not root:
        root.append(copy.deepcopy(el))  # the same element twice
    elif kind == 'nest':  # a copy of any element (the root too) inside this one
        el.append(copy.deepcopy(data.draw(st.sampled_from(elements), label='child')))
    elif kind == 'include':
        target = data.draw(st.sampled_from(
            ['self.launch.xml', 'agent.launch.xml', '/dev/zero', '.', 'missing.launch.xml',
             '$(var nope)', 'nested/../self.launch.xml', '$(dirname)/self.launch.xml',
             '$(dirname)/agent.launch.xml']), label='file')
        ET.SubElement(el, 'include', file=target)
    elif kind == 'drop' and el is not root:
        for parent in root.iter():
            if el in list(parent):
                parent.remove(el)
                break
    else:  # deep nesting of groups around a copy of an element
        inner = copy.deepcopy(el)
        for _ in range(data.draw(st.integers(1, 3 * MAX_DEPTH), label='depth')):
            group = ET.Element('group')
            group.append(inner)
            inner = group
        root.append(inner)


def _mutated_text(data) -> str:
    text = data.draw(st.sampled_from(SHIPPED), label='file').read_text()
    if data.draw(st.booleans(), label='as tree'):
        root = ET.fromstring(text)
        for _ in range(data.draw(st.integers(1, 4), label='mutations')):
            _tree_mutation(root, data)
        return ET.tostring(root, encoding='unicode')
    raw = bytearray(text.encode())
    kind = data.draw(st.sampled_from(['flip', 'cut', 'splice']), label='bytes')
    at = data.draw(st.integers(0, len(raw) - 1), label='at')
    if kind == 'flip':
        raw[at] ^= 1 << data.draw(st.integers(0, 7), label='bit')
    elif kind == 'cut':
        del raw[at:at + data.draw(st.integers(1, 200), label='length')]
    else:
        raw[at:at] = data.draw(TEXT, label='insert').encode()
    return raw.decode('utf-8', errors='replace')


def _run_cli(argv) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return launch_cli.main(argv)
        except SystemExit as exc:  # argparse on a bad NAME:=VALUE list
            return int(exc.code or 0)


@fuzz_settings(200)
@given(data=st.data())
def test_mutated_launch_files_parse_or_raise_value_error(data):
    text = _mutated_text(data)
    args = data.draw(st.dictionaries(
        st.sampled_from(['params_file', 'namespace', 'model', 'scenario', 'backend', 'nope']),
        TEXT, max_size=2), label='launch args')
    with tempfile.TemporaryDirectory(prefix='qcoinf_fuzz_launch_') as tmp:
        for path in SHIPPED:  # $(dirname) includes resolve next to the fuzzed file
            shutil.copy(path, tmp)
        path = Path(tmp) / 'self.launch.xml'
        path.write_text(text)
        with bounded(f'launch file {text[:120]!r} with {args!r}'):
            try:
                desc = parse_launch_file(path, args)
            except ValueError:
                desc = None
            if desc is not None:
                for spec in desc.nodes:
                    spec.ros_args()
                    try:
                        spec.ros_args(Path(tmp) / 'params')
                    except ValueError:
                        pass
            argv = [str(path), *(f'{k}:={v}' for k, v in args.items())]
            assert _run_cli([*argv, '--show-args']) in (0, 2)
            # `name:=` (an empty value) is malformed on ros2 launch's command line
            malformed = any(v == '' for v in args.values())
            assert _run_cli([*argv, '--print']) == (0 if desc is not None and not malformed
                                                    else 2)
        if desc is not None:  # parameter files stay inside their folder
            written = list(Path(tmp).rglob('*.yaml'))
            assert all(Path(tmp, 'params') in p.parents for p in written)


@pytest.mark.parametrize('body, needle', [
    ('<group>' * (MAX_DEPTH + 1) + '</group>' * (MAX_DEPTH + 1), 'nested deeper'),
    ('<include file="$(dirname)/self.launch.xml"/>', 'include cycle'),
    ('<include file="/dev/zero"/>', 'not a regular file'),
    ('<let name="a0" value="' + 'x' * 64 + '"/>' +
     ''.join(f'<let name="a{i}" value="{f"$(var a{i - 1})" * 31}"/>' for i in range(1, 6)),
     'longer than'),
    ('<let name="a" value="$(var a$(var a)"/>', 'cannot parse'),
    ('<let value="1"/>', '<let> needs a name'),
    ('<node pkg="p" exec="e" respawn_delay="nan"/>', 'respawn_delay'),
    ('<node pkg="p" exec="e" name="../../escape"><param name="a" value="1"/></node>', None),
    ('<node pkg="p" exec="e"><param name="a" value="' + '[' * 3000 + ']' * 3000 +
     '"/></node>', 'not YAML'),
])
def test_regressions_found_by_fuzzing(tmp_path, body, needle):
    """Inputs that once overflowed the stack, looped, or grew without bound."""
    path = tmp_path / 'self.launch.xml'
    path.write_text(f'<launch>{body}</launch>')
    with bounded(f'launch body {body[:80]!r}', seconds=30):
        if needle is None:  # parses; its parameter file stays in the folder it is written to
            spec, = parse_launch_file(path).nodes
            written = Path(spec.ros_args(tmp_path / 'params')[-1])
            assert written.parent == tmp_path / 'params'
            return
        with pytest.raises(ValueError, match=needle):
            parse_launch_file(path)


def test_includes_that_multiply_are_bounded(tmp_path):
    """Regression: 24 files each including the next twice parsed in 2^24 readings (> 60 s)."""
    from qcoinf_ros.core.launching import list_launch_arguments
    from qcoinf_ros.core.launching.xml_launch import MAX_FILES

    for i in range(24):
        child = f'<include file="$(dirname)/f{i + 1}.launch.xml"/>' * 2 if i < 23 else ''
        (tmp_path / f'f{i}.launch.xml').write_text(
            f'<launch><arg name="a{i}" default="x"/>{child}'
            '<node pkg="qcoinf_ros" exec="scenario_node"/></launch>')
    with bounded('24 files including the next twice', seconds=20):
        with pytest.raises(ValueError, match=f'more than {MAX_FILES} launch files'):
            parse_launch_file(tmp_path / 'f0.launch.xml')
        listed = list_launch_arguments(tmp_path / 'f0.launch.xml')
    assert [a.name for a in listed][:3] == ['a0', 'a1', 'a2']
    # a shipped graph is far inside the bound: coinference reads 3 files
    assert MAX_FILES >= 64
