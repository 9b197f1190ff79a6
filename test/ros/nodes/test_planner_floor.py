"""The planner node's quality floor (``min_bit_width``), in this process, real callbacks."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy', reason='rclpy missing: run through `make test`')


def test_min_bit_width_holds_the_plan_at_the_floor_and_publishes_it_infeasible(context):
    from rclpy.parameter import Parameter
    from std_msgs.msg import Float64

    from qcoinf_ros.core.planner import PlanningProblem
    from qcoinf_ros.core.planner.core import evaluate_point
    from qcoinf_ros.ros.nodes.planner_node import PlannerNode

    overrides = [Parameter('b_max', value=8), Parameter('e0_full', value=1e6),  # energy: loose
                 Parameter('planning_period', value=0.0)]  # each input planned at once
    node = PlannerNode(context=context, parameter_overrides=overrides)
    try:
        params, cost, _ = node.planning_model()
        problem = PlanningProblem(params, node.lam, 1.0, math.inf, cost)
        t2, t3 = (evaluate_point(problem, b, params.f_max, params.f_max_server).delay
                  for b in (2, 3))
        node._on_deadline(Float64(data=0.5 * (t2 + t3)))  # b = 2 fits, b = 3 does not
        assert node._plan.feasible and node._plan.bit_width == 2, node._plan.reason
        assert node.set_parameters([Parameter('min_bit_width', value=4)])[0].successful
        plan = node._plan
        assert not plan.feasible and plan.fallback.bit_width == 4, plan.reason
        assert 'b_min = 4' in plan.reason
        # a floor above B_max is capped at it: the plan is B_max, still infeasible
        assert node.set_parameters([Parameter('min_bit_width', value=12)])[0].successful
        assert not node._plan.feasible and node._plan.fallback.bit_width == 8
        refused = node.set_parameters([Parameter('min_bit_width', value=0)])[0]
        assert not refused.successful and 'min_bit_width' in refused.reason
        assert node.set_parameters([Parameter('min_bit_width', value=1)])[0].successful
        assert node._plan.feasible and node._plan.bit_width == 2
    finally:
        node.destroy_node()
