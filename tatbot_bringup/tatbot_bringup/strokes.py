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

from tatbot_bringup.stencil import STENCIL_STEP, resample_polyline

# what a design contains: straight and smoothly curved strokes (line, arc, wave), sharp corners
# (zigzag), closed shapes, smooth (circle: an ellipse) and cornered (polygon)
SHAPES = ("line", "arc", "wave", "zigzag", "circle", "polygon")
CLOSED_SHAPES = ("circle", "polygon")
# m: a closed shape is at least this long (a circle 1 cm round would be 3 mm wide: a dot)
MIN_CLOSED_LENGTH = 0.03
# families of length and position (upper bound, m; name) of Stroke.families; the names sort in order
LENGTH_BINS = ((0.03, "0-3 cm"), (0.06, "3-6 cm"), (math.inf, "6+ cm"))
POSITION_BINS = ((0.015, "0-1.5 cm off centre"), (0.03, "1.5-3 cm off centre"), (math.inf, "3+ cm off centre"))
# m: how deep the needle goes below the surface while drawing. A tattoo needle deposits ink in
# the skin, not on it; the evaluation counts a tip up to 1 mm above the surface as inking, so
# 0.5 mm deep leaves room for small height errors either way.
DEFAULT_DEPTH = 0.0005


class StrokeFileError(ValueError):
    """An upstream strokebatch.safetensors / strokes.yaml pair is missing or inconsistent."""


@dataclass(frozen=True)
class Stroke:
    family: str  # the shape (one of SHAPES, or a design's name): what the episode's task names
    description: str  # family, length, angle and position: kept in the episode's metadata
    path: np.ndarray  # (L, 3) needle-tip targets, world frame, metres; [0] and [-1] hover
    length: float = 0.0  # m, drawn length
    offset: tuple[float, float] = (0.0, 0.0)  # m, the stroke's centre from its arm's region centre

    @property
    def drawn(self) -> np.ndarray:
        """The part of the path on the surface: what the stencil shows."""
        return self.path[1:-1]

    def families(self) -> dict[str, str]:
        """What kind of stroke this is, for per-family success: its shape, its length and its
        position in the drawing region (how far its centre is from the region's, either axis)."""
        off = max(abs(self.offset[0]), abs(self.offset[1]))
        return {
            "shape": self.family,
            "length": next(name for top, name in LENGTH_BINS if self.length < top),
            "position": next(name for top, name in POSITION_BINS if off < top),
        }


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
    """Where and how big generated strokes are (per arm: a square drawing region on the surface)."""

    centers: dict[str, tuple[float, float]]  # arm -> (x, y) centre of its drawing region, metres
    surface_z: float  # height of the work surface, metres
    # each arm draws inside centre ± extent (x and y), the whole stroke: a 9 cm square, which
    # keeps the two needles at least 6 cm apart at ready's spacing (15 cm)
    extent: float = 0.045
    min_length: float = 0.01  # metres; lengths are log-uniform between the two
    max_length: float = 0.10
    hover: float = 0.01  # approach/retreat height above the surface, metres
    # one pose per step of the demonstration (1/fps), this far apart along the line: the needle
    # draws at one speed, so a stroke's duration is set by its length
    step: float = STENCIL_STEP


def _closed_polyline(points: np.ndarray) -> np.ndarray:
    return np.vstack([points, points[:1]])


def shape_outline(kind: str, length: float, rng: np.random.Generator) -> np.ndarray:
    """A 2-D polyline of the given kind and arc length ``length``, starting at the origin (closed
    shapes end where they start)."""
    if kind == "line":
        pts = np.array([[0.0, 0.0], [1.0, 0.0]])
    elif kind == "arc":
        sweep = rng.uniform(0.5, 2.5) * rng.choice([-1.0, 1.0])  # radians, either direction
        t = np.linspace(0.0, sweep, 48)
        pts = np.stack([np.sin(np.abs(t)), np.sign(sweep) * (1 - np.cos(t))], axis=1)
    elif kind == "wave":  # a smooth S: one to two periods of a sine
        periods = rng.uniform(0.75, 2.0)
        amplitude = rng.uniform(0.08, 0.2) / periods
        x = np.linspace(0.0, 1.0, 96)
        pts = np.stack([x, amplitude * np.sin(2 * np.pi * periods * x) * rng.choice([-1.0, 1.0])], axis=1)
    elif kind == "zigzag":
        teeth = int(rng.integers(2, 5))
        amplitude = rng.uniform(0.15, 0.3) / teeth  # relative to the zigzag's extent
        x = np.linspace(0.0, 1.0, 2 * teeth + 1)
        pts = np.stack([x, amplitude * (np.arange(x.size) % 2) * rng.choice([-1.0, 1.0])], axis=1)
    elif kind == "circle":  # an ellipse, drawn either way round from a random point
        ratio, start = rng.uniform(0.6, 1.0), rng.uniform(0.0, 2 * np.pi)
        t = start + rng.choice([-1.0, 1.0]) * np.linspace(0.0, 2 * np.pi, 97)
        pts = np.stack([np.cos(t), ratio * np.sin(t)], axis=1)
    elif kind == "polygon":  # a triangle, square or pentagon with its corners a little off regular
        sides = int(rng.integers(3, 6))
        t = 2 * np.pi * (np.arange(sides) + rng.uniform(-0.1, 0.1, sides)) / sides
        pts = _closed_polyline(np.stack([np.cos(t), np.sin(t)], axis=1))
    else:
        raise ValueError(f"unknown stroke shape {kind!r}; shapes: {SHAPES}")
    pts = pts - pts[0]
    return pts * (length / np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def _describe(kind: str, length: float, angle: float, center: np.ndarray) -> str:
    return f"{kind} {length * 100:.1f} cm at {math.degrees(angle):.0f} deg, ({center[0]:.3f}, {center[1]:.3f}) m"


def stroke_on_surface(family: str, description: str, xy: np.ndarray, space: StrokeSpace, offset=(0.0, 0.0)) -> Stroke:
    """A Stroke along the 2-D polyline ``xy`` (world x, y, metres) on the surface: resampled at
    ``space.step`` (one pose per demonstration step), approached and left from ``space.hover`` above."""
    drawn = np.column_stack([xy, np.full(len(xy), space.surface_z)])
    length = float(np.linalg.norm(np.diff(drawn, axis=0), axis=1).sum())
    drawn = resample_polyline(drawn, max(2, math.ceil(length / space.step) + 1))
    hover = np.array([0.0, 0.0, space.hover])
    path = np.vstack([drawn[0] + hover, drawn, drawn[-1] + hover])
    return Stroke(family, description, path, length, (float(offset[0]), float(offset[1])))


def generate_stroke(arm: str, space: StrokeSpace, rng: np.random.Generator) -> Stroke:
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    low = max(space.min_length, MIN_CLOSED_LENGTH) if kind in CLOSED_SHAPES else space.min_length
    length = float(np.exp(rng.uniform(np.log(low), np.log(max(low, space.max_length)))))
    shape = shape_outline(kind, length, rng)
    for _ in range(100):  # an orientation in which the whole stroke fits the region (a 10 cm line: diagonal)
        angle = rng.uniform(-math.pi, math.pi)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        outline = shape @ rot.T
        if np.all(outline.max(axis=0) - outline.min(axis=0) <= 2 * space.extent):
            break
    else:
        raise ValueError(
            f"a {kind} of {length * 100:.1f} cm does not fit a region of ±{space.extent} m: lower max_length"
        )
    middle = (outline.max(axis=0) + outline.min(axis=0)) / 2
    # the whole stroke inside the region: its bounding box's centre anywhere that allows
    room = space.extent - (outline.max(axis=0) - outline.min(axis=0)) / 2
    offset = rng.uniform(-room, room)
    center = np.asarray(space.centers[arm]) + offset
    xy = outline - middle + center
    return stroke_on_surface(kind, _describe(kind, length, angle, center), xy, space, offset)


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
    depth offset). The arms start together; the one with the shorter stroke waits at its
    retreat point (hovering) until the other is done. Raises kinematics.IKError when a point is
    unreachable.
    """
    q = np.array(seed, dtype=float)
    down = np.array([0.0, 0.0, -depth])
    count = max(len(pair.left.path), len(pair.right.path))
    paths = {}
    for arm, stroke in (("left", pair.left), ("right", pair.right)):
        path = stroke.path.copy()
        path[1:-1] += down
        paths[arm] = np.vstack([path, np.repeat(path[-1:], count - len(path), axis=0)])
    out = np.empty((count, q.size))
    for i in range(len(out)):
        for arm, path in paths.items():
            q = kinematics.ik_needle_tip(arm, path[i], q)
        out[i] = q
    return out


def stroke_space_for(config, kinematics, **overrides) -> StrokeSpace:
    """The drawing regions of a robot: each arm's needle tip at ``ready``, on the work surface.

    ``config``: RobotConfig with a work_surface; ``kinematics``: its RobotKinematics;
    ``overrides``: any other StrokeSpace field (extent, lengths, hover).
    """
    if config.work_surface is None:
        raise ValueError("robot config has no work_surface: strokes need a surface to be drawn on")
    tips = kinematics.needle_tips(config.pose("ready"))
    centers = {arm.name: (float(tips[i, 0]), float(tips[i, 1])) for i, arm in enumerate(config.arms)}
    return StrokeSpace(centers=centers, surface_z=config.work_surface.z, **overrides)
