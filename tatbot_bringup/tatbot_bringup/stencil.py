"""The design's geometry as a fixed-size vector: one function shared by the
dataset converter (observation.environment_state) and the policy node, so a
policy sees at run time exactly what it was trained on.
"""

from __future__ import annotations

import numpy as np

DEFAULT_POINTS_PER_ARM = 16


def resample_polyline(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a polyline.

    points: (N, 3) metres. A single point is repeated; an empty path is an error
    (a stencil without a path for an arm carries no design).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if len(points) == 0:
        raise ValueError("cannot resample an empty stencil path")
    if not np.all(np.isfinite(points)):
        raise ValueError("stencil path contains NaN or Inf")
    if len(points) == 1:
        return np.repeat(points, count, axis=0)
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] == 0.0:
        return np.repeat(points[:1], count, axis=0)
    targets = np.linspace(0.0, s[-1], count)
    return np.stack([np.interp(targets, s, points[:, k]) for k in range(3)], axis=1)


def stencil_state(left: np.ndarray, right: np.ndarray, points_per_arm: int = DEFAULT_POINTS_PER_ARM) -> np.ndarray:
    """Flat float32 vector [left (P,3), right (P,3)] in the robot base frame, metres."""
    return np.concatenate(
        [resample_polyline(left, points_per_arm).ravel(), resample_polyline(right, points_per_arm).ravel()]
    ).astype(np.float32)


def stencil_state_names(points_per_arm: int = DEFAULT_POINTS_PER_ARM) -> list[str]:
    """Feature names of stencil_state(), e.g. 'stencil.left.p03.x'."""
    return [
        f"stencil.{arm}.p{i:02d}.{axis}" for arm in ("left", "right") for i in range(points_per_arm) for axis in "xyz"
    ]
