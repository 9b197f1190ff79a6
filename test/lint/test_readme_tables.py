"""README's parameter tables name exactly the parameters each node declares (from PARAMS)."""

import importlib
from pathlib import Path
import re

import pytest

pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')

README = Path(__file__).resolve().parents[2] / 'README.md'
NODES = ['scenario_node', 'agent_encoder_node', 'edge_decoder_node', 'planner_node',
         'frequency_actuator_node', 'monitor_node', 'camera_node']


def _section(text: str, node: str) -> str:
    start = re.search(rf'^### `{node}`.*$', text, re.MULTILINE)
    assert start, f'README has no section for {node}'
    end = re.search(r'^##', text[start.end():], re.MULTILINE)
    return text[start.end():start.end() + (end.start() if end else len(text))]


@pytest.mark.parametrize('node', NODES)
def test_the_parameter_table_matches_the_declared_parameters(node):
    specs = importlib.import_module(f'qcoinf_ros.nodes.{node}').PARAMS
    section = _section(README.read_text(), node)
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
