"""Trajectory validation: the safety gate every command passes before anything moves.

Pure Python (numpy only, no rclpy). The driver calls :func:`validate_trajectory` on every
``JointTrajectory`` it receives; the policy node calls it on every chunk before publishing.
A rejection raises :class:`TrajectoryRejected` whose ``reason`` is a :class:`RejectReason`
and whose message names the joint, the point index, the value and the bound.

Checks, in order (the first failing one is reported):

1. structure: names non-empty, no duplicates, all known, all 14 unless partial goals are
   configured, at least one point, array shapes consistent;
2. every number finite (stamp, times, positions, velocities);
3. ``time_from_start`` >= 0 and strictly increasing;
4. positions inside the joint limits;
5. velocities (given ones, and the ones implied by consecutive points) inside the scaled limits;
6. at least one point still in the future at ``now`` (the expired ones are dropped);
7. the first kept point within ``max_jump`` of the current setpoint, and reachable from it
   within the velocity limits (over at least one control period).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class RejectReason(enum.StrEnum):
    """Why a trajectory was rejected (the value is the snake_case name reported to users)."""

    EMPTY_NAMES = "empty_names"
    UNKNOWN_JOINT = "unknown_joint"
    DUPLICATE_JOINT = "duplicate_joint"
    PARTIAL_JOINTS = "partial_joints"
    SIZE_MISMATCH = "size_mismatch"
    EMPTY_POINTS = "empty_points"
    NON_INCREASING_TIME = "non_increasing_time"
    NOT_FINITE = "not_finite"
    POSITION_LIMIT = "position_limit"
    VELOCITY_LIMIT = "velocity_limit"
    FIRST_POINT_JUMP = "first_point_jump"
    EXPIRED = "expired"


class TrajectoryRejected(ValueError):
    """A trajectory failed validation; nothing moved. ``reason`` names the failed check."""

    def __init__(self, reason: RejectReason, message: str):
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class TrajectorySpec:
    """A ``trajectory_msgs/JointTrajectory`` as plain data."""

    joint_names: tuple[str, ...]
    stamp: float  # s, ROS time the trajectory starts at; 0.0 = "now" (time of reception)
    time_from_start: np.ndarray  # (N,) s, relative to stamp
    positions: np.ndarray  # (N, J) rad (m for carriages), columns in joint_names order
    velocities: np.ndarray | None = None  # (N, J) rad/s (m/s), or None when not given


@dataclass(frozen=True)
class SafetyLimits:
    """Everything the validator checks against, in canonical joint order."""

    joint_names: tuple[str, ...]  # canonical order
    lower: np.ndarray  # (J,) rad / m
    upper: np.ndarray  # (J,) rad / m
    max_velocity: np.ndarray  # (J,) rad/s / m/s, already scaled by safety.velocity_scale
    max_jump: np.ndarray  # (J,) rad / m, largest step of the first point from the current setpoint
    max_acceleration: np.ndarray  # (J,) rad/s^2 / m/s^2, of the follower's stops and resumes (not validated)
    allow_partial: bool = False  # True: a trajectory may name a subset of the joints
    control_period: float = 0.01  # s, shortest time the first segment is given (1 / control rate)

    @classmethod
    def from_config(cls, config) -> SafetyLimits:
        """Limits from a :class:`tatbot_bringup.robot_config.RobotConfig`."""
        return cls(
            joint_names=tuple(config.joint_names),
            lower=_frozen(config.lower),
            upper=_frozen(config.upper),
            max_velocity=_frozen(config.velocity * config.safety.velocity_scale),
            max_jump=_frozen(config.max_jump),
            max_acceleration=_frozen(config.max_acceleration),
            allow_partial=config.safety.allow_partial_joints,
            control_period=1.0 / config.joint_state_rate,
        )

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.joint_names)}


@dataclass(frozen=True)
class ValidatedTrajectory:
    """A validated trajectory in canonical joint order and absolute time, expired points dropped.

    Joints the spec did not name (partial goals) hold the current setpoint.
    """

    times: np.ndarray  # (M,) s, absolute ROS time, strictly increasing, all > now
    positions: np.ndarray  # (M, J) canonical order
    velocities: np.ndarray | None  # (M, J) canonical order, or None (estimated when interpolating)
    dropped: int = 0  # points dropped because they were already in the past


def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.flags.writeable = False
    return a


def _check_structure(spec: TrajectorySpec, limits: SafetyLimits) -> np.ndarray:
    """Return the canonical column of each named joint; raise on a structural problem."""
    names = tuple(spec.joint_names)
    if not names:
        raise TrajectoryRejected(RejectReason.EMPTY_NAMES, "joint_names is empty; name the joints the points command")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TrajectoryRejected(
                RejectReason.DUPLICATE_JOINT, f"joint {name!r} appears more than once in joint_names"
            )
        seen.add(name)
    index = limits.index()
    unknown = [n for n in names if n not in index]
    if unknown:
        raise TrajectoryRejected(
            RejectReason.UNKNOWN_JOINT,
            f"unknown joint {unknown[0]!r}; known joints: {list(limits.joint_names)}",
        )
    if len(names) != len(limits.joint_names) and not limits.allow_partial:
        missing = [n for n in limits.joint_names if n not in seen]
        raise TrajectoryRejected(
            RejectReason.PARTIAL_JOINTS,
            f"trajectory names {len(names)} of {len(limits.joint_names)} joints (missing {missing}) "
            "and partial goals are disabled (safety.allow_partial_joints)",
        )
    n_points = np.shape(spec.time_from_start)[0] if np.ndim(spec.time_from_start) == 1 else -1
    if n_points == 0:
        raise TrajectoryRejected(RejectReason.EMPTY_POINTS, "trajectory has no points")
    shape = (n_points, len(names))
    if n_points < 0 or np.shape(spec.positions) != shape:
        raise TrajectoryRejected(
            RejectReason.SIZE_MISMATCH,
            f"positions have shape {np.shape(spec.positions)}, expected {shape} "
            f"({n_points} points x {len(names)} joint names)",
        )
    if spec.velocities is not None and np.shape(spec.velocities) != shape:
        raise TrajectoryRejected(
            RejectReason.SIZE_MISMATCH,
            f"velocities have shape {np.shape(spec.velocities)}, expected {shape} "
            f"({n_points} points x {len(names)} joint names)",
        )
    return np.array([index[n] for n in names], dtype=int)


def _first_bad(mask: np.ndarray) -> tuple[int, int]:
    """(point, column) of the first True entry of a (N, J) mask."""
    k, j = np.argwhere(mask)[0]
    return int(k), int(j)


def _check_finite(spec: TrajectorySpec, times: np.ndarray, q: np.ndarray, v: np.ndarray | None) -> None:
    names = spec.joint_names
    if not np.isfinite(spec.stamp):
        raise TrajectoryRejected(RejectReason.NOT_FINITE, f"header stamp is {spec.stamp}")
    if not np.all(np.isfinite(times)):
        k = int(np.flatnonzero(~np.isfinite(times))[0])
        raise TrajectoryRejected(RejectReason.NOT_FINITE, f"point {k}: time_from_start is {times[k]}")
    for label, values in (("position", q), ("velocity", v)):
        if values is not None and not np.all(np.isfinite(values)):
            k, j = _first_bad(~np.isfinite(values))
            raise TrajectoryRejected(RejectReason.NOT_FINITE, f"point {k}: {names[j]} {label} is {values[k, j]}")


def _check_times(times: np.ndarray) -> None:
    if times[0] < 0:
        raise TrajectoryRejected(RejectReason.NON_INCREASING_TIME, f"point 0: time_from_start {times[0]} s is negative")
    steps = np.diff(times)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise TrajectoryRejected(
            RejectReason.NON_INCREASING_TIME,
            f"point {k}: time_from_start {times[k]} s is not after point {k - 1} ({times[k - 1]} s)",
        )


def _check_limits(spec: TrajectorySpec, limits: SafetyLimits, cols: np.ndarray, times: np.ndarray, q, v) -> None:
    names = spec.joint_names
    lower, upper, vmax = limits.lower[cols], limits.upper[cols], limits.max_velocity[cols]
    outside = (q < lower) | (q > upper)
    if np.any(outside):
        k, j = _first_bad(outside)
        raise TrajectoryRejected(
            RejectReason.POSITION_LIMIT,
            f"point {k}: {names[j]} position {q[k, j]:.6g} outside [{lower[j]:.6g}, {upper[j]:.6g}]",
        )
    if v is not None:
        fast = np.abs(v) > vmax
        if np.any(fast):
            k, j = _first_bad(fast)
            raise TrajectoryRejected(
                RejectReason.VELOCITY_LIMIT,
                f"point {k}: {names[j]} velocity {v[k, j]:.6g} exceeds the limit {vmax[j]:.6g}",
            )
    if len(times) > 1:
        implied = np.abs(np.diff(q, axis=0)) / np.diff(times)[:, None]
        fast = implied > vmax
        if np.any(fast):
            k, j = _first_bad(fast)
            raise TrajectoryRejected(
                RejectReason.VELOCITY_LIMIT,
                f"point {k + 1}: {names[j]} moves {q[k + 1, j] - q[k, j]:.6g} in "
                f"{times[k + 1] - times[k]:.6g} s from point {k}, implied velocity {implied[k, j]:.6g} "
                f"exceeds the limit {vmax[j]:.6g}",
            )


def validate_trajectory(
    spec: TrajectorySpec, limits: SafetyLimits, current: np.ndarray, now: float
) -> ValidatedTrajectory:
    """Validate ``spec`` against ``limits`` from the ``current`` setpoint at ROS time ``now``.

    ``current`` is the (J,) setpoint in canonical order. Returns the kept points in canonical
    order and absolute time; raises :class:`TrajectoryRejected` (nothing may move then).
    """
    cols = _check_structure(spec, limits)
    times = np.asarray(spec.time_from_start, dtype=float)
    q = np.asarray(spec.positions, dtype=float)
    v = None if spec.velocities is None else np.asarray(spec.velocities, dtype=float)
    _check_finite(spec, times, q, v)
    _check_times(times)
    _check_limits(spec, limits, cols, times, q, v)

    start = now if spec.stamp == 0.0 else float(spec.stamp)
    absolute = start + times
    keep = absolute > now
    if not np.any(keep):
        raise TrajectoryRejected(
            RejectReason.EXPIRED,
            f"every point is in the past: the last one was due at {absolute[-1]:.6f} s, "
            f"now is {now:.6f} s ({now - absolute[-1]:.3f} s late); check the header stamp and clocks",
        )
    first = int(np.argmax(keep))
    current = np.asarray(current, dtype=float)
    step = q[first] - current[cols]
    jump = np.abs(step) > limits.max_jump[cols]
    if np.any(jump):
        j = int(np.flatnonzero(jump)[0])
        raise TrajectoryRejected(
            RejectReason.FIRST_POINT_JUMP,
            f"point {first}: {spec.joint_names[j]} is {step[j]:.6g} from the current setpoint "
            f"{current[cols[j]]:.6g}, more than the max jump {limits.max_jump[cols[j]]:.6g}; "
            "start the trajectory at the current setpoint (or use ~/go_to_pose for long moves)",
        )
    lead = max(absolute[first] - now, limits.control_period)
    implied = np.abs(step) / lead
    fast = implied > limits.max_velocity[cols]
    if np.any(fast):
        j = int(np.flatnonzero(fast)[0])
        raise TrajectoryRejected(
            RejectReason.VELOCITY_LIMIT,
            f"point {first}: {spec.joint_names[j]} moves {step[j]:.6g} from the current setpoint in "
            f"{lead:.6g} s, implied velocity {implied[j]:.6g} exceeds the limit "
            f"{limits.max_velocity[cols[j]]:.6g}",
        )

    kept = slice(first, None)
    positions = np.tile(current, (len(times) - first, 1))
    positions[:, cols] = q[kept]
    velocities = None
    if v is not None:
        velocities = np.zeros_like(positions)
        velocities[:, cols] = v[kept]
    return ValidatedTrajectory(times=absolute[kept], positions=positions, velocities=velocities, dropped=first)
