"""retract_spec: where the needle retract starts (pure, no ROS)."""

from __future__ import annotations

import numpy as np
import pytest

from tatbot_arm_driver.core.validation import TrajectorySpec
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config
from tatbot_vla_policy.retract import PLAN_LEAD, PLAN_TOLERANCE, plan_pose, retract_spec

CONFIG = load_robot_config()
KIN = RobotKinematics.from_config(CONFIG)
NAMES = CONFIG.joint_names
READY = CONFIG.pose("ready")
RATE = 10.0


def chunk(stamp: float, points: int = 10) -> TrajectorySpec:
    """A chunk from ready, the first joint turning 0.01 rad per 0.1 s point, stamped at ``stamp``."""
    positions = np.tile(READY, (points, 1))
    positions[:, 0] += 0.01 * np.arange(points)
    return TrajectorySpec(tuple(NAMES), stamp, 0.1 * np.arange(points), positions)


def backs_out_from(spec: TrajectorySpec, q: np.ndarray, n: int) -> None:
    """The last 5 points: both needles 10 mm straight back along their axes from pose ``q``."""
    path = spec.positions[n:]
    assert len(path) == 5
    for arm in ("left", "right"):
        tip, axis = KIN.needle_tip(q, arm), KIN.needle_axis(q, arm)
        for j, row in enumerate(path, start=1):
            np.testing.assert_allclose(KIN.needle_tip(row, arm), tip - 0.01 * axis * j / 5, atol=2e-5)


def test_without_a_plan_it_starts_from_the_measured_joints_on_arrival():
    spec = retract_spec(KIN, NAMES, READY, 0.01, 0.02, RATE)
    assert spec.stamp == 0.0  # from the goal's arrival
    np.testing.assert_allclose(spec.time_from_start, 0.1 * np.arange(1, 6))
    backs_out_from(spec, READY, 0)


def test_with_a_plan_it_follows_the_plan_for_the_lead_then_backs_out_from_the_plans_point():
    plan, now = chunk(stamp=100.0), 100.25  # points due at 100.0 ... 100.9
    measured = plan_pose(plan, now) - 0.5 * PLAN_TOLERANCE  # the arms lag the plan a little
    spec = retract_spec(KIN, NAMES, measured, 0.01, 0.02, RATE, plan, now)
    assert spec.stamp == now
    due = spec.stamp + spec.time_from_start
    # the plan's points still ahead (100.3, 100.4, 100.5; the first >= now + lead is 100.6) ...
    first = 100.0 + 0.1 * np.flatnonzero(100.0 + 0.1 * np.arange(10) >= now + PLAN_LEAD)[0]
    kept = np.flatnonzero((100.0 + 0.1 * np.arange(10) > now) & (100.0 + 0.1 * np.arange(10) <= first + 1e-9))
    n = len(kept)
    np.testing.assert_allclose(due[:n], 100.0 + 0.1 * kept)
    np.testing.assert_allclose(spec.positions[:n], plan.positions[kept])
    # ... then the retract from the last of them, one point per period
    np.testing.assert_allclose(due[n:], first + 0.1 * np.arange(1, 6))
    backs_out_from(spec, plan.positions[kept[-1]], n)


@pytest.mark.parametrize(("now", "kept"), [(100.75, 2), (101.5, 0)])
def test_a_plan_ending_within_the_lead_is_finished_and_one_over_leaves_the_arms_at_its_end(now, kept):
    plan = chunk(stamp=100.0)  # last point due at 100.9
    spec = retract_spec(KIN, NAMES, plan_pose(plan, now), 0.01, 0.02, RATE, plan, now)
    due = spec.stamp + spec.time_from_start
    np.testing.assert_allclose(spec.positions[:kept], plan.positions[10 - kept :])
    np.testing.assert_allclose(due[kept:], max(100.9, now) + 0.1 * np.arange(1, 6))
    backs_out_from(spec, plan.positions[-1], kept)


def test_a_plan_the_arms_are_not_following_is_ignored():
    """The driver held (a stream timeout, a fault, a refused chunk) while the plan went on: the
    retract starts from the measured joints, at the goal's arrival."""
    plan, now = chunk(stamp=100.0), 100.25
    measured = plan_pose(plan, 100.0)  # stopped at the plan's start
    assert np.max(np.abs(plan_pose(plan, now) - measured)) > PLAN_TOLERANCE
    spec = retract_spec(KIN, NAMES, measured, 0.01, 0.02, RATE, plan, now)
    assert spec.stamp == 0.0 and len(spec.positions) == 5
    backs_out_from(spec, measured, 0)
