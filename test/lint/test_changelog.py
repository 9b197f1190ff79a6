"""CHANGELOG.rst is in the ROS format bloom reads (catkin_pkg's parser) and matches package.xml."""

from pathlib import Path
import re
import warnings

import pytest

pytestmark = pytest.mark.check

ROOT = Path(__file__).resolve().parents[2]


def test_the_changelog_parses_as_ros_changelogs_do_and_its_release_is_the_package_version():
    changelog = pytest.importorskip('catkin_pkg.changelog', reason='catkin_pkg missing')
    with warnings.catch_warnings():  # catkin_pkg uses docutils' deprecated traverse()
        warnings.simplefilter('ignore', DeprecationWarning)
        parsed = changelog.get_changelog_from_path(str(ROOT / 'CHANGELOG.rst'), 'qcoinf_ros')
    versions = [version for version, _, _ in parsed.foreach_version()]
    package = re.search(r'<version>([^<]+)</version>', (ROOT / 'package.xml').read_text())
    assert versions and versions[0] == package.group(1)
    text = (ROOT / 'CHANGELOG.rst').read_text()
    assert text.startswith('^' * 32 + '\nChangelog for package qcoinf_ros\n' + '^' * 32 + '\n')
    # bloom's "Forthcoming" section, if any, comes first, above the released versions
    headings = re.findall(r'^(.+)\n-+\n', text, re.MULTILINE)
    assert headings[0] == 'Forthcoming' or headings[0].startswith(f'{versions[0]} (')
