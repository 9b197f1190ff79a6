"""The package as installed by colcon: manifest, entry points, shipped files, CLI."""

from pathlib import Path
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_manifest_is_format_3_ament_python():
    root = ET.parse(ROOT / 'package.xml').getroot()
    assert root.tag == 'package' and root.get('format') == '3'
    assert root.findtext('name') == 'qcoinf_ros'
    assert root.find('export/build_type').text == 'ament_python'
    exec_deps = {e.text for e in root.findall('exec_depend')}
    assert {'rclpy', 'std_msgs', 'sensor_msgs', 'diagnostic_msgs'} <= exec_deps


def _installed_prefix():
    ament = pytest.importorskip('ament_index_python.packages')
    try:
        return Path(ament.get_package_prefix('qcoinf_ros'))
    except (KeyError, OSError):  # not found, or AMENT_PREFIX_PATH unset
        pytest.skip('qcoinf_ros is not installed in an ament prefix: run through `make test`')


def test_every_node_file_has_an_installed_executable():
    prefix = _installed_prefix()
    nodes = sorted(p.stem for p in (ROOT / 'qcoinf_ros' / 'nodes').glob('*.py')
                   if p.stem != '__init__')
    assert nodes, 'no node modules found'
    lib = prefix / 'lib' / 'qcoinf_ros'
    missing = [n for n in nodes + ['qcoinf'] if not (lib / n).is_file()]
    assert not missing, f'no executable in {lib} for {missing}'


def test_share_files_are_installed():
    prefix = _installed_prefix()
    share = prefix / 'share' / 'qcoinf_ros'
    for relative in ('package.xml', 'config/fastdds_localhost.xml', 'config/demo.yaml'):
        assert (share / relative).is_file(), relative
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'qcoinf_ros'
    assert index.is_file()


def test_cli_lists_commands_and_rejects_unknown_ones():
    run = [sys.executable, '-m', 'qcoinf_ros.cli.main']
    out = subprocess.run(run + ['--help'], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and 'demo' in out.stdout and 'bench planner' in out.stdout
    bad = subprocess.run(run + ['frobnicate'], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and 'unknown command' in bad.stderr
    group = subprocess.run(run + ['bench'], capture_output=True, text=True, timeout=60)
    assert group.returncode == 2 and 'planner' in group.stderr
