"""
Scenario node: publishes a scripted battery drain and deadline schedule.

It stands in for the robot's battery driver and mission layer in the demo, in replay-free tests
and in the lab; on a robot the real driver publishes ``battery_state`` instead.

Topics out: ``battery_state`` (sensor_msgs/BatteryState, sensor-data QoS) at ``rate_hz``;
``qcoinf/deadline`` (std_msgs/Float64, seconds per inference, reliable + transient local) each
time the scheduled value changes. With ``duration`` > 0 the node exits by itself afterwards.
"""

from __future__ import annotations

import sys

from rclpy.node import Node
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Float64

from qcoinf_ros.core.scenario import BatteryDrain, PiecewiseConstant
from qcoinf_ros.ros.params import declare_all, install_validator, ParamSpec
from qcoinf_ros.ros.qos import LATCHED, SENSOR
from qcoinf_ros.ros.spin import run_node

PARAMS = [
    ParamSpec('rate_hz', 2.0, 'Rate of battery_state messages [Hz].', low=0.1, high=100.0),
    ParamSpec('initial_percentage', 1.0, 'State of charge at start [0..1].', low=0.0, high=1.0),
    ParamSpec('floor_percentage', 0.0, 'The charge never drops below this [0..1].',
              low=0.0, high=1.0),
    ParamSpec('drain_per_second', 0.01, 'Discharge per second, as a fraction of capacity.',
              low=0.0, high=1.0),
    ParamSpec('capacity_ah', 2.0, 'Battery capacity [Ah].', low=1e-3, high=1e4),
    ParamSpec('voltage', 14.8, 'Battery voltage [V].', low=0.1, high=1000.0),
    ParamSpec('deadline_times', [0.0], 'Times [s from start] at which the deadline changes; '
              'starts at 0, strictly increasing.', type='float[]', low=0.0, high=1e6,
              min_items=1),
    ParamSpec('deadline_values', [1.0], 'Deadline T0 [s per inference] from each time on.',
              type='float[]', low=1e-6, high=1e6, min_items=1),
    ParamSpec('duration', 0.0, 'Exit after this many seconds; 0 runs until stopped.',
              low=0.0, high=1e6),
    ParamSpec('frame_id', 'base_link', 'frame_id of the published battery_state header.'),
    ParamSpec('wait_for_subscribers', 0, 'Hold the scenario clock at 0 until this many '
              'subscribers of battery_state are matched (or wait_timeout passes).',
              low=0, high=1000),
    ParamSpec('wait_timeout', 10.0, 'Longest wait for subscribers [s].', low=0.0, high=3600.0),
]


def _build(values: dict) -> tuple[BatteryDrain, PiecewiseConstant]:
    battery = BatteryDrain(
        initial_percentage=values['initial_percentage'], capacity_ah=values['capacity_ah'],
        voltage=values['voltage'], drain_per_second=values['drain_per_second'],
        floor_percentage=values['floor_percentage'])
    deadline = PiecewiseConstant(
        tuple(values['deadline_times']), tuple(values['deadline_values']))
    return battery, deadline


def _reason(values: dict) -> str | None:
    try:
        _build(values)
    except ValueError as exc:
        return str(exc)
    return None


class ScenarioNode(Node):
    """Publishes the scripted battery state and deadline."""

    def __init__(self, **kwargs):
        super().__init__('scenario_node', **kwargs)
        values = declare_all(self, PARAMS)
        reason = _reason(values)
        if reason is not None:
            raise ValueError(f'invalid parameters: {reason}')
        self._battery, self._deadline = _build(values)
        self._values = values
        self._battery_pub = self.create_publisher(BatteryState, 'battery_state', SENSOR)
        self._deadline_pub = self.create_publisher(Float64, 'qcoinf/deadline', LATCHED)
        self._created = self.get_clock().now()
        self._start = None  # set when the subscribers are there (wait_for_subscribers)
        self._last_deadline: float | None = None
        self._timer = self.create_timer(1.0 / values['rate_hz'], self._tick)
        install_validator(self, PARAMS, extra=_reason, on_change=self._on_change)
        self.get_logger().info(
            f'scenario: battery {values["initial_percentage"]:.0%} draining '
            f'{values["drain_per_second"]:.1%}/s, deadlines {list(values["deadline_values"])} s '
            f'at {list(values["deadline_times"])} s')

    @property
    def finished(self) -> bool:
        duration = self._values['duration']
        return duration > 0.0 and self._elapsed() >= duration

    def _elapsed(self) -> float:
        if self._start is None:
            return 0.0
        return (self.get_clock().now() - self._start).nanoseconds * 1e-9

    def _started(self) -> bool:
        if self._start is None:
            waited = (self.get_clock().now() - self._created).nanoseconds * 1e-9
            matched = self._battery_pub.get_subscription_count()
            if matched >= self._values['wait_for_subscribers'] or \
                    waited >= self._values['wait_timeout']:
                self._start = self.get_clock().now()
                self.get_logger().info(
                    f'scenario starts ({matched} subscribers after {waited:.1f} s)')
        return self._start is not None

    def _on_change(self, changed: dict) -> None:
        self._values.update(changed)
        self._battery, self._deadline = _build(self._values)
        if 'rate_hz' in changed:
            self._timer.cancel()
            self._timer = self.create_timer(1.0 / self._values['rate_hz'], self._tick)
        self._last_deadline = None  # republish the deadline in force

    def _tick(self) -> None:
        if not self._started():
            return
        elapsed = self._elapsed()
        now = self.get_clock().now().to_msg()
        sample = self._battery.at(elapsed)
        msg = BatteryState()
        msg.header.stamp = now
        msg.header.frame_id = self._values['frame_id']
        msg.voltage = float(sample.voltage)
        msg.current = float(sample.current_a)
        msg.charge = float(sample.charge_ah)
        msg.capacity = float(self._battery.capacity_ah)
        msg.design_capacity = float(self._battery.capacity_ah)
        msg.percentage = float(sample.percentage)
        msg.power_supply_status = (
            BatteryState.POWER_SUPPLY_STATUS_DISCHARGING if sample.current_a < 0
            else BatteryState.POWER_SUPPLY_STATUS_NOT_CHARGING)
        msg.power_supply_health = BatteryState.POWER_SUPPLY_HEALTH_GOOD
        msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
        msg.present = True
        self._battery_pub.publish(msg)

        deadline = self._deadline.at(elapsed)
        if deadline != self._last_deadline:
            self._deadline_pub.publish(Float64(data=float(deadline)))
            self.get_logger().info(f'deadline T0 = {deadline:g} s (t = {elapsed:.1f} s)')
            self._last_deadline = deadline


def main(args=None) -> int:
    return run_node(ScenarioNode, args, 'scenario_node', done=lambda node: node.finished)


if __name__ == '__main__':
    sys.exit(main())
