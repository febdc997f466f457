"""Piecewise cubic Hermite interpolation between trajectory points (continuous position and velocity).

Pure numpy. Velocities not given by the trajectory are estimated from the neighbouring points
with the monotone (Fritsch-Butland / PCHIP) rule, so the interpolant never overshoots the points
between which it moves; the velocity at the last point is zero (the driver holds there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tatbot_arm_driver.core.validation import TrajectorySpec


def estimate_velocities(times: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Monotone cubic (PCHIP) knot velocities for (K,) times and (K, J) positions; 0 at both ends."""
    velocities = np.zeros_like(positions)
    if len(times) < 3:
        return velocities
    h = np.diff(times)[:, None]
    secant = np.diff(positions, axis=0) / h
    d0, d1 = secant[:-1], secant[1:]
    h0, h1 = h[:-1], h[1:]
    w0, w1 = 2 * h1 + h0, h1 + 2 * h0
    same_sign = d0 * d1 > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = (w0 + w1) / (w0 / d0 + w1 / d1)
    velocities[1:-1] = np.where(same_sign, mean, 0.0)
    return velocities


@dataclass(frozen=True)
class HermiteSpline:
    """Cubic Hermite spline through (K,) knots; holds the last knot (zero velocity) after the end."""

    times: np.ndarray  # (K,) s, strictly increasing
    positions: np.ndarray  # (K, J)
    velocities: np.ndarray  # (K, J)

    @property
    def end(self) -> float:
        return float(self.times[-1])

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(position, velocity) at time ``t``; the first knot before it, the last knot after it."""
        times = self.times
        if t <= times[0]:
            return self.positions[0].copy(), self.velocities[0].copy()
        if t >= times[-1]:
            return self.positions[-1].copy(), np.zeros_like(self.positions[-1])
        i = int(np.searchsorted(times, t, side="right")) - 1
        h = times[i + 1] - times[i]
        s = (t - times[i]) / h
        p0, p1 = self.positions[i], self.positions[i + 1]
        m0, m1 = self.velocities[i] * h, self.velocities[i + 1] * h
        s2, s3 = s * s, s * s * s
        position = (2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * m0 + (3 * s2 - 2 * s3) * p1 + (s3 - s2) * m1
        velocity = (
            (6 * s2 - 6 * s) * p0 + (3 * s2 - 4 * s + 1) * m0 + (6 * s - 6 * s2) * p1 + (3 * s2 - 2 * s) * m1
        ) / h
        return position, velocity


def minimum_move_duration(start: np.ndarray, goal: np.ndarray, max_velocity: np.ndarray) -> float:
    """Shortest duration of a :func:`smooth_move` from start to goal within the velocity limits, s.

    The smoothstep profile peaks at 1.5 x the mean velocity (half way).
    """
    return float(np.max(1.5 * np.abs(np.asarray(goal) - np.asarray(start)) / max_velocity))


def smooth_move(
    joint_names: Sequence[str], start: np.ndarray, goal: np.ndarray, duration: float, step: float
) -> TrajectorySpec:
    """A rest-to-rest smoothstep move as a trajectory starting now (zero stamp).

    Points every ``step`` s (the last one exactly at ``duration``), with exact velocities.
    """
    n = max(int(np.ceil(duration / step)), 1)
    t = np.linspace(duration / n, duration, n)
    s = t / duration
    start, goal = np.asarray(start, dtype=float), np.asarray(goal, dtype=float)
    delta = goal - start
    # clipped to the segment so that rounding never puts a point outside [start, goal]
    positions = np.clip(start + np.outer(3 * s**2 - 2 * s**3, delta), np.minimum(start, goal), np.maximum(start, goal))
    positions[-1] = goal
    velocities = np.outer((6 * s - 6 * s**2) / duration, delta)
    return TrajectorySpec(
        joint_names=tuple(joint_names),
        stamp=0.0,
        time_from_start=t,
        positions=positions,
        velocities=velocities,
    )
