"""
``qcoinf``: the package's command-line tool (demo, benchmarks, ...).

Each sub-command lives in its own module and is imported only when used, so ``qcoinf --help``
stays fast and a command's heavy dependencies (torch, cvxpy, rclpy) load only for it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from qcoinf_ros import __version__

# command path -> (module with `main(argv) -> int`, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ('demo',): ('qcoinf_ros.tools.cli.demo', 'run the live ROS 2 demo scenario and report'),
    ('launch',): ('qcoinf_ros.tools.cli.launch', 'run a launch XML file without ROS 2 launch'),
    ('bag',): ('qcoinf_ros.tools.cli.bag',
               'record, play, info, report: rosbag2 bags (mcap/sqlite3)'),
    ('dds-profile',): ('qcoinf_ros.tools.cli.dds_profile',
                       'the Fast DDS profile of one of two hosts joined by a link'),
    ('monitor',): ('qcoinf_ros.tools.cli.monitor', 'live terminal dashboard of the running graph'),
    ('foxglove',): ('qcoinf_ros.tools.cli.foxglove',
                    'Foxglove WebSocket server of the live graph (image, caption, plots)'),
    ('experiment',): ('qcoinf_ros.tools.cli.experiment',
                      "reproduce the paper's figures and tables (list, NAME, all, report)"),
    ('eval', 'captioner'): ('qcoinf_ros.tools.cli.eval_captioner',
                            'CIDEr and exact match of a captioner, and quality vs bit-width'),
    ('train', 'captioner'): ('qcoinf_ros.tools.cli.train_captioner',
                             'train the tiny scene captioner on CPU (seeded)'),
    ('train', 'distill'): ('qcoinf_ros.tools.cli.distill_captioner',
                           'distil the default scene captioner from the tiny one, and ship it'),
    ('train', 'fcdnn'): ('qcoinf_ros.tools.cli.train_fcdnn',
                         'retrain the shipped FCDNN-16 on the scikit-learn digits (seeded)'),
    ('make', 'sample-bag'): ('qcoinf_ros.tools.cli.make_sample_bag',
                             'write the sample bag (camera frames, battery, deadlines)'),
    ('make', 'random-git'): ('qcoinf_ros.tools.cli.make_random_git',
                             'write a random GIT checkpoint of a chosen size, for timing'),
    ('bench', 'planner'): ('qcoinf_ros.tools.cli.bench_planner',
                           'exact vs SCA vs baselines on random (P1) instances'),
    ('bench', 'encode'): ('qcoinf_ros.tools.cli.bench_encode',
                          "the agent's encode time per kernel and bit-width, through the node"),
    ('bench', 'kernels'): ('qcoinf_ros.tools.cli.bench_kernels',
                           'bit-plane kernels vs fp32 and int8 per bit-width and ISA variant'),
    ('bench', 'quant'): ('qcoinf_ros.tools.cli.bench_quant',
                         'switch time, packed bytes and latency per bit-width and scheme'),
    ('bench', 'pipeline'): ('qcoinf_ros.tools.cli.bench_pipeline',
                            'end-to-end latency through ROS 2 vs in-process; bytes per codec'),
    ('bench', 'soak'): ('qcoinf_ros.tools.cli.bench_soak',
                        'camera -> agent -> decoder for 10,000 frames: drops, latency, RSS'),
    ('bench', 'hostile'): ('qcoinf_ros.tools.cli.bench_hostile',
                           'the pipeline under hostile traffic: captions and memory per phase'),
    ('bench', 'link'): ('qcoinf_ros.tools.cli.bench_link',
                        'agent and server in two network namespaces over a shaped link'),
    ('bench', 'agents'): ('qcoinf_ros.tools.cli.bench_agents',
                          'N agents, one edge decoder: throughput, latency, batching'),
    ('bench', 'failover'): ('qcoinf_ros.tools.cli.bench_failover',
                            'the edge server killed, frozen or cut off and back: local mode'),
}


def _groups() -> dict[str, dict[str, tuple[str, str]]]:
    groups: dict[str, dict[str, tuple[str, str]]] = {}
    for path, target in COMMANDS.items():
        if len(path) == 2:
            groups.setdefault(path[0], {})[path[1]] = target
    return groups


def _usage() -> str:
    lines = [f'qcoinf {__version__}: quantization-aware co-inference on ROS 2', '', 'commands:']
    for path, (_, help_text) in sorted(COMMANDS.items()):
        lines.append(f'  {" ".join(path):<22} {help_text}')
    lines.append('')
    lines.append('Run `qcoinf <command> --help` for the options of a command.')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(_usage())
        return 0
    if argv[0] == '--version':
        print(__version__)
        return 0
    for length in (2, 1):
        key = tuple(argv[:length])
        if key in COMMANDS:
            module = importlib.import_module(COMMANDS[key][0])
            return int(module.main(argv[length:]) or 0)
    if argv[0] in _groups():
        names = ', '.join(sorted(_groups()[argv[0]]))
        print(f'qcoinf {argv[0]}: expected one of: {names}', file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog='qcoinf')
    parser.error(f'unknown command {" ".join(argv[:2])!r}; see `qcoinf --help`')
    return 2


if __name__ == '__main__':
    sys.exit(main())
