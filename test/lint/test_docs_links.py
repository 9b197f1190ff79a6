"""
Every relative link of README.md and docs/ reaches a file, and every #anchor a heading.

Anchors are GitHub's: the heading's text lowercased, punctuation dropped but for ``-`` and
``_``, spaces made ``-``; a repeated heading gets ``-1``, ``-2``, ... Pure file reading (no
rclpy): part of ``make check``.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').rglob('*.md'))]
FENCE = re.compile(r'^\s*(```|~~~)')
HEADING = re.compile(r'^(#{1,6})\s+(.+?)\s*#*\s*$')
# [text](target) and ![alt](target); the text may hold one level of [brackets]
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
HTML_ID = re.compile(r'<a\s+(?:id|name)="([^"]+)"')  # an explicit anchor (docs/results.md)
CODE_SPAN = re.compile(r'(`+)(?:(?!\1).)+?\1')
EXTERNAL = re.compile(r'^[a-z][a-z0-9+.-]*:', re.IGNORECASE)  # http:, https:, mailto:, ...


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Return (line number, line) for the lines outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.split('\n'), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def github_anchor(heading: str) -> str:
    """Return the anchor GitHub gives a heading's text (before duplicates are numbered)."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # a link: its text
    text = re.sub(r'<[^>]+>', '', text)  # inline HTML tags
    text = re.sub(r'[^\w\- ]', '', text.strip().lower())
    return text.replace(' ', '-')


def anchors(path: Path) -> set[str]:
    """Return every anchor a markdown file defines: its headings' and its ``<a id>``s."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in _prose_lines(path.read_text()):
        found.update(HTML_ID.findall(line))
        match = HEADING.match(line)
        if not match:
            continue
        base = github_anchor(match[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f'{base}-{count}')
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """Return (line number, target) of every link in a markdown file's prose."""
    found = []
    for number, line in _prose_lines(path.read_text()):
        line = CODE_SPAN.sub('', line)
        found += [(number, target) for target in LINK.findall(line)]
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(path: Path) -> list[str]:
    """Return a description of every relative link of ``path`` that leads nowhere."""
    broken = []
    for number, target in links(path):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition('#')
        destination = (path.parent / file_part).resolve() if file_part else path
        where = f'{_shown(path)}:{number}: {target}'
        if not destination.exists():
            broken.append(f'{where} (no such file)')
        elif anchor and destination.suffix == '.md' and anchor not in anchors(destination):
            broken.append(f'{where} (no heading #{anchor} in {destination.name})')
    return broken


def test_the_anchor_rules_are_github_s():
    assert github_anchor('Humble (JetPack 6, Python 3.10)') == 'humble-jetpack-6-python-310'
    assert github_anchor('`planner_node`') == 'planner_node'
    assert github_anchor("On a GPU: the server and a Jetson's agent") == \
        'on-a-gpu-the-server-and-a-jetsons-agent'
    assert github_anchor('Figs. 5–8 and Table I: caption quality') == \
        'figs-58-and-table-i-caption-quality'
    assert github_anchor('Parameter files and `ros2 param load`') == \
        'parameter-files-and-ros2-param-load'


def test_a_repeated_heading_is_numbered(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('# A\n\n## Notes\n\n```\n## Notes\n```\n\n## Notes\n\n## Notes\n')
    assert anchors(page) == {'a', 'notes', 'notes-1', 'notes-2'}


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / 'other.md').write_text('# Other page\n')
    page = tmp_path / 'page.md'
    page.write_text('# Page\n\n[ok](other.md#other-page) [self](#page) [web](https://x.org/#y)\n'
                    '`[code](nowhere.md)` [gone](nowhere.md) [bad](other.md#no-such)\n'
                    '[bad self](#other-page)\n')
    assert [b.split(': ', 1)[1] for b in broken_links(page)] == [
        'nowhere.md (no such file)', 'other.md#no-such (no heading #no-such in other.md)',
        '#other-page (no heading #other-page in page.md)']


@pytest.mark.parametrize('page', PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_the_readme_links_every_docs_page():
    readme = ROOT / 'README.md'
    linked = {(readme.parent / target.partition('#')[0]).resolve()
              for _, target in links(readme) if not EXTERNAL.match(target)}
    pages = {p.resolve() for p in (ROOT / 'docs').glob('*.md')}
    assert sorted(p.name for p in pages - linked) == []
