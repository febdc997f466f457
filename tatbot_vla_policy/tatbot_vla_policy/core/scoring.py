"""Score a drawn stroke against its stencil (pure numpy).

A stroke is judged the way an artist judges a line on a stencil: the ink must
stay on the line (deviation) and must cover the line (coverage). Only samples
where the needle is down (tip within ``contact_tolerance`` of the surface)
leave ink and count.

Success (per arm; an episode succeeds when both arms do):
  * coverage ≥ ``min_coverage``: that fraction of the stencil's length has an
    inked sample within ``tolerance`` of it,
  * deviation p95 ≤ ``tolerance``: 95 % of the inked samples lie within
    ``tolerance`` of the stencil polyline, and
  * corners: the ink passes within ``tolerance`` of every sharp corner of the
    stencil (where its direction turns by more than ``corner_angle`` over
    ``corner_span`` either side), so a corner cut short fails even when the
    coverage allows the missing bit.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class StrokeCriteria:
    tolerance: float = 0.002  # m: ink within 2 mm of the stencil line
    min_coverage: float = 0.9  # fraction of the stencil's length that must be inked
    contact_tolerance: float = 0.001  # m: tip at most this far above the surface leaves ink
    coverage_step: float = 0.0005  # m: spacing of the stencil samples used for coverage
    corner_angle: float = math.radians(30)  # a turn sharper than this is a corner
    corner_span: float = 0.001  # m: the directions before and after a point are taken over this length


@dataclass(frozen=True)
class StrokeScore:
    success: bool
    coverage: float  # fraction of stencil length inked within tolerance
    deviation_mean_mm: float  # mean distance of inked samples to the stencil, mm
    deviation_p95_mm: float
    inked_samples: int
    corners: int = 0  # sharp corners of the stencil
    corner_error_mm: float = float("nan")  # the largest distance from a corner to the ink line (nan: no corners)

    def as_dict(self) -> dict:
        return asdict(self)


def point_to_polyline_distance(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Distance (N,) from each point (N, 3) to the nearest point of a polyline (M, 3)."""
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    polyline = np.asarray(polyline, dtype=float).reshape(-1, 3)
    if len(polyline) == 1:
        return np.linalg.norm(points - polyline[0], axis=1)
    a, b = polyline[:-1], polyline[1:]
    ab = b - a
    denom = np.maximum((ab * ab).sum(axis=1), 1e-18)
    t = np.clip(((points[:, None, :] - a[None]) * ab[None]).sum(axis=2) / denom[None], 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.linalg.norm(points[:, None, :] - closest, axis=2).min(axis=1)


def densify(polyline: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` metres along a polyline (its vertices included)."""
    polyline = np.asarray(polyline, dtype=float).reshape(-1, 3)
    out = [polyline[:1]]
    for a, b in itertools.pairwise(polyline):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out.append(a + (b - a) * np.linspace(0.0, 1.0, n + 1)[1:, None])
    return np.concatenate(out)


def sharp_corners(polyline: np.ndarray, criteria: StrokeCriteria = StrokeCriteria()) -> np.ndarray:
    """(K, 3) the points of a polyline where its direction turns by more than ``criteria.corner_angle``
    between the ``corner_span`` before and after them (one point per corner: the sharpest)."""
    dense = densify(polyline, criteria.coverage_step)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    closed = len(dense) > 2 and s[-1] > 0 and np.linalg.norm(dense[-1] - dense[0]) < 1e-9
    if closed:  # the path goes on round its start: the start point may be a corner too
        dense, s = dense[:-1], s[:-1]
        inside = np.ones(len(s), dtype=bool)
    else:
        inside = (s >= criteria.corner_span) & (s <= s[-1] - criteria.corner_span)
    if not inside.any():
        return dense[:0]
    period = s[-1] + np.linalg.norm(dense[0] - dense[-1]) if closed else None

    def at(targets):
        return np.stack([np.interp(targets, s, dense[:, k], period=period) for k in range(3)], axis=1)

    before, after = dense - at(s - criteria.corner_span), at(s + criteria.corner_span) - dense
    cos = (before * after).sum(axis=1) / np.maximum(
        np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1), 1e-18
    )
    turn = np.where(inside, np.arccos(np.clip(cos, -1.0, 1.0)), 0.0)
    corners = []
    for i in np.flatnonzero(turn > criteria.corner_angle):  # the sharpest point within a span
        gap = np.abs(s - s[i])
        near = (np.minimum(gap, period - gap) if closed else gap) <= criteria.corner_span
        if turn[i] >= turn[near].max():
            corners.append(dense[i])
    return np.array(corners).reshape(-1, 3)


def score_stroke(
    tip_path: np.ndarray, stencil: np.ndarray, surface_z: float, criteria: StrokeCriteria = StrokeCriteria()
) -> StrokeScore:
    """Score the needle-tip samples (N, 3) of one arm against its stencil polyline (M, 3)."""
    tip_path = np.asarray(tip_path, dtype=float).reshape(-1, 3)
    stencil = np.asarray(stencil, dtype=float).reshape(-1, 3)
    if len(stencil) == 0:
        raise ValueError("empty stencil: nothing to score against")
    inked = tip_path[tip_path[:, 2] <= surface_z + criteria.contact_tolerance]
    if len(inked) == 0:
        return StrokeScore(False, 0.0, float("nan"), float("nan"), 0, len(sharp_corners(stencil, criteria)))
    deviation = point_to_polyline_distance(inked, stencil)
    # coverage: stencil samples with ink nearby; ink between consecutive samples counts as a line
    ink_line = densify(inked, criteria.coverage_step) if len(inked) > 1 else inked
    targets = densify(stencil, criteria.coverage_step)
    covered = point_to_polyline_distance(targets, ink_line) <= criteria.tolerance
    coverage = float(covered.mean())
    p95 = float(np.percentile(deviation, 95))
    corners = sharp_corners(stencil, criteria)
    corner_error = float(point_to_polyline_distance(corners, ink_line).max()) if len(corners) else float("nan")
    success = (
        coverage >= criteria.min_coverage
        and p95 <= criteria.tolerance
        and not corner_error > criteria.tolerance  # nan (no corners) passes
    )
    return StrokeScore(
        success, coverage, float(deviation.mean() * 1e3), p95 * 1e3, len(inked), len(corners), corner_error * 1e3
    )
