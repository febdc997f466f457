"""Stroke demonstrations as data: seeded shapes on the work surface, upstream stroke files.

Pure Python (numpy, safetensors, yaml; no rclpy). A *stroke pair* is one
episode: a needle-tip path for each arm, drawn at the same time. Paths are in
the world frame, metres; the first and last point of every path hover above
the surface (approach and retreat), the points between are on the surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from tatbot_bringup.stencil import resample_polyline

SHAPES = ("line", "arc", "zigzag")
# m: how deep the needle goes below the surface while drawing. A tattoo needle deposits ink in
# the skin, not on it; the evaluation counts a tip up to 1 mm above the surface as inking, so
# 0.5 mm deep leaves room for small height errors either way.
DEFAULT_DEPTH = 0.0005


class StrokeFileError(ValueError):
    """An upstream strokebatch.safetensors / strokes.yaml pair is missing or inconsistent."""


@dataclass(frozen=True)
class Stroke:
    family: str  # the shape (one of SHAPES): what the episode's task names
    description: str  # family, length, angle and position: kept in the episode's metadata
    path: np.ndarray  # (L, 3) needle-tip targets, world frame, metres; [0] and [-1] hover

    @property
    def drawn(self) -> np.ndarray:
        """The part of the path on the surface: what the stencil shows."""
        return self.path[1:-1]


@dataclass(frozen=True)
class StrokePair:
    left: Stroke
    right: Stroke

    @property
    def task(self) -> str:
        """A short task per pair of stroke families (e.g. ``left: line, right: arc``): a few tasks a
        language-conditioned policy can generalize over; the details are in :meth:`metadata`."""
        return f"left: {self.left.family}, right: {self.right.family}"

    def metadata(self) -> dict:
        """JSON-ready description stored with the episode."""
        return {
            f"stroke_{arm}": {"family": s.family, "description": s.description, "path": s.path.round(6).tolist()}
            for arm, s in (("left", self.left), ("right", self.right))
        }


@dataclass(frozen=True)
class StrokeSpace:
    """Where and how big generated strokes are (per arm: centre on the surface)."""

    centers: dict[str, tuple[float, float]]  # arm -> (x, y) centre of its drawing region, metres
    surface_z: float  # height of the work surface, metres
    spread: float = 0.02  # strokes start within ± spread of the centre, metres
    min_length: float = 0.02  # metres
    max_length: float = 0.05
    hover: float = 0.01  # approach/retreat height above the surface, metres
    points: int = 30  # points per path, hover points included (one per 1/fps while streaming)


def shape_outline(kind: str, length: float, rng: np.random.Generator) -> np.ndarray:
    """A 2-D polyline of the given kind and arc length ~``length``, starting at the origin."""
    if kind == "line":
        return np.array([[0.0, 0.0], [length, 0.0]])
    if kind == "arc":
        sweep = rng.uniform(0.5, 1.6) * rng.choice([-1.0, 1.0])  # radians, either direction
        radius = length / abs(sweep)
        t = np.linspace(0.0, sweep, 24)
        return np.stack([radius * np.sin(np.abs(t)), np.sign(sweep) * radius * (1 - np.cos(t))], axis=1)
    if kind == "zigzag":
        teeth = int(rng.integers(2, 5))
        amplitude = rng.uniform(0.15, 0.3) / teeth  # relative to the zigzag's extent
        x = np.linspace(0.0, 1.0, 2 * teeth + 1)
        y = amplitude * (np.arange(x.size) % 2) * rng.choice([-1.0, 1.0])
        pts = np.stack([x, y], axis=1)
        return pts * (length / np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())
    raise ValueError(f"unknown stroke shape {kind!r}; shapes: {SHAPES}")


def _describe(kind: str, length: float, angle: float, center: np.ndarray) -> str:
    return f"{kind} {length * 100:.1f} cm at {math.degrees(angle):.0f} deg, ({center[0]:.3f}, {center[1]:.3f}) m"


def generate_stroke(arm: str, space: StrokeSpace, rng: np.random.Generator) -> Stroke:
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    length = rng.uniform(space.min_length, space.max_length)
    outline = shape_outline(kind, length, rng)
    outline -= outline.mean(axis=0)
    angle = rng.uniform(-math.pi, math.pi)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    center = np.asarray(space.centers[arm]) + rng.uniform(-space.spread, space.spread, size=2)
    xy = outline @ rot.T + center
    drawn = resample_polyline(np.column_stack([xy, np.full(len(xy), space.surface_z)]), space.points - 2)
    hover = np.array([0.0, 0.0, space.hover])
    path = np.vstack([drawn[0] + hover, drawn, drawn[-1] + hover])
    return Stroke(kind, _describe(kind, length, angle, center), path)


def generate_stroke_pairs(count: int, seed: int, space: StrokeSpace) -> list[StrokePair]:
    """``count`` varied stroke pairs, reproducible from ``seed``."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    return [StrokePair(generate_stroke("left", space, rng), generate_stroke("right", space, rng)) for _ in range(count)]


@dataclass(frozen=True)
class StrokeBatch:
    """Upstream tatbot's pre-computed strokes: joints (b strokes, l poses, o depth offsets, 14)."""

    joints: np.ndarray
    descriptions: list[tuple[str, str]]  # (left, right) per stroke

    def trajectory(self, stroke: int, offset: int | None = None) -> np.ndarray:
        """(l, 14) joint path of one stroke at a depth-offset index (default: the middle one)."""
        o = self.joints.shape[2]
        offset = o // 2 if offset is None else offset
        if not 0 <= offset < o:
            raise StrokeFileError(f"depth offset index {offset} outside 0..{o - 1}")
        return self.joints[stroke, :, offset, :]


def load_strokebatch(directory: str | Path) -> StrokeBatch:
    """Read upstream ``strokebatch.safetensors`` (key ``joints``) and ``strokes.yaml`` descriptions."""
    from safetensors.numpy import load_file

    directory = Path(directory)
    batch_path, strokes_path = directory / "strokebatch.safetensors", directory / "strokes.yaml"
    for path in (batch_path, strokes_path):
        if not path.is_file():
            raise StrokeFileError(f"{path} not found (a stroke directory holds strokebatch.safetensors + strokes.yaml)")
    tensors = load_file(str(batch_path))
    if "joints" not in tensors:
        raise StrokeFileError(f"{batch_path}: no 'joints' tensor (found {sorted(tensors)})")
    joints = np.asarray(tensors["joints"], dtype=np.float64)
    if joints.ndim != 4 or joints.shape[-1] != 14:
        raise StrokeFileError(f"{batch_path}: joints must be (b, l, o, 14), got {joints.shape}")
    data = yaml.safe_load(strokes_path.read_text()) or {}
    pairs = data.get("strokes", data) if isinstance(data, dict) else data
    descriptions = []
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            raise StrokeFileError(f"{strokes_path}: strokes[{i}] must be a [left, right] pair")
        descriptions.append(tuple(str(s.get("description", "")) if isinstance(s, dict) else str(s) for s in pair))
    if len(descriptions) != joints.shape[0]:
        raise StrokeFileError(
            f"{strokes_path} has {len(descriptions)} stroke pairs but {batch_path} has {joints.shape[0]}"
        )
    if not np.all(np.isfinite(joints)):
        raise StrokeFileError(f"{batch_path}: joints contain NaN or Inf")
    return StrokeBatch(joints, descriptions)


def plan_joint_path(pair: StrokePair, kinematics, seed: np.ndarray, depth: float = 0.0) -> np.ndarray:
    """(L, 14) joint path whose needle tips follow both strokes (inverse kinematics).

    ``kinematics``: a tatbot_bringup.kinematics.RobotKinematics. Each point is
    solved from the previous solution, so consecutive poses stay close;
    ``depth`` (m) pushes the drawn part of the path below the surface (needle
    depth offset). Raises kinematics.IKError when a point is unreachable.
    """
    q = np.array(seed, dtype=float)
    down = np.array([0.0, 0.0, -depth])
    paths = {"left": pair.left.path.copy(), "right": pair.right.path.copy()}
    for path in paths.values():
        path[1:-1] += down
    out = np.empty((len(pair.left.path), q.size))
    for i in range(len(out)):
        for arm, path in paths.items():
            q = kinematics.ik_needle_tip(arm, path[i], q)
        out[i] = q
    return out


def stroke_space_for(config, kinematics, **overrides) -> StrokeSpace:
    """The drawing regions of a robot: each arm's needle tip at ``ready``, on the work surface.

    ``config``: RobotConfig with a work_surface; ``kinematics``: its RobotKinematics;
    ``overrides``: any other StrokeSpace field (spread, lengths, hover, points).
    """
    if config.work_surface is None:
        raise ValueError("robot config has no work_surface: strokes need a surface to be drawn on")
    tips = kinematics.needle_tips(config.pose("ready"))
    centers = {arm.name: (float(tips[i, 0]), float(tips[i, 1])) for i, arm in enumerate(config.arms)}
    return StrokeSpace(centers=centers, surface_z=config.work_surface.z, **overrides)
