"""A design the user brings, as stroke pairs to draw and score: an SVG file, or upstream tatbot's
strokes (strokebatch.safetensors + strokes.yaml).

Pure Python (numpy, svgelements; no rclpy). Every stroke of an SVG design becomes one episode
in which **both arms draw it, each in its own drawing region** (StrokeSpace: the region's centre
and extent), so one design yields a copy per arm and both arms are scored on every stroke. An
upstream strokebatch already pairs a left and a right stroke per episode: each arm draws its own.

SVG: every subpath of every shape element (path, line, polyline, polygon, rect, circle, ellipse;
transforms applied) is one stroke, in document order. The design
keeps its proportions and is scaled so that its larger side is ``size`` (default: the drawing
region), centred in each region. SVG x runs along world +x and SVG y (downwards on the page)
along world -y: the design reads as drawn when the surface is seen from above with +x to the
right. Strokes shorter than two drawing steps are dots, not strokes: they are left out and
counted.

strokebatch: each stroke's joint path (the middle depth offset) gives the needle tips through
the kinematics; the tips between the first and last pose are the stroke, laid on the work
surface, and drawn at the stencil's speed like a generated stroke.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tatbot_bringup.strokes import StrokePair, StrokeSpace, load_strokebatch, stroke_on_surface


class DesignError(ValueError):
    """A design file that cannot be read or holds nothing to draw."""


@dataclass(frozen=True)
class Design:
    name: str  # the file's stem: the family of its strokes in tasks and reports
    source: str  # the file or directory it came from
    pairs: list[StrokePair]  # one per stroke (SVG: both arms drawing it; strokebatch: its pair)
    dropped: int = 0  # strokes too short to draw (dots)
    both_arms: bool = True  # every stroke drawn by both arms (SVG); False: upstream pairs


def svg_polylines(path: str | Path) -> list[np.ndarray]:
    """Every subpath of every shape of an SVG file as a (N, 2) polyline in SVG user units (px, y
    down), in document order; curves and arcs sampled once per user unit (at least 8 points)."""
    import svgelements

    try:
        svg = svgelements.SVG.parse(str(path))
    except (OSError, ValueError) as exc:
        raise DesignError(f"{path}: not a readable SVG file ({exc})") from exc
    except Exception as exc:  # xml.etree.ElementTree.ParseError and friends
        raise DesignError(f"{path}: not a valid SVG file ({type(exc).__name__}: {exc})") from exc
    lines = []
    for element in svg.elements():
        if not isinstance(element, svgelements.Shape) or isinstance(element, svgelements.Text):
            continue
        for subpath in svgelements.Path(element).as_subpaths():
            points: list[tuple[float, float]] = []
            for segment in subpath:
                if isinstance(segment, svgelements.Move):
                    points = points or [(segment.end.x, segment.end.y)]
                    continue
                if isinstance(segment, svgelements.Line | svgelements.Close):
                    ts = np.array([1.0])
                else:
                    ts = np.linspace(0.0, 1.0, max(8, math.ceil(segment.length())) + 1)[1:]
                points.extend((p.x, p.y) for p in (segment.point(float(t)) for t in ts))
            line = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            line = line[np.r_[True, np.any(np.diff(line, axis=0) != 0, axis=1)]]  # no repeated points
            if len(line) >= 2:
                lines.append(line)
    return lines


def load_svg_design(path: str | Path, space: StrokeSpace, size: float | None = None) -> Design:
    """The strokes of an SVG file, scaled so the design's larger side is ``size`` (m; default the
    drawing region, 2 × space.extent) and centred in each arm's region."""
    path = Path(path)
    if not path.is_file():
        raise DesignError(f"{path} not found (--design takes an .svg file or a strokebatch directory)")
    lines = svg_polylines(path)
    if not lines:
        raise DesignError(f"{path}: no path or shape to draw (text is not drawn: convert it to paths)")
    size = 2 * space.extent if size is None else size
    if not size > 0:
        raise DesignError(f"design size must be > 0 m, got {size}")
    every = np.vstack(lines)
    low, high = every.min(axis=0), every.max(axis=0)
    extent = float((high - low).max())
    if extent == 0.0:
        raise DesignError(f"{path}: every shape is a single point: nothing to draw")
    scale = size / extent
    middle = (low + high) / 2
    to_world = np.array([scale, -scale])  # SVG y points down the page: world -y
    pairs, dropped = [], 0
    for index, line in enumerate(lines):
        xy = (line - middle) * to_world  # relative to the region's centre, m
        if np.linalg.norm(np.diff(xy, axis=0), axis=1).sum() < 2 * space.step:
            dropped += 1
            continue
        strokes = []
        for arm in ("left", "right"):
            center = np.asarray(space.centers[arm])
            offset = (xy.max(axis=0) + xy.min(axis=0)) / 2
            description = f"{path.stem} stroke {index}, ({center[0] + offset[0]:.3f}, {center[1] + offset[1]:.3f}) m"
            strokes.append(stroke_on_surface(path.stem, description, xy + center, space, offset))
        pairs.append(StrokePair(*strokes))
    if not pairs:
        raise DesignError(f"{path}: every stroke is shorter than {2 * space.step * 1e3:.1f} mm at size {size} m")
    return Design(path.stem, str(path), pairs, dropped)


def load_strokebatch_design(directory: str | Path, space: StrokeSpace, kinematics) -> Design:
    """Upstream tatbot's strokes as a design: each stroke's needle tips (forward kinematics of its
    middle depth offset), on the work surface. ``kinematics``: a RobotKinematics."""
    directory = Path(directory)
    batch = load_strokebatch(directory)
    pairs = []
    for index, names in enumerate(batch.descriptions):
        tips = kinematics.needle_tips(batch.trajectory(index))  # (l, arms, 3)
        if len(tips) < 3:
            raise DesignError(f"{directory}: stroke {index} has {len(tips)} poses; at least 3 are needed")
        strokes = []
        for arm, name in enumerate(names):
            xy = tips[1:-1, arm, :2]
            arm_name = ("left", "right")[arm]
            offset = (xy.max(axis=0) + xy.min(axis=0)) / 2 - np.asarray(space.centers[arm_name])
            strokes.append(stroke_on_surface("strokebatch", name or f"stroke {index}", xy, space, offset))
        pairs.append(StrokePair(*strokes))
    return Design(directory.name, str(directory), pairs, both_arms=False)


def load_design(source: str | Path, space: StrokeSpace, kinematics, size: float | None = None) -> Design:
    """An .svg file or a strokebatch directory (strokebatch.safetensors + strokes.yaml)."""
    source = Path(source)
    if source.is_dir():
        return load_strokebatch_design(source, space, kinematics)
    if source.suffix.lower() != ".svg":
        raise DesignError(f"{source}: a design is an .svg file or a strokebatch directory")
    return load_svg_design(source, space, size)
