"""
``qcoinf demo``: run the scripted scenario through real ROS 2 processes and show it live.

The scenario node runs as a separate process (real DDS between processes); this process
subscribes to its topics, prints what arrives and a summary, and exits 0 when the scenario was
received in full.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from rich.console import Console

from qcoinf_ros.resources import share_file
from qcoinf_ros.ros.processes import loopback_dds_env, NodeProcess


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='qcoinf demo', description=__doc__.splitlines()[0])
    parser.add_argument('--params-file', default=None,
                        help='scenario parameters (default: the shipped config/demo.yaml)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='give up after this many seconds (default: 30)')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    params_file = args.params_file or str(share_file('config/demo.yaml'))
    domain = os.environ.get('ROS_DOMAIN_ID') or str(random.randint(1, 100))
    os.environ.update(loopback_dds_env(domain_id=int(domain)))

    import rclpy
    from sensor_msgs.msg import BatteryState
    from std_msgs.msg import Float64

    from qcoinf_ros.ros.qos import LATCHED, SENSOR

    battery: list[tuple[float, float]] = []
    deadlines: list[tuple[float, float]] = []
    start = time.monotonic()

    rclpy.init()
    node = rclpy.create_node('qcoinf_demo')

    def on_battery(msg: BatteryState) -> None:
        battery.append((time.monotonic() - start, msg.percentage))
        if len(battery) % 5 == 1:
            console.print(f'[{battery[-1][0]:5.1f} s] battery {msg.percentage:6.1%}  '
                          f'{msg.voltage:.1f} V')

    def on_deadline(msg: Float64) -> None:
        deadlines.append((time.monotonic() - start, msg.data))
        console.print(f'[{deadlines[-1][0]:5.1f} s] [bold]deadline T0 = {msg.data:g} s[/bold]')

    node.create_subscription(BatteryState, 'battery_state', on_battery, SENSOR)
    node.create_subscription(Float64, 'qcoinf/deadline', on_deadline, LATCHED)
    console.print(f'qcoinf demo: ROS_DOMAIN_ID={domain}, scenario from {params_file}')
    scenario = NodeProcess('scenario_node', ['--params-file', params_file], env=dict(os.environ))
    try:
        while scenario.returncode is None and time.monotonic() - start < args.timeout:
            rclpy.spin_once(node, timeout_sec=0.1)
        for _ in range(5):  # drain what is still in flight
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        code = scenario.stop()
        node.destroy_node()
        rclpy.try_shutdown()

    ok = code == 0 and len(battery) >= 2 and len(deadlines) >= 2 and \
        battery[-1][1] < battery[0][1]
    console.print()
    if battery:
        console.print(f'battery: {len(battery)} messages, {battery[0][1]:.1%} -> '
                      f'{battery[-1][1]:.1%}')
    console.print(f'deadlines: {[round(d, 3) for _, d in deadlines]} s')
    console.print(f'scenario node exit code: {code}')
    if not ok:
        console.print('[red]demo failed: the scenario was not received in full[/red]')
        console.print(scenario.output)
        return 1
    console.print('[green]demo ok[/green]')
    return 0
