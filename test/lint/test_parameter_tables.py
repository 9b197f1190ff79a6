"""docs/parameters.md's tables name exactly the parameters each node declares (from PARAMS)."""

import importlib
from pathlib import Path
import re

import pytest

pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

from qcoinf_ros.ros import param_docs  # noqa: E402 - needs rclpy (ParamSpec's descriptor)

PAGE = Path(__file__).resolve().parents[2] / 'docs' / 'parameters.md'
NODES = ['scenario_node', 'agent_encoder_node', 'edge_decoder_node', 'planner_node',
         'frequency_actuator_node', 'monitor_node', 'camera_node', 'foxglove_node']


def _section(text: str, node: str) -> str:
    start = re.search(rf'^### `{node}`.*$', text, re.MULTILINE)
    assert start, f'{PAGE.name} has no section for {node}'
    end = re.search(r'^##', text[start.end():], re.MULTILINE)
    return text[start.end():start.end() + (end.start() if end else len(text))]


def test_every_node_has_a_generated_table():
    assert sorted(param_docs.page_tables(PAGE.read_text())) == sorted(NODES)
    assert sorted(param_docs.NODES) == sorted(NODES)


@pytest.mark.parametrize('node', NODES)
def test_the_generated_table_is_what_the_code_declares(node):
    table = param_docs.page_tables(PAGE.read_text()).get(node)
    assert table == param_docs.node_table(node), (
        f"{PAGE.name}'s table of {node} differs from its PARAMS: run `{param_docs.COMMAND}` "
        '(python -c "from qcoinf_ros.ros.param_docs import write_page; '
        "write_page('docs/parameters.md')\") and commit docs/parameters.md")


@pytest.mark.parametrize('node', NODES)
def test_the_parameter_table_matches_the_declared_parameters(node):
    specs = importlib.import_module(f'qcoinf_ros.ros.nodes.{node}').PARAMS
    section = _section(PAGE.read_text(), node)
    assert param_docs.begin_marker(node) in section  # the table sits in its node's section
    table = section[section.index('| parameter | type | default |'):]
    rows = [(name, kind, default)
            for names, kind, default in re.findall(
                r'^\| (`[a-z0-9_]+`(?:, `[a-z0-9_]+`)*) \| ([^|]+) \| ([^|]*) \|', table,
                re.MULTILINE)
            for name in re.findall(r'`([a-z0-9_]+)`', names)]
    assert sorted(name for name, _, _ in rows) == sorted(s.name for s in specs)
    for name, kind, default in rows:
        spec = next(s for s in specs if s.name == name)
        assert ('read-only' in kind) == spec.read_only, name
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            assert float(default) == float(spec.default), (name, default, spec.default)


def test_regenerating_replaces_only_the_tables(tmp_path):
    page = tmp_path / 'parameters.md'
    stale = (f'# Prose\n\nkept\n\n{param_docs.begin_marker("monitor_node")}\n| old |\n'
             f'{param_docs.END}\n\nmore prose\n')
    page.write_text(stale)
    assert param_docs.write_page(page) is True
    assert page.read_text() == (f'# Prose\n\nkept\n\n{param_docs.begin_marker("monitor_node")}\n'
                                f'{param_docs.node_table("monitor_node")}{param_docs.END}\n\n'
                                'more prose\n')
    assert param_docs.write_page(page) is False  # already current
