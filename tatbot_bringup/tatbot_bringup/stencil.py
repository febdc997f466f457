"""The design's geometry as a fixed-size vector: one function shared by the
dataset converter (observation.environment_state) and the policy node, so a
policy sees at run time exactly what it was trained on.

The vector is *the stencil ahead of each needle*: for each arm, the point of
its stencil path closest to the needle tip and the next points along the path
after it, relative to the tip (base-frame axes, metres). It says where the
needle must go next, in the needle's own frame, wherever on the surface the
stroke lies; bench/learnability_bench.py measured it against the whole stencil
in the base frame or relative to the needle (held-out success 70-80 % against
5-10 % at the same data and training).
"""

from __future__ import annotations

import numpy as np

DEFAULT_POINTS_PER_ARM = 10  # points ahead of each needle (one 10-step action chunk)
# The path is resampled to this many points, and the points ahead are spaced like them: a
# generated stroke has 28 poses on the surface (stroke_demo's 30, hover ends excluded), drawn one
# per 10 Hz step, so one spacing is the distance the needle moves in one step of a demonstration.
STROKE_SAMPLES = 28
ARMS = ("left", "right")


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


def closest_arc_length(path: np.ndarray, point: np.ndarray) -> float:
    """Arc length (m) from the start of ``path`` (N >= 2, 3) to its point closest to ``point`` (3,)."""
    a, ab = path[:-1], np.diff(path, axis=0)
    length2 = (ab * ab).sum(axis=1)
    t = np.clip(((point - a) * ab).sum(axis=1) / np.maximum(length2, 1e-18), 0.0, 1.0)
    distance = np.linalg.norm(a + t[:, None] * ab - point, axis=1)
    i = int(np.argmin(distance))
    return float(np.sqrt(length2[:i]).sum() + t[i] * np.sqrt(length2[i]))


def path_ahead(path: np.ndarray, tip: np.ndarray, points: int = DEFAULT_POINTS_PER_ARM) -> np.ndarray:
    """(points, 3): the path's point closest to ``tip`` and the next ``points - 1`` after it,
    spaced like the path resampled to STROKE_SAMPLES points (repeating the end), minus ``tip``."""
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    tip = np.asarray(tip, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(tip)):
        raise ValueError(f"needle tip {tip} is not finite")
    path = resample_polyline(path, STROKE_SAMPLES)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if s[-1] == 0.0:
        return np.repeat(path[:1] - tip, points, axis=0)
    start = closest_arc_length(path, tip)
    targets = np.minimum(start + s[-1] / (STROKE_SAMPLES - 1) * np.arange(points), s[-1])
    return np.stack([np.interp(targets, s, path[:, k]) for k in range(3)], axis=1) - tip


def stencil_state(
    left: np.ndarray, right: np.ndarray, tips: np.ndarray, points_per_arm: int = DEFAULT_POINTS_PER_ARM
) -> np.ndarray:
    """Flat float32 [left (P,3), right (P,3)]: each arm's stencil path ahead of its needle tip
    (``tips``: (2, 3), base frame, metres), relative to the tip (path_ahead)."""
    tips = np.asarray(tips, dtype=np.float64).reshape(len(ARMS), 3)
    return np.concatenate(
        [path_ahead(path, tip, points_per_arm).ravel() for path, tip in zip((left, right), tips, strict=True)]
    ).astype(np.float32)


def stencil_state_names(points_per_arm: int = DEFAULT_POINTS_PER_ARM) -> list[str]:
    """Feature names of stencil_state(), e.g. 'stencil_ahead.left.p03.dx'."""
    return [f"stencil_ahead.{arm}.p{i:02d}.d{axis}" for arm in ARMS for i in range(points_per_arm) for axis in "xyz"]
