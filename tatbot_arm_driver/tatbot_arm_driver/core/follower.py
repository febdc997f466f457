"""The setpoint generator of the arm driver: splice, interpolate, hold, time out.

Pure Python. The node calls :meth:`TrajectoryFollower.submit` when a trajectory arrives and
:meth:`TrajectoryFollower.step` once per control period; both take the current ROS time.

* ``submit`` validates the trajectory against the setpoint *at that instant* (the same one the
  next ``step`` would produce) and replaces the running trajectory with a cubic Hermite spline
  that starts at that setpoint and velocity, so the splice has no position or velocity jump.
  When the first kept point is due within one control period the start knot is dropped: the
  setpoint then steps by at most one control period at the velocity limit (the validator
  checked that bound).
* ``step`` samples the spline, then applies a last safety clamp (never more than the velocity
  limit times the elapsed time per step, never outside the position limits); after the last
  point it holds there (``SETTLING``) and, ``command_timeout`` later, reports the hold
  (``HOLDING`` with ``COMMAND_TIMEOUT``) until a new trajectory arrives.
* ``hold`` freezes the setpoint where it is now (the last stepped one) with zero velocity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from tatbot_arm_driver.core.interpolation import HermiteSpline, estimate_velocities
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectorySpec, validate_trajectory


class FollowerState(enum.StrEnum):
    HOLDING = "holding"  # no trajectory: the setpoint is constant
    TRACKING = "tracking"  # between the splice and the last point
    SETTLING = "settling"  # holding the last point, waiting for a new trajectory until the timeout


class HoldReason(enum.StrEnum):
    STARTUP = "startup"  # nothing commanded yet
    COMMAND_TIMEOUT = "command_timeout"  # no new trajectory within command_timeout after the last point
    REQUESTED = "requested"  # ~/hold
    CANCELED = "canceled"  # the action goal was canceled
    DISABLED = "disabled"  # ~/enable false or lifecycle deactivate
    FAULT = "fault"  # backend fault or stale feedback


class Outcome(enum.StrEnum):
    RUNNING = "running"
    REACHED = "reached"  # the last point was reached
    PREEMPTED = "preempted"  # replaced by a newer trajectory before its end
    HELD = "held"  # stopped by a hold before its end (see HoldReason)


@dataclass(frozen=True)
class Setpoint:
    position: np.ndarray  # (J,) canonical order
    velocity: np.ndarray  # (J,)
    state: FollowerState
    clamped: bool  # the safety clamp changed the interpolated sample


_OUTCOME_HISTORY = 32  # trajectories whose outcome is remembered (for action results)


class TrajectoryFollower:
    """Turns validated trajectories into a setpoint stream at the control rate."""

    def __init__(self, limits: SafetyLimits, position: np.ndarray, command_timeout: float):
        self._limits = limits
        self._timeout = float(command_timeout)
        self._position = np.array(position, dtype=float)
        self._velocity = np.zeros_like(self._position)
        self._spline: HermiteSpline | None = None
        self._state = FollowerState.HOLDING
        self._hold_reason: HoldReason | None = HoldReason.STARTUP
        self._last_step: float | None = None
        self._trajectory_id = 0
        self._outcomes: dict[int, tuple[Outcome, HoldReason | None]] = {}

    @property
    def position(self) -> np.ndarray:
        return self._position.copy()

    @property
    def velocity(self) -> np.ndarray:
        return self._velocity.copy()

    @property
    def state(self) -> FollowerState:
        return self._state

    @property
    def hold_reason(self) -> HoldReason | None:
        """Why the follower holds (None while tracking or settling)."""
        return self._hold_reason

    @property
    def trajectory_id(self) -> int:
        """Id of the most recent accepted trajectory (0 before the first)."""
        return self._trajectory_id

    @property
    def end_time(self) -> float | None:
        """Time of the last point of the running trajectory, None while holding."""
        return None if self._spline is None else self._spline.end

    def outcome(self, trajectory_id: int) -> tuple[Outcome, HoldReason | None]:
        """How trajectory ``trajectory_id`` ended (or RUNNING), with the hold reason if it was held."""
        if trajectory_id == self._trajectory_id and self._state == FollowerState.TRACKING:
            return Outcome.RUNNING, None
        try:
            return self._outcomes[trajectory_id]
        except KeyError:
            raise KeyError(f"trajectory {trajectory_id} is unknown or too old") from None

    def current(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """The setpoint (position, velocity) the running trajectory gives at ``now``."""
        if self._spline is None:
            return self._position.copy(), np.zeros_like(self._position)
        return self._spline.sample(now)

    def submit(self, spec: TrajectorySpec, now: float) -> int:
        """Validate ``spec`` and splice it in at ``now``; return its id. Raises TrajectoryRejected."""
        position, velocity = self.current(now)
        validated = validate_trajectory(spec, self._limits, position, now)
        times = np.concatenate(([now], validated.times))
        positions = np.vstack((position, validated.positions))
        if validated.velocities is None:
            velocities = estimate_velocities(times, positions)
        else:
            velocities = np.vstack((velocity, validated.velocities))
        velocities[0] = velocity
        if validated.times[0] - now < self._limits.control_period:
            times, positions, velocities = times[1:], positions[1:], velocities[1:]
        self._end(Outcome.PREEMPTED, None)
        self._spline = HermiteSpline(times=times, positions=positions, velocities=velocities)
        self._state = FollowerState.TRACKING
        self._hold_reason = None
        self._trajectory_id += 1
        return self._trajectory_id

    def hold(self, reason: HoldReason) -> None:
        """Stop now: freeze the setpoint at the last stepped one, zero velocity."""
        self._end(Outcome.HELD, reason)
        self._spline = None
        self._velocity = np.zeros_like(self._position)
        self._state = FollowerState.HOLDING
        self._hold_reason = reason

    def reset(self, position: np.ndarray, reason: HoldReason) -> None:
        """Hold at ``position`` (e.g. the measured one after a fault is cleared)."""
        self.hold(reason)
        self._position = np.array(position, dtype=float)
        self._last_step = None

    def step(self, now: float) -> Setpoint:
        """Advance to ``now`` and return the setpoint to command."""
        target, velocity = self.current(now)
        if self._spline is not None and now >= self._spline.end:
            if self._state == FollowerState.TRACKING:
                self._end(Outcome.REACHED, None)
                self._state = FollowerState.SETTLING
            if now >= self._spline.end + self._timeout:
                self._spline = None
                self._state = FollowerState.HOLDING
                self._hold_reason = HoldReason.COMMAND_TIMEOUT
        limits = self._limits
        elapsed = limits.control_period if self._last_step is None else max(now - self._last_step, 0.0)
        max_step = limits.max_velocity * elapsed
        position = np.clip(target, self._position - max_step, self._position + max_step)
        position = np.clip(position, limits.lower, limits.upper)
        clamped = not np.allclose(position, target, rtol=0.0, atol=1e-9)
        self._position = position
        self._velocity = np.clip(velocity, -limits.max_velocity, limits.max_velocity)
        self._last_step = now
        return Setpoint(position.copy(), self._velocity.copy(), self._state, clamped)

    def _end(self, outcome: Outcome, reason: HoldReason | None) -> None:
        """Record how the running trajectory ended (if one is running)."""
        if self._state != FollowerState.TRACKING:
            return
        self._outcomes[self._trajectory_id] = (outcome, reason)
        for old in [k for k in self._outcomes if k <= self._trajectory_id - _OUTCOME_HISTORY]:
            del self._outcomes[old]
