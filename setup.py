"""Build script of the qcoinf_ros ament_python package."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'qcoinf_ros'


def _files(pattern):
    return sorted(path for path in glob(pattern) if os.path.isfile(path))


# One entry per node (each file holds one Node subclass and a main()) plus the `qcoinf` CLI.
NODES = {
    'agent_encoder_node': 'qcoinf_ros.nodes.agent_encoder_node:main',
    'camera_node': 'qcoinf_ros.nodes.camera_node:main',
    'edge_decoder_node': 'qcoinf_ros.nodes.edge_decoder_node:main',
    'frequency_actuator_node': 'qcoinf_ros.nodes.frequency_actuator_node:main',
    'monitor_node': 'qcoinf_ros.nodes.monitor_node:main',
    'planner_node': 'qcoinf_ros.nodes.planner_node:main',
    'scenario_node': 'qcoinf_ros.nodes.scenario_node:main',
}

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={package_name: [
        'models/weights/*.safetensors', 'models/weights/*.json',
        'captioner/weights/*.safetensors', 'captioner/weights/*.json',
    ]},
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
