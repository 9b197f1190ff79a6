"""README's architecture table and command table match the package tree and ``qcoinf``."""

from pathlib import Path
import re

from qcoinf_ros.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'README.md').read_text()
WORD = re.compile(r'^[a-z][a-z0-9-]*(\\\|[a-z][a-z0-9-]*)*$')


def _section(title: str) -> str:
    start = README.index(f'\n## {title}\n')
    end = README.find('\n## ', start + 1)
    return README[start:end if end > 0 else len(README)]


def test_the_architecture_table_names_every_package_folder_and_no_other():
    named = set()
    for row in re.findall(r'^\| (.+?) \|', _section('Architecture'), re.MULTILINE):
        named |= set(re.findall(r'`qcoinf_ros/([a-z_]+)/`', row))
    folders = {p.name for p in (ROOT / 'qcoinf_ros').iterdir()
               if p.is_dir() and (p / '__init__.py').is_file()}
    assert named == folders


def _readme_commands() -> list[tuple[str, ...]]:
    commands = []
    for text in re.findall(r'^\| `qcoinf ([^`]+)` \|', README, re.MULTILINE):
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
    rows = _readme_commands()
    assert ('train', 'fcdnn') in rows and ('bag', 'record') in rows  # the parser itself
    for command in COMMANDS:
        assert any(row[:len(command)] == command for row in rows), f'undocumented: {command}'
    for row in rows:
        assert any(row[:len(c)] == c for c in COMMANDS), f'no such command: qcoinf {row}'
