"""The package as installed by colcon: manifest, entry points, shipped files, CLI."""

from pathlib import Path
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
    nodes = sorted(p.stem for p in (ROOT / 'qcoinf_ros' / 'ros' / 'nodes').glob('*.py')
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
    run = [sys.executable, '-m', 'qcoinf_ros.tools.cli.main']
    out = subprocess.run(run + ['--help'], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and 'demo' in out.stdout and 'bench planner' in out.stdout
    bad = subprocess.run(run + ['frobnicate'], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and 'unknown command' in bad.stderr
    group = subprocess.run(run + ['bench'], capture_output=True, text=True, timeout=60)
    assert group.returncode == 2 and 'planner' in group.stderr


def test_dds_profile_command_renders_the_two_hosts_profile(tmp_path, capsys):
    from qcoinf_ros.tools.cli.main import main
    assert main(['dds-profile', '192.168.1.10', '192.168.1.20']) == 0
    text = capsys.readouterr().out
    assert '<address>192.168.1.10</address>' in text and '192.168.1.20' in text
    out = tmp_path / 'dds.xml'
    assert main(['dds-profile', '10.0.0.1', '10.0.0.2', '--out', str(out)]) == 0
    assert '10.0.0.2' in out.read_text() and capsys.readouterr().out == ''
    with pytest.raises(SystemExit):
        main(['dds-profile', '10.0.0.300', '10.0.0.2'])
    assert 'must be an IPv4 address' in capsys.readouterr().err


def _package_copy(dest: Path) -> Path:
    """Copy to ``dest`` the files setup.py needs to build the kernel library."""
    import shutil
    for name in ('setup.py', 'setup.cfg', 'package.xml'):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / 'resource', dest / 'resource')
    shutil.copytree(ROOT / 'qcoinf_ros' / 'core' / 'lut' / 'csrc',
                    dest / 'qcoinf_ros' / 'core' / 'lut' / 'csrc')
    for init in ('qcoinf_ros/__init__.py', 'qcoinf_ros/core/__init__.py',
                 'qcoinf_ros/core/lut/__init__.py'):
        shutil.copy(ROOT / init, dest / init)
    return dest


def _setup(dest: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    import os
    return subprocess.run([sys.executable, 'setup.py', *args], cwd=dest, capture_output=True,
                          text=True, timeout=600, env={**os.environ, **(env or {})})


def test_without_a_compiler_the_package_still_builds_and_says_why(tmp_path):
    src = _package_copy(tmp_path)
    no_cc = {'CC': 'false', 'CXX': 'false', 'LDSHARED': 'false', 'LDCXXSHARED': 'false'}
    run = _setup(src, 'build_ext', '--inplace', env=no_cc)
    assert run.returncode == 0, run.stderr
    assert 'qcoinf_ros.core.lut._qlut' in run.stdout + run.stderr  # the optional build was tried
    assert not list(src.glob('qcoinf_ros/core/lut/_qlut*.so'))


def test_the_kernel_library_builds_in_place_and_into_build_lib(tmp_path):
    from qcoinf_ros.core.lut.library import KernelLibrary
    import shutil
    if not (shutil.which('c++') or shutil.which('g++')):
        pytest.skip('no C++ compiler: the optional extension cannot be built here')
    src = _package_copy(tmp_path)
    # `colcon build --symlink-install` (setup.py develop -> build_ext --inplace)
    run = _setup(src, 'build_ext', '--inplace')
    assert run.returncode == 0, run.stderr
    # no Python ABI tag: any Python loads it
    built = src / 'qcoinf_ros' / 'core' / 'lut' / '_qlut.so'
    assert built.is_file(), run.stdout
    lib = KernelLibrary(built)
    assert lib.variant_name in lib.supported and 'scalar' in lib.supported
    # `colcon build` and `pip install` (setup.py build): the library goes with the package
    run = _setup(src, 'build', '--build-base', str(tmp_path / 'b'))
    assert run.returncode == 0, run.stderr
    assert list((tmp_path / 'b').glob('lib*/qcoinf_ros/core/lut/_qlut.so')), run.stdout
