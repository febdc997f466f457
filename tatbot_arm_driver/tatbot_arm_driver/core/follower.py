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

The spline is sampled on a *trajectory clock* that runs ``lag`` s behind ROS time at a rate in
[0, 1] (1 normally). Two things slow it, always along the planned path and with the path speed
changing at most by the acceleration limit:

* **A stall** (a step more than ``STALL_PERIODS`` control periods after the previous one: the
  process was stopped, starved or swapped): the lost time is added to ``lag`` instead of being
  caught up, the arm is taken to have stopped (rate 0), and the rate ramps back to 1.
* **A stream timeout**: a trajectory submitted with ``streamed=True`` while another streamed one
  is still running makes the follower *streaming*; when ``stream_timeout`` then passes without a
  new streamed trajectory, the rate ramps down to 0 and the follower holds
  (``STREAM_TIMEOUT``). A lone trajectory (the first of a stream, an action goal, a move) runs
  to its end as before.
"""

from __future__ import annotations

import enum
import math
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
    STREAM_TIMEOUT = "stream_timeout"  # a stream stopped: no new trajectory within stream_timeout


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
STALL_PERIODS = 1.5  # a step this many control periods after the previous one follows a stall


def path_rate_step(rate: float, target: float, velocity: np.ndarray, max_acceleration: np.ndarray, dt: float) -> float:
    """The trajectory clock's rate after ``dt`` s of moving from ``rate`` towards ``target`` (0 or 1)
    as fast as the acceleration limit allows: the setpoint velocity is rate x ``velocity`` (the
    path's), so the rate may change by min(max_acceleration / |velocity|) per s."""
    speed = np.abs(velocity)
    moving = speed > 1e-9  # rad/s or m/s: slower is standing still (and would overflow the ratio)
    change = math.inf if not moving.any() else float(np.min(max_acceleration[moving] / speed[moving])) * dt
    return min(rate + change, target) if target > rate else max(rate - change, target)


class TrajectoryFollower:
    """Turns validated trajectories into a setpoint stream at the control rate."""

    def __init__(
        self, limits: SafetyLimits, position: np.ndarray, command_timeout: float, stream_timeout: float = math.inf
    ):
        self._limits = limits
        self._timeout = float(command_timeout)
        self._stream_timeout = float(stream_timeout)
        self._position = np.array(position, dtype=float)
        self._velocity = np.zeros_like(self._position)
        self._spline: HermiteSpline | None = None
        self._state = FollowerState.HOLDING
        self._hold_reason: HoldReason | None = HoldReason.STARTUP
        self._last_step: float | None = None
        self._trajectory_id = 0
        self._outcomes: dict[int, tuple[Outcome, HoldReason | None]] = {}
        self._lag = 0.0  # s, ROS time minus trajectory time of the running spline
        self._rate = 1.0  # trajectory seconds per ROS second
        self._streamed = False  # the running trajectory came from a stream
        self._stream_deadline = math.inf  # ROS time by which the next streamed trajectory must arrive
        self._stopping = False  # the stream timed out: ramping the rate down to a hold

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
        """ROS time of the last point of the running trajectory (as re-timed so far), None while holding."""
        return None if self._spline is None else self._spline.end + self._lag

    @property
    def streaming(self) -> bool:
        """A stream is running: the stream timeout applies."""
        return math.isfinite(self._stream_deadline)

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
        position, velocity = self._spline.sample(now - self._lag)
        return position, velocity * self._rate

    def submit(self, spec: TrajectorySpec, now: float, streamed: bool = False) -> int:
        """Validate ``spec`` and splice it in at ``now``; return its id. Raises TrajectoryRejected.

        ``streamed``: it came from a stream source (the trajectory topic); replacing a running
        streamed trajectory, it starts (or continues) a stream with the stream timeout."""
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
        continues_stream = streamed and self._streamed and self._state == FollowerState.TRACKING
        self._end(Outcome.PREEMPTED, None)
        self._spline = HermiteSpline(times=times, positions=positions, velocities=velocities)
        self._lag, self._rate, self._stopping = 0.0, 1.0, False
        self._streamed = streamed
        self._stream_deadline = now + self._stream_timeout if continues_stream else math.inf
        self._state = FollowerState.TRACKING
        self._hold_reason = None
        self._trajectory_id += 1
        return self._trajectory_id

    def hold(self, reason: HoldReason) -> None:
        """Stop now: freeze the setpoint at the last stepped one, zero velocity."""
        self._end(Outcome.HELD, reason)
        self._spline = None
        self._streamed, self._stream_deadline, self._stopping = False, math.inf, False
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
        limits = self._limits
        elapsed = limits.control_period if self._last_step is None else max(now - self._last_step, 0.0)
        if self._spline is not None:
            elapsed = self._retime(now, elapsed)
        if self._stopping and self._rate == 0.0:
            self.hold(HoldReason.STREAM_TIMEOUT)
        target, velocity = self.current(now)
        if self._spline is not None and now - self._lag >= self._spline.end:
            if self._state == FollowerState.TRACKING:
                self._end(Outcome.REACHED, None)
                self._state = FollowerState.SETTLING
            if now - self._lag >= self._spline.end + self._timeout:
                self._spline = None
                self._state = FollowerState.HOLDING
                self._hold_reason = HoldReason.COMMAND_TIMEOUT
        max_step = limits.max_velocity * elapsed
        position = np.clip(target, self._position - max_step, self._position + max_step)
        position = np.clip(position, limits.lower, limits.upper)
        clamped = not np.allclose(position, target, rtol=0.0, atol=1e-9)
        self._position = position
        self._velocity = np.clip(velocity, -limits.max_velocity, limits.max_velocity)
        self._last_step = now
        return Setpoint(position.copy(), self._velocity.copy(), self._state, clamped)

    def _retime(self, now: float, elapsed: float) -> float:
        """Move the trajectory clock to ``now`` (stall, stream timeout); returns the elapsed time
        the safety clamp may use (one control period after a stall: nothing is caught up)."""
        period = self._limits.control_period
        if elapsed > STALL_PERIODS * period:
            self._lag += elapsed - period
            self._rate = 0.0
            elapsed = period
        if now > self._stream_deadline:
            self._stopping = True
        target = 0.0 if self._stopping else 1.0
        if self._rate != target:
            path_velocity = self._spline.sample(now - self._lag)[1]
            rate = path_rate_step(self._rate, target, path_velocity, self._limits.max_acceleration, elapsed)
            self._lag += (1.0 - (self._rate + rate) / 2) * elapsed  # the clock ran at the mean rate
            self._rate = rate
        return elapsed

    def _end(self, outcome: Outcome, reason: HoldReason | None) -> None:
        """Record how the running trajectory ended (if one is running)."""
        if self._state != FollowerState.TRACKING:
            return
        self._outcomes[self._trajectory_id] = (outcome, reason)
        for old in [k for k in self._outcomes if k <= self._trajectory_id - _OUTCOME_HISTORY]:
            del self._outcomes[old]
