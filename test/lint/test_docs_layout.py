"""docs/architecture.md's table and docs/cli.md's command table match the tree and ``qcoinf``."""

from pathlib import Path
import re

import pytest

from qcoinf_ros.tools.cli.main import COMMANDS

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = (ROOT / 'docs' / 'architecture.md').read_text()
CLI = (ROOT / 'docs' / 'cli.md').read_text()
WORD = re.compile(r'^[a-z][a-z0-9-]*(\\\|[a-z][a-z0-9-]*)*$')


def test_the_architecture_table_names_every_package_folder_and_no_other():
    """Each wing and each folder of a wing: ``qcoinf_ros/core/``, ``qcoinf_ros/core/lut/``..."""
    named = set()
    for row in re.findall(r'^\| (.+?) \|', ARCHITECTURE, re.MULTILINE):
        named |= set(re.findall(r'`qcoinf_ros/([a-z_]+(?:/[a-z_]+)?)/`', row))

    def folders(root: Path) -> list[Path]:
        return [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(('_', '.'))]
    wings = folders(ROOT / 'qcoinf_ros')
    tree = {w.name for w in wings} | {f'{w.name}/{p.name}' for w in wings for p in folders(w)}
    assert {'core', 'ros/nodes', 'tools/cli'} <= tree
    assert named == tree


def _documented_commands() -> list[tuple[str, ...]]:
    commands = []
    for text in re.findall(r'^\| `qcoinf ([^`]+)` \|', CLI, re.MULTILINE):
        words = []
        for token in text.split():
            if not WORD.match(token):
                break
            words.append(token.split('\\|'))
        paths = [()]
        for alternatives in words:
            paths = [path + (a,) for path in paths for a in alternatives]
        commands += paths
    return commands


def test_the_command_table_documents_every_qcoinf_command_and_no_other():
    rows = _documented_commands()
    assert ('train', 'fcdnn') in rows and ('bag', 'record') in rows  # the parser itself
    for command in COMMANDS:
        assert any(row[:len(command)] == command for row in rows), f'undocumented: {command}'
    for row in rows:
        assert any(row[:len(c)] == c for c in COMMANDS), f'no such command: qcoinf {row}'


def test_the_pre_commit_hooks_run_commands_this_repository_has():
    import yaml
    config = yaml.safe_load((ROOT / '.pre-commit-config.yaml').read_text())
    hooks = [h for repo in config['repos'] for h in repo['hooks']]
    assert {h['id'] for h in hooks} >= {'flake8', 'mypy', 'make-check'}
    makefile = (ROOT / 'Makefile').read_text()
    for hook in hooks:
        program, *rest = hook['entry'].split()
        if program == 'make':
            assert re.search(rf'^{rest[0]}:', makefile, re.MULTILINE), hook
        else:
            assert (ROOT / program).is_file(), hook
        assert hook['language'] == 'system'  # the project's pinned environment, no other
