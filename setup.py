"""Build script of the qcoinf_ros ament_python package."""

from glob import glob
import os

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

package_name = 'qcoinf_ros'


class CtypesExtension(Extension):
    """A plain C-ABI shared library loaded with ctypes (no Python.h, no module init)."""


class BuildCtypesExt(build_ext):
    """Build ``CtypesExtension`` s as ``<name>.so`` (no Python ABI tag: any Python loads them)."""

    def get_ext_filename(self, ext_name):
        # distutils asks with the full dotted name and with its last component alone
        if any(isinstance(e, CtypesExtension) and ext_name in (e.name, e.name.split('.')[-1])
               for e in self.extensions):
            return os.path.join(*ext_name.split('.')) + '.so'
        return super().get_ext_filename(ext_name)

    def get_export_symbols(self, ext):
        return [] if isinstance(ext, CtypesExtension) else super().get_export_symbols(ext)


# The bit-plane lookup-table kernels (qcoinf_ros/lut). Optional: without a C++ compiler the
# package still installs and the agent runs the (logged) dequantized reference path. ISA
# variants are selected at run time (target attributes), so the build is portable: no -march.
QLUT = CtypesExtension(
    'qcoinf_ros.lut._qlut',
    sources=['qcoinf_ros/lut/csrc/qlut.cpp'],
    depends=['qcoinf_ros/lut/csrc/qlut.h'],
    include_dirs=['qcoinf_ros/lut/csrc'],
    language='c++',
    extra_compile_args=['-O3', '-std=c++17', '-ffp-contract=off', '-fvisibility=hidden',
                        '-DQLUT_EXPORT=1'],
    extra_link_args=['-pthread'],
    optional=True,
)


def _files(pattern):
    return sorted(path for path in glob(pattern) if os.path.isfile(path))


# One entry per node (each file holds one Node subclass and a main()) plus the `qcoinf` CLI. The
# entry points install the stop request before importing the node (qcoinf_ros/ros/entry.py).
NODES = {name: f'qcoinf_ros.ros.entry:{name}' for name in (
    'agent_encoder_node', 'camera_node', 'edge_decoder_node', 'frequency_actuator_node',
    'monitor_node', 'planner_node', 'scenario_node')}

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={package_name: [
        'weights/*.safetensors', 'weights/captioner/*/*.safetensors',
        'weights/captioner/*/*.json',
        'lut/csrc/*.cpp', 'lut/csrc/*.h',
    ]},
    ext_modules=[QLUT],
    cmdclass={'build_ext': BuildCtypesExt},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', _files('launch/*')),
        ('share/' + package_name + '/config', _files('config/*')),
        ('share/' + package_name + '/config/presets', _files('config/presets/*')),
        ('share/' + package_name + '/rviz', _files('rviz/*')),
        ('share/' + package_name + '/bags/sample_bag', _files('test/data/sample_bag/*')),
    ],
    install_requires=['setuptools'],
    extras_require={
        # `tests_require` is ignored by the setuptools colcon uses: declare test deps here.
        'test': ['pytest', 'hypothesis', 'flake8', 'pydocstyle'],
        'rl': ['stable-baselines3', 'gymnasium'],
    },
    zip_safe=False,
    maintainer='qcoinf_ros maintainers',
    maintainer_email='qcoinf-maintainers@example.org',
    description='Quantization-aware collaborative inference for embodied agents on ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'qcoinf = qcoinf_ros.cli.main:main',
            *(f'{name} = {target}' for name, target in NODES.items()),
        ],
    },
)
