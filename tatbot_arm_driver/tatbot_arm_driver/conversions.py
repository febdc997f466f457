"""Message <-> plain-data conversions for the arm driver (message types only, no rclpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from tatbot_arm_driver.core.validation import RejectReason, TrajectoryRejected, TrajectorySpec


def seconds_from_time(stamp: Time | Duration) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def time_from_seconds(seconds: float) -> Time:
    sec, nanosec = divmod(round(seconds * 1e9), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def duration_from_seconds(seconds: float) -> Duration:
    sec, nanosec = divmod(round(seconds * 1e9), 1_000_000_000)
    return Duration(sec=sec, nanosec=nanosec)


def _matrix(rows: list, n_names: int, field: str) -> np.ndarray:
    """Stack per-point value lists into (N, J); a ragged point is a SIZE_MISMATCH rejection."""
    for k, row in enumerate(rows):
        if len(row) != n_names:
            raise TrajectoryRejected(
                RejectReason.SIZE_MISMATCH,
                f"point {k}: {len(row)} {field} for {n_names} joint names",
            )
    return np.array([np.asarray(row, dtype=float) for row in rows], dtype=float).reshape(len(rows), n_names)


def spec_from_msg(msg: JointTrajectory) -> TrajectorySpec:
    """A JointTrajectory as a TrajectorySpec.

    Velocities are used when every point has them and ignored when no point has them; a mix
    (or any ragged point) raises TrajectoryRejected(SIZE_MISMATCH). Accelerations and efforts
    are not used by the driver.
    """
    names = tuple(msg.joint_names)
    points = msg.points
    positions = _matrix([p.positions for p in points], len(names), "positions")
    given = [len(p.velocities) > 0 for p in points]
    velocities = None
    if any(given):
        velocities = _matrix([p.velocities for p in points], len(names), "velocities")
    return TrajectorySpec(
        joint_names=names,
        stamp=seconds_from_time(msg.header.stamp),
        time_from_start=np.array([seconds_from_time(p.time_from_start) for p in points], dtype=float),
        positions=positions,
        velocities=velocities,
    )


def msg_from_spec(spec: TrajectorySpec, frame_id: str = "") -> JointTrajectory:
    """The inverse of :func:`spec_from_msg` (stamp 0.0 stays a zero stamp = "now")."""
    msg = JointTrajectory()
    msg.header.stamp = time_from_seconds(spec.stamp)
    msg.header.frame_id = frame_id
    msg.joint_names = list(spec.joint_names)
    for k, t in enumerate(np.asarray(spec.time_from_start, dtype=float)):
        point = JointTrajectoryPoint(
            positions=np.asarray(spec.positions[k], dtype=float).tolist(),
            time_from_start=duration_from_seconds(float(t)),
        )
        if spec.velocities is not None:
            point.velocities = np.asarray(spec.velocities[k], dtype=float).tolist()
        msg.points.append(point)
    return msg


def joint_state_msg(
    stamp: Time, names: Sequence[str], position: np.ndarray, velocity: np.ndarray | None = None
) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = np.asarray(position, dtype=float).tolist()
    if velocity is not None:
        msg.velocity = np.asarray(velocity, dtype=float).tolist()
    return msg


def trajectory_point(position: np.ndarray, velocity: np.ndarray | None = None) -> JointTrajectoryPoint:
    point = JointTrajectoryPoint(positions=np.asarray(position, dtype=float).tolist())
    if velocity is not None:
        point.velocities = np.asarray(velocity, dtype=float).tolist()
    return point
