"""Validator and follower: every malformed class is rejected with its own reason and moves nothing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tatbot_arm_driver.conversions import msg_from_spec, spec_from_msg
from tatbot_arm_driver.core.follower import TrajectoryFollower
from tatbot_arm_driver.core.validation import (
    RejectReason,
    SafetyLimits,
    TrajectoryRejected,
    TrajectorySpec,
    validate_trajectory,
)
from tatbot_bringup.robot_config import load_robot_config

NOW = 1000.0
CONFIG = load_robot_config()
LIMITS = SafetyLimits.from_config(CONFIG)
NAMES = tuple(CONFIG.joint_names)
READY = CONFIG.pose("ready")


def chunk(n: int = 5, dt: float = 0.1, step: float = 0.01, stamp: float = 0.0, **changes) -> TrajectorySpec:
    """A valid n-point chunk from READY, joint 0 of each arm moving ``step`` per point."""
    t = dt * np.arange(1, n + 1)
    q = np.tile(READY, (n, 1))
    q[:, 0] += step * np.arange(1, n + 1)
    q[:, 7] -= step * np.arange(1, n + 1)
    spec = TrajectorySpec(joint_names=NAMES, stamp=stamp, time_from_start=t, positions=q, velocities=None)
    return dataclasses.replace(spec, **changes)


def with_value(spec: TrajectorySpec, point: int, joint: int, value: float, field: str = "positions"):
    array = getattr(spec, field)
    array = (np.zeros_like(spec.positions) if array is None else array).copy()
    array[point, joint] = value
    return dataclasses.replace(spec, **{field: array})


def shifted(spec: TrajectorySpec, joint: int, offset: float) -> TrajectorySpec:
    positions = spec.positions.copy()
    positions[:, joint] += offset
    return dataclasses.replace(spec, positions=positions)


def reorder(spec: TrajectorySpec, order: list[int]) -> TrajectorySpec:
    return dataclasses.replace(
        spec, joint_names=tuple(spec.joint_names[i] for i in order), positions=spec.positions[:, order]
    )


MALFORMED = {
    "empty names": (RejectReason.EMPTY_NAMES, lambda: chunk(joint_names=(), positions=np.zeros((5, 0)))),
    "unknown name": (RejectReason.UNKNOWN_JOINT, lambda: chunk(joint_names=("left/elbow", *NAMES[1:]))),
    "duplicate names": (RejectReason.DUPLICATE_JOINT, lambda: chunk(joint_names=(NAMES[1], *NAMES[1:]))),
    "positions shorter than names": (RejectReason.SIZE_MISMATCH, lambda: chunk(positions=np.zeros((5, 13)))),
    "fewer position rows than times": (RejectReason.SIZE_MISMATCH, lambda: chunk(positions=np.zeros((4, 14)))),
    "velocities size": (RejectReason.SIZE_MISMATCH, lambda: chunk(velocities=np.zeros((5, 12)))),
    "empty points": (
        RejectReason.EMPTY_POINTS,
        lambda: chunk(time_from_start=np.zeros(0), positions=np.zeros((0, 14))),
    ),
    "equal times": (
        RejectReason.NON_INCREASING_TIME,
        lambda: chunk(time_from_start=np.array([0.1, 0.2, 0.2, 0.3, 0.4])),
    ),
    "decreasing times": (
        RejectReason.NON_INCREASING_TIME,
        lambda: chunk(time_from_start=np.array([0.1, 0.3, 0.2, 0.4, 0.5])),
    ),
    "negative time": (
        RejectReason.NON_INCREASING_TIME,
        lambda: chunk(time_from_start=np.array([-0.1, 0.1, 0.2, 0.3, 0.4])),
    ),
    "NaN position": (RejectReason.NOT_FINITE, lambda: with_value(chunk(), 2, 3, np.nan)),
    "+Inf position": (RejectReason.NOT_FINITE, lambda: with_value(chunk(), 1, 9, np.inf)),
    "-Inf position": (RejectReason.NOT_FINITE, lambda: with_value(chunk(), 4, 0, -np.inf)),
    "NaN velocity": (RejectReason.NOT_FINITE, lambda: with_value(chunk(), 0, 2, np.nan, "velocities")),
    "NaN time": (
        RejectReason.NOT_FINITE,
        lambda: chunk(time_from_start=np.array([0.1, np.nan, 0.3, 0.4, 0.5])),
    ),
    "Inf stamp": (RejectReason.NOT_FINITE, lambda: chunk(stamp=np.inf)),
    "position above limit": (RejectReason.POSITION_LIMIT, lambda: with_value(chunk(), 4, 6, 0.0401)),
    "position below limit": (RejectReason.POSITION_LIMIT, lambda: with_value(chunk(), 4, 8, -0.01)),
    "implied velocity": (RejectReason.VELOCITY_LIMIT, lambda: chunk(dt=0.01, step=0.04)),
    "given velocity": (RejectReason.VELOCITY_LIMIT, lambda: with_value(chunk(), 1, 3, 7.5, "velocities")),
    "first point too far": (RejectReason.FIRST_POINT_JUMP, lambda: with_value(chunk(), 0, 1, READY[1] + 0.3)),
    "carriage first point too far": (RejectReason.FIRST_POINT_JUMP, lambda: with_value(chunk(), 0, 13, 0.03)),
    "first point too fast from the setpoint": (
        RejectReason.VELOCITY_LIMIT,
        lambda: shifted(chunk(dt=0.02), 0, 0.2),
    ),
    "whole trajectory in the past": (RejectReason.EXPIRED, lambda: chunk(stamp=NOW - 1.0)),
    "partial joint set": (
        RejectReason.PARTIAL_JOINTS,
        lambda: chunk(joint_names=NAMES[:7], positions=chunk().positions[:, :7]),
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_trajectory_is_rejected_with_its_reason_and_moves_nothing(case):
    reason, make = MALFORMED[case]
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    follower.step(NOW - 0.01)
    with pytest.raises(TrajectoryRejected) as info:
        follower.submit(make(), NOW)
    assert info.value.reason == reason, str(info.value)
    assert str(info.value).startswith(reason.value)
    for k in range(20):
        setpoint = follower.step(NOW + 0.01 * k)
        np.testing.assert_array_equal(setpoint.position, READY)
        np.testing.assert_array_equal(setpoint.velocity, 0.0)
    assert follower.trajectory_id == 0


def test_every_reason_is_covered():
    assert {reason for reason, _ in MALFORMED.values()} == set(RejectReason)


def test_messages_name_joint_point_value_and_bound():
    with pytest.raises(TrajectoryRejected) as info:
        validate_trajectory(with_value(chunk(), 3, 6, 0.05), LIMITS, READY, NOW)
    message = str(info.value)
    assert "point 3" in message and "left/left_carriage_joint" in message
    assert "0.05" in message and "0.04" in message
    with pytest.raises(TrajectoryRejected) as info:
        validate_trajectory(shifted(chunk(dt=0.02), 0, 0.2), LIMITS, READY, NOW)
    assert "point 0: left/joint_0 moves 0.21 from the current setpoint" in str(info.value)


def test_valid_chunk_is_reordered_to_canonical_order_in_absolute_time():
    spec = chunk()
    order = list(range(13, -1, -1))
    validated = validate_trajectory(reorder(spec, order), LIMITS, READY, NOW)
    np.testing.assert_allclose(validated.positions, spec.positions)
    np.testing.assert_allclose(validated.times, NOW + spec.time_from_start)
    assert validated.dropped == 0


def test_expired_points_are_dropped_and_stamp_is_used():
    spec = chunk(stamp=NOW - 0.25)
    validated = validate_trajectory(spec, LIMITS, spec.positions[2], NOW)
    assert validated.dropped == 2
    np.testing.assert_allclose(validated.times, [NOW + 0.05, NOW + 0.15, NOW + 0.25])
    np.testing.assert_allclose(validated.positions, spec.positions[2:])


def test_partial_goals_hold_the_other_joints_when_allowed():
    limits = dataclasses.replace(LIMITS, allow_partial=True)
    spec = chunk(joint_names=NAMES[:7], positions=chunk().positions[:, :7])
    validated = validate_trajectory(spec, limits, READY, NOW)
    np.testing.assert_allclose(validated.positions[:, :7], spec.positions)
    np.testing.assert_allclose(validated.positions[:, 7:], np.tile(READY[7:], (5, 1)))


def test_limits_come_from_config_and_scale():
    scaled = dataclasses.replace(CONFIG.safety, velocity_scale=0.5)
    limits = SafetyLimits.from_config(dataclasses.replace(CONFIG, safety=scaled))
    np.testing.assert_allclose(limits.max_velocity, 0.5 * CONFIG.velocity)
    np.testing.assert_allclose(LIMITS.max_jump[[0, 6]], [CONFIG.safety.max_jump_rad, CONFIG.safety.max_jump_m])
    assert LIMITS.control_period == pytest.approx(1.0 / CONFIG.joint_state_rate)
    # a chunk that is fine at full speed is too fast at half speed
    with pytest.raises(TrajectoryRejected) as info:
        validate_trajectory(chunk(dt=0.01, step=0.03), limits, READY, NOW)
    assert info.value.reason == RejectReason.VELOCITY_LIMIT


def test_message_round_trip_and_ragged_points():
    spec = chunk(stamp=NOW + 0.123456789, velocities=np.full((5, 14), 0.01))
    back = spec_from_msg(msg_from_spec(spec))
    assert back.joint_names == spec.joint_names
    assert back.stamp == pytest.approx(spec.stamp, abs=1e-6)
    np.testing.assert_allclose(back.time_from_start, spec.time_from_start, atol=1e-9)
    np.testing.assert_allclose(back.positions, spec.positions)
    np.testing.assert_allclose(back.velocities, spec.velocities)
    assert spec_from_msg(msg_from_spec(chunk())).velocities is None
    msg = msg_from_spec(spec)
    msg.points[3].velocities = []
    with pytest.raises(TrajectoryRejected) as info:
        spec_from_msg(msg)
    assert info.value.reason == RejectReason.SIZE_MISMATCH and "point 3" in str(info.value)
