"""Action chunks on a time line: re-timing, expiry, blending and the hand-over queue.

A chunk predicted from an observation taken at ``t_obs`` has its action k due at
``t_obs + (offset_steps + k) * dt`` (dt = 1 / fps of the training data). The
publisher asks :meth:`ChunkScheduler.next_plan` for the plan at ``now`` on every
tick: the newest chunk from the inference worker is trimmed of actions already
due (latency compensation), blended with what is left of the previous plan, and
trimmed again on every later tick until a newer chunk replaces it::

    obs        inference (any duration)      publish ticks (10 Hz)
    t_obs ──────────────────────────────────▶ now ── now+1/rate ── ...
    chunk:   a0    a1    a2  │ a3    a4    a5    ...    (a_k due at t_obs + (offset+k)·dt)
                             └ first action due at or after now = header.stamp
"""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np


class InvalidChunk(ValueError):
    """A model output cannot be used as an action chunk (NaN/Inf, wrong shape)."""


def check_chunk(actions: np.ndarray, action_dim: int) -> np.ndarray:
    """(N, action_dim) finite float64 or InvalidChunk naming the first bad value."""
    actions = np.asarray(actions, dtype=np.float64)
    if actions.ndim != 2 or actions.shape[0] < 1 or actions.shape[1] != action_dim:
        raise InvalidChunk(f"expected an action chunk of shape (N>=1, {action_dim}), got {actions.shape}")
    bad = np.argwhere(~np.isfinite(actions))
    if bad.size:
        k, j = (int(v) for v in bad[0])
        raise InvalidChunk(
            f"action chunk contains {len(bad)} non-finite value(s), first at step {k} joint {j}: {actions[k, j]}"
        )
    return actions


# rad / m: a prediction this close beyond a joint limit is float32 round-off of the unnormalized
# output (a joint held at its limit in every demonstration comes back as e.g. 0.0400002 for 0.04)
LIMIT_ROUNDING = 1e-5


def snap_to_limits(actions: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Actions within LIMIT_ROUNDING beyond a joint limit put on the limit; farther ones are left
    for the validator to reject (never moved: a real overshoot is a bad chunk, not noise)."""
    low = (actions < lower) & (actions >= lower - LIMIT_ROUNDING)
    high = (actions > upper) & (actions <= upper + LIMIT_ROUNDING)
    return np.where(low, lower, np.where(high, upper, actions))


def far_start(target: np.ndarray, position: np.ndarray, names, max_jump: np.ndarray) -> str | None:
    """Why a run cannot start from ``position`` (J,) when the policy's first action is ``target``
    (J,): the joints farther from it than the driver's ``max_jump`` (J,; longer moves go through
    ~/go_to_pose), largest first, with their distances and what to do; None when none is."""
    distance = np.abs(np.asarray(target) - np.asarray(position))
    far = np.flatnonzero(distance > max_jump)
    if not len(far):
        return None
    far = far[np.argsort(-distance[far] / max_jump[far])]
    joints = ", ".join(f"{names[j]} {distance[j]:.3f}" for j in far[:4]) + (" ..." if len(far) > 4 else "")
    return (
        f"the policy's first action is far from the robot ({joints} rad/m away, more than the max jump "
        f"{max_jump[far[0]]:g} of {names[far[0]]}): move the arms to where the policy's demonstrations start, "
        'e.g. ros2 service call /arm_driver/go_to_pose tatbot_interfaces/srv/GoToPose "{pose_name: ready}", '
        "then send the goal again"
    )


class BlendMode(enum.StrEnum):
    NONE = "none"  # the new chunk replaces the old one
    CROSSFADE = "crossfade"  # linear hand-over from the old plan to the new chunk over crossfade_time
    ENSEMBLE = "ensemble"  # ACT temporal ensemble: exp(-coeff * i) weights, older predictions first
    # LeRobot Real-Time Chunking: the model is guided to continue the plan, and the splice is crossfaded
    # like CROSSFADE so that what guidance leaves (a few hundredths of a rad) never jumps the setpoint
    RTC = "rtc"


@dataclass(frozen=True)
class BlendConfig:
    mode: BlendMode = BlendMode.NONE
    crossfade_time: float = 0.2  # s, CROSSFADE and RTC: time from the new chunk's start to full weight
    ensemble_coeff: float = 0.01  # ENSEMBLE: weight of the i-th prediction of a step is exp(-coeff * i)

    def __post_init__(self):
        object.__setattr__(self, "mode", BlendMode(self.mode))
        if self.mode in (BlendMode.CROSSFADE, BlendMode.RTC) and not self.crossfade_time > 0:
            raise ValueError(f"crossfade_time must be > 0 for {self.mode} blending, got {self.crossfade_time}")
        if not (math.isfinite(self.ensemble_coeff) and self.ensemble_coeff >= 0):
            raise ValueError(f"ensemble_coeff must be finite and >= 0, got {self.ensemble_coeff}")


@dataclass(frozen=True)
class TimedChunk:
    start: float  # s, due time of actions[0] (clock of the observation stamps)
    dt: float  # s between consecutive actions
    actions: np.ndarray  # (N, J) joint targets in canonical order
    obs_stamp: float  # s, observation the chunk was predicted from
    seq: int = 0  # number of the prediction this chunk (or blend) came from
    counts: np.ndarray = field(default=None)  # (N,) predictions blended into each action

    def __post_init__(self):
        if self.counts is None:
            object.__setattr__(self, "counts", np.ones(len(self.actions)))

    @classmethod
    def from_prediction(
        cls, actions: np.ndarray, obs_stamp: float, dt: float, offset_steps: int = 0, seq: int = 0
    ) -> TimedChunk:
        return cls(start=obs_stamp + offset_steps * dt, dt=dt, actions=actions, obs_stamp=obs_stamp, seq=seq)

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def times(self) -> np.ndarray:
        return self.start + self.dt * np.arange(len(self))

    @property
    def end(self) -> float:
        return self.start + self.dt * (len(self) - 1)

    def from_time(self, t: float) -> TimedChunk | None:
        """The actions due at or after t (None when all have expired)."""
        first = max(0, math.ceil((t - self.start) / self.dt - 1e-9))
        if first >= len(self):
            return None
        if first == 0:
            return self
        return replace(
            self, start=self.start + first * self.dt, actions=self.actions[first:], counts=self.counts[first:]
        )

    def sample(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Linear interpolation at ``times``: (values (T, J), counts (T,), covered (T,) bool)."""
        pos = (np.asarray(times) - self.start) / self.dt
        covered = (pos >= -1e-9) & (pos <= len(self) - 1 + 1e-9)
        pos = np.clip(pos, 0, len(self) - 1)
        i0 = np.minimum(np.floor(pos).astype(int), len(self) - 1)
        i1 = np.minimum(i0 + 1, len(self) - 1)
        frac = (pos - i0)[:, None]
        values = (1 - frac) * self.actions[i0] + frac * self.actions[i1]
        return values, self.counts[np.rint(pos).astype(int)], covered


def blend(previous: TimedChunk | None, new: TimedChunk, config: BlendConfig) -> TimedChunk:
    """Combine what is left of the previous plan with a new chunk (on the new chunk's time grid)."""
    if previous is None or config.mode is BlendMode.NONE:
        return new
    times = new.times
    old, old_counts, covered = previous.sample(times)
    if not covered.any():
        return new
    if config.mode in (BlendMode.CROSSFADE, BlendMode.RTC):
        w = np.clip((times - new.start) / config.crossfade_time, 0.0, 1.0)
        w[~covered] = 1.0
        actions = (1 - w)[:, None] * old + w[:, None] * new.actions
        return replace(new, actions=actions)
    # ENSEMBLE (ACT): the n-th prediction of a step gets weight exp(-m n); old plan holds n predictions
    m = config.ensemble_coeff
    n = np.where(covered, old_counts, 0.0)
    w_old = n if m == 0 else (1 - np.exp(-m * n)) / (1 - math.exp(-m))
    w_new = np.exp(-m * n)
    actions = (old * w_old[:, None] + new.actions * w_new[:, None]) / (w_old + w_new)[:, None]
    return replace(new, actions=actions, counts=n + 1)


def inference_start(now: float, next_tick: float, period: float, pending: bool, estimate: float) -> float:
    """When the worker should start its next inference: just in time for the tick that will use it.

    The chunk is used at ``next_tick``, or one ``period`` later when a chunk is still pending (the
    next tick takes that one). Starting ``estimate`` s (the expected inference time, margin
    included) before then uses the freshest observation and never computes a chunk that a newer
    one would replace; a model slower than the period is started at once, back to back. All
    times in s on one clock; returns a time >= ``now``.
    """
    due = next_tick + period if pending else next_tick
    return max(now, due - estimate)


def rtc_guidance(
    plan: TimedChunk | None, first_due: float, dt: float, steps: int, usable_at: float
) -> tuple[np.ndarray | None, int]:
    """What Real-Time Chunking needs for a chunk whose action k is due at ``first_due + k * dt``.

    Returns the prefix, the plan being executed sampled on the new chunk's time grid for as long
    as the plan lasts (at most ``steps`` actions; None when there is no plan), and the inference
    delay: how many of the new chunk's first actions are due before ``usable_at`` (the tick that
    will take the chunk, plus the publish lead), which RTC holds to the prefix since they can no
    longer change what the robot does. All times in s on one clock.
    """
    if plan is None:
        return None, 0
    times = first_due + dt * np.arange(steps)
    length = int(np.count_nonzero(times <= plan.end + 1e-9))
    if length == 0:
        return None, 0
    values, _, _ = plan.sample(times[:length])
    delay = math.ceil((usable_at - first_due) / dt - 1e-9)
    return values, int(min(max(delay, 0), length))


def first_tick_at_or_after(t: float, next_tick: float, period: float) -> float:
    """The first publish tick at or after ``t`` on the schedule next_tick + n * period."""
    return next_tick + max(0, math.ceil((t - next_tick) / period - 1e-9)) * period


class ChunkScheduler:
    """Single-slot hand-over between the inference worker and the publisher.

    The worker offers chunks (a chunk not yet taken is replaced and counted as
    dropped); the publisher takes the newest one per tick and re-times the plan.
    """

    def __init__(self, config: BlendConfig):
        self.config = config
        self._cond = threading.Condition()
        self._pending: TimedChunk | None = None
        self._plan: TimedChunk | None = None
        self.offered = 0
        self.adopted = 0
        self.dropped = 0  # chunks replaced before being taken, or expired before their first publish

    def offer(self, chunk: TimedChunk) -> None:
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
            self._pending = chunk
            self.offered += 1
            self._cond.notify_all()

    @property
    def pending(self) -> bool:
        """An offered chunk has not been taken by the publisher yet."""
        with self._cond:
            return self._pending is not None

    def wait_for_change(self, timeout: float) -> None:
        """Block until a chunk is offered or taken, the queue is cleared, or ``timeout`` s pass."""
        with self._cond:
            self._cond.wait(timeout)

    @property
    def plan(self) -> TimedChunk | None:
        """The plan published last (None before the first chunk, after clear)."""
        with self._cond:
            return self._plan

    def clear(self) -> None:
        """Forget the pending chunk and the plan (stop, fault, new run)."""
        with self._cond:
            self._pending = None
            self._plan = None
            self._cond.notify_all()

    def next_plan(self, now: float, hold: np.ndarray | None = None) -> TimedChunk | None:
        """The plan to publish at ``now``: actions due at or after now (None: nothing left).

        ``hold``: the robot's current position. A chunk that starts a plan (first of a run, or
        after a fault cleared it) is crossfaded from it over ``crossfade_time`` whatever the blend
        mode (soft start): a first action away from the robot becomes a ramp, not a jump.
        """
        with self._cond:
            new, self._pending = self._pending, None
            self._cond.notify_all()
            previous = self._plan.from_time(now) if self._plan is not None else None
            if new is not None:
                trimmed = new.from_time(now)
                if trimmed is None:
                    self.dropped += 1
                elif previous is None and hold is not None:
                    still = np.repeat(np.asarray(hold, dtype=float)[None], 2, axis=0)
                    start = min(now, trimmed.start)
                    standing = TimedChunk(
                        start=start, dt=max(trimmed.end - start, trimmed.dt), actions=still, obs_stamp=now
                    )
                    previous = blend(standing, trimmed, replace(self.config, mode=BlendMode.CROSSFADE))
                    previous = replace(previous, counts=np.ones(len(previous)))
                    self.adopted += 1
                else:
                    previous = blend(previous, trimmed, self.config)
                    self.adopted += 1
            self._plan = previous
            return previous
