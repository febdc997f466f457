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
# The needle draws at one speed whatever the design: one step of a demonstration (1/fps of the
# data, 10 Hz) moves it this far along the line (12.5 mm/s), and the points ahead are this far
# apart. Strokes of any length are then drawn, and seen, alike: stroke_demo plans every
# generated stroke at this spacing (tatbot_bringup.strokes).
STENCIL_STEP = 0.00125  # m
ARMS = ("left", "right")


def check_path(path: np.ndarray) -> np.ndarray:
    """(N, 3) float64 copy of a stencil path; ValueError for an empty or non-finite one."""
    path = np.asarray(path, dtype=np.float64).reshape(-1, 3)
    if len(path) == 0:
        raise ValueError("cannot use an empty stencil path")
    if not np.all(np.isfinite(path)):
        raise ValueError("stencil path contains NaN or Inf")
    return path


def resample_polyline(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a polyline.

    points: (N, 3) metres. A single point is repeated; an empty path is an error
    (a stencil without a path for an arm carries no design).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    points = check_path(points)
    if len(points) == 1:
        return np.repeat(points, count, axis=0)
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] == 0.0:
        return np.repeat(points[:1], count, axis=0)
    targets = np.linspace(0.0, s[-1], count)
    return np.stack([np.interp(targets, s, points[:, k]) for k in range(3)], axis=1)


def closest_arc_length(path: np.ndarray, point: np.ndarray, since: float = 0.0, reach: float = np.inf) -> float:
    """Arc length (m) from the start of ``path`` (N >= 2, 3) to its point closest to ``point`` (3,),
    among the points between arc length ``since`` and ``since + reach``."""
    a, ab = path[:-1], np.diff(path, axis=0)
    length = np.linalg.norm(ab, axis=1)
    s0 = np.concatenate([[0.0], np.cumsum(length)[:-1]])  # arc length at each segment's start
    # each segment's part inside [since, since + reach], as fractions of the segment
    lo = np.clip((since - s0) / np.maximum(length, 1e-18), 0.0, 1.0)
    hi = np.clip((since + reach - s0) / np.maximum(length, 1e-18), 0.0, 1.0)
    t = np.clip(((point - a) * ab).sum(axis=1) / np.maximum(length**2, 1e-18), lo, hi)
    distance = np.linalg.norm(a + t[:, None] * ab - point, axis=1)
    distance[(s0 + length < since) | (s0 > since + reach)] = np.inf
    i = int(np.argmin(distance))
    return float(s0[i] + t[i] * length[i])


def closest_point(path: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The point (3,) of ``path`` (N, 3) nearest to ``point`` (3,)."""
    path = check_path(path)
    if len(path) == 1:
        return path[0].copy()
    s = closest_arc_length(path, np.asarray(point, dtype=float))
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    return np.array([np.interp(s, arc, path[:, k]) for k in range(3)])


def path_ahead(
    path: np.ndarray, tip: np.ndarray, points: int = DEFAULT_POINTS_PER_ARM, since: float = 0.0, reach: float = np.inf
) -> tuple[np.ndarray, float]:
    """((points, 3), s): the path's point closest to ``tip`` (searched between arc lengths ``since``
    and ``since + reach``) and the next ``points - 1`` after it, STENCIL_STEP apart along the path
    (repeating the end), minus ``tip``; ``s`` is the arc length of the closest point."""
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    tip = np.asarray(tip, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(tip)):
        raise ValueError(f"needle tip {tip} is not finite")
    path = check_path(path)
    if len(path) == 1:
        return np.repeat(path - tip, points, axis=0), 0.0
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    if s[-1] == 0.0:
        return np.repeat(path[:1] - tip, points, axis=0), 0.0
    start = closest_arc_length(path, tip, since, reach)
    targets = np.minimum(start + STENCIL_STEP * np.arange(points), s[-1])
    return np.stack([np.interp(targets, s, path[:, k]) for k in range(3)], axis=1) - tip, start


def stencil_state(
    left: np.ndarray, right: np.ndarray, tips: np.ndarray, points_per_arm: int = DEFAULT_POINTS_PER_ARM
) -> np.ndarray:
    """Flat float32 [left (P,3), right (P,3)]: each arm's stencil path ahead of its needle tip
    (``tips``: (2, 3), base frame, metres), relative to the tip (path_ahead), from the point closest
    to the tip anywhere on the path. A rollout uses StencilTracker, which keeps to the path's order."""
    return StencilTracker(left, right, points_per_arm, reach=np.inf)(tips)


REACH_STEPS = 4  # a tracker looks this many drawing steps (5 mm) beyond the progress made


class StencilTracker:
    """stencil_state along a drawing, in order: each arm's closest point is searched only from the
    progress made so far (arc length) to ``reach`` beyond it (default REACH_STEPS drawing steps,
    more than the needle moves between two observations, and at most half the path), so a closed
    shape ends where it started and a path that crosses itself is followed in order. The
    converter keeps one per episode and design, the policy node one per run; both call it with the
    needle tips of each observation in time order."""

    def __init__(
        self,
        left: np.ndarray,
        right: np.ndarray,
        points_per_arm: int = DEFAULT_POINTS_PER_ARM,
        reach: float = REACH_STEPS * STENCIL_STEP,
    ):
        self.paths = (check_path(left), check_path(right))
        self.points_per_arm = points_per_arm
        lengths = [float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) for p in self.paths]
        self.reach = [min(reach, length / 2) if np.isfinite(reach) else reach for length in lengths]
        self.progress = [0.0] * len(ARMS)

    def __call__(self, tips: np.ndarray, since: list[float] | None = None, advance: bool = True) -> np.ndarray:
        """The stencil ahead of ``tips`` (2, 3), searched from ``since`` (default: the progress so
        far); ``advance``: keep the new progress (False: look without moving on)."""
        tips = np.asarray(tips, dtype=np.float64).reshape(len(ARMS), 3)
        start = self.progress if since is None else since
        out, progress = [], []
        for arm, (path, tip) in enumerate(zip(self.paths, tips, strict=True)):
            ahead, s = path_ahead(path, tip, self.points_per_arm, start[arm], self.reach[arm])
            out.append(ahead.ravel())
            progress.append(s)
        if advance:
            self.progress = progress
        return np.concatenate(out).astype(np.float32)


def stencil_state_names(points_per_arm: int = DEFAULT_POINTS_PER_ARM) -> list[str]:
    """Feature names of stencil_state(), e.g. 'stencil_ahead.left.p03.dx'."""
    return [f"stencil_ahead.{arm}.p{i:02d}.d{axis}" for arm in ARMS for i in range(points_per_arm) for axis in "xyz"]
