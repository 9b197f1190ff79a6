"""
Humble (JetPack 6, Ubuntu 22.04) runs Python 3.10: the package must stay valid Python 3.10.

Checked statically (`make check`), as no 3.10 interpreter is at hand: every source file parses
with the 3.10 grammar (``ast.parse(feature_version=(3, 10))`` rejects ``except*``, type
parameter lists and ``type`` aliases, ...), and none uses a standard-library name that 3.11 or
later added (the list below: modules, functions and classes the 3.10 library lacks).
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / 'qcoinf_ros').rglob('*.py'), *(ROOT / 'launch').glob('*.py'),
                  *(ROOT / 'scripts').glob('*.py'), ROOT / 'setup.py'])

#: Modules new in 3.11+.
NEW_MODULES = {'tomllib', 'wsgiref.types'}
#: (module, name) pairs new in 3.11+, as imported (`from M import N`) or used (`M.N`).
NEW_NAMES = {
    ('datetime', 'UTC'), ('enum', 'StrEnum'), ('enum', 'ReprEnum'), ('enum', 'verify'),
    ('enum', 'member'), ('enum', 'nonmember'), ('enum', 'global_enum'), ('enum', 'EnumCheck'),
    ('enum', 'FlagBoundary'), ('typing', 'Self'), ('typing', 'LiteralString'),
    ('typing', 'Never'), ('typing', 'assert_never'), ('typing', 'assert_type'),
    ('typing', 'reveal_type'), ('typing', 'Required'), ('typing', 'NotRequired'),
    ('typing', 'TypeVarTuple'), ('typing', 'Unpack'), ('typing', 'dataclass_transform'),
    ('typing', 'override'), ('typing', 'TypeAliasType'), ('typing', 'get_overloads'),
    ('typing', 'clear_overloads'), ('asyncio', 'TaskGroup'), ('asyncio', 'timeout'),
    ('asyncio', 'Runner'), ('asyncio', 'Barrier'), ('hashlib', 'file_digest'),
    ('operator', 'call'), ('itertools', 'batched'), ('contextlib', 'chdir'),
    ('math', 'exp2'), ('math', 'cbrt'), ('math', 'sumprod'), ('statistics', 'correlation'),
    ('sys', 'exception'), ('sys', 'monitoring'), ('builtins', 'ExceptionGroup'),
    ('builtins', 'BaseExceptionGroup'),
}
NEW_BUILTINS = {'ExceptionGroup', 'BaseExceptionGroup'}


def _violations(path: Path) -> list[str]:
    source = path.read_text()
    try:
        tree = ast.parse(source, filename=str(path), feature_version=(3, 10))
    except SyntaxError as exc:
        return [f'{exc.lineno}: not Python 3.10 syntax: {exc.msg}']
    found = []
    aliases: dict[str, str] = {}  # local name -> module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in NEW_MODULES:
                    found.append(f'{node.lineno}: import {alias.name} (3.11+)')
                aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in NEW_MODULES:
                found.append(f'{node.lineno}: from {node.module} (3.11+)')
            for alias in node.names:
                if (node.module, alias.name) in NEW_NAMES:
                    found.append(f'{node.lineno}: from {node.module} import {alias.name} (3.11+)')
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module and (module, node.attr) in NEW_NAMES:
                found.append(f'{node.lineno}: {module}.{node.attr} (3.11+)')
        elif isinstance(node, ast.Name) and node.id in NEW_BUILTINS:
            found.append(f'{node.lineno}: {node.id} (3.11+)')
        elif isinstance(node, ast.Attribute) and node.attr == 'add_note':
            found.append(f'{node.lineno}: BaseException.add_note (3.11+)')
    return found


def test_sources_are_found():
    assert len(SOURCES) > 50
    assert ROOT / 'qcoinf_ros' / 'ros' / 'nodes' / 'camera_node.py' in SOURCES


def test_every_source_is_python_3_10():
    problems = [f'{path.relative_to(ROOT)}:{line}' for path in SOURCES
                for line in _violations(path)]
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('snippet', [
    'try:\n    pass\nexcept* ValueError:\n    pass\n',
    'def f[T](x: T) -> T:\n    return x\n',
    'import tomllib\n',
    'from typing import Self\n',
    'import datetime\nx = datetime.UTC\n',
    'import enum as e\nclass C(e.StrEnum):\n    pass\n',
    'raise ExceptionGroup("x", [ValueError()])\n',
])
def test_the_check_finds_3_11_code(tmp_path, snippet):
    path = tmp_path / 'new.py'
    path.write_text(snippet)
    assert _violations(path)


def test_the_check_passes_3_10_code(tmp_path):
    path = tmp_path / 'old.py'
    path.write_text('from __future__ import annotations\nimport datetime\n'
                    'def f(x: int | None) -> list[int]:\n'
                    '    match x:\n        case None:\n            return []\n'
                    '    return [x, datetime.timezone.utc.utcoffset(None).days]\n')
    assert not _violations(path)
