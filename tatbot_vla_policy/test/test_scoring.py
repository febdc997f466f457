"""Stroke scoring: deviation, coverage and corners against the stencil."""

import itertools

import numpy as np
import pytest

from tatbot_bringup.designs import load_svg_design
from tatbot_bringup.strokes import StrokeSpace
from tatbot_vla_policy.core.scoring import StrokeCriteria, point_to_polyline_distance, score_stroke, sharp_corners

Z = 0.1
STENCIL = np.array([[0.0, 0.0, Z], [0.03, 0.0, Z], [0.03, 0.02, Z]])  # an L: 5 cm long


def _trace(offset_y=0.0, fraction=1.0, lift=0.0):
    t = np.linspace(0.0, 0.05 * fraction, 200)
    x = np.minimum(t, 0.03)
    y = np.maximum(t - 0.03, 0.0) + offset_y
    return np.stack([x, y, np.full_like(t, Z + lift)], axis=1)


def test_distance_to_polyline():
    d = point_to_polyline_distance(np.array([[0.01, 0.001, Z], [0.04, 0.01, Z], [-0.003, 0.0, Z]]), STENCIL)
    np.testing.assert_allclose(d, [0.001, 0.01, 0.003], atol=1e-12)


def test_exact_trace_succeeds():
    score = score_stroke(_trace(), STENCIL, Z)
    assert score.success and score.coverage > 0.99 and score.deviation_p95_mm < 1e-6


def test_offset_trace_fails_on_deviation():
    score = score_stroke(_trace(offset_y=0.003), STENCIL, Z)
    assert not score.success and score.deviation_p95_mm == pytest.approx(3.0, abs=0.05)


def test_partial_trace_fails_on_coverage():
    score = score_stroke(_trace(fraction=0.6), STENCIL, Z)
    assert not score.success and 0.55 < score.coverage < 0.65 and score.deviation_p95_mm < 1e-6


def test_hovering_needle_leaves_no_ink():
    score = score_stroke(_trace(lift=0.005), STENCIL, Z)
    assert not score.success and score.inked_samples == 0 and score.coverage == 0.0


def test_criteria_are_configurable():
    loose = StrokeCriteria(tolerance=0.004)
    assert score_stroke(_trace(offset_y=0.003), STENCIL, Z, loose).success


def test_sharp_corners_are_found_once_and_curves_are_not_corners():
    corners = sharp_corners(STENCIL)
    np.testing.assert_allclose(corners, [[0.03, 0.0, Z]], atol=6e-4)  # the L's one corner
    t = np.linspace(0.0, 2 * np.pi, 200)
    circle = np.stack([0.005 * np.cos(t), 0.005 * np.sin(t), np.full_like(t, Z)], axis=1)  # r = 5 mm
    assert len(sharp_corners(circle)) == 0
    zigzag = np.array([[0, 0, Z], [0.01, 0.005, Z], [0.02, 0, Z], [0.03, 0.005, Z]])
    assert len(sharp_corners(zigzag)) == 2


def test_a_cut_corner_fails_even_when_the_coverage_allows_it():
    """The L drawn with its corner cut by a 3 mm chamfer: 97 % coverage, 95 % of the ink on the line,
    but the corner is 2.1 mm from the ink."""
    cut = 0.003
    chamfer = np.array([[0.0, 0.0, Z], [0.03 - cut, 0.0, Z], [0.03, cut, Z], [0.03, 0.02, Z]])
    ink = np.concatenate([np.linspace(a, b, 100) for a, b in itertools.pairwise(chamfer)])
    score = score_stroke(ink, STENCIL, Z)
    assert score.coverage >= 0.9 and score.deviation_p95_mm <= 2.0
    assert score.corners == 1 and score.corner_error_mm == pytest.approx(cut / np.sqrt(2) * 1e3, rel=0.02)
    assert not score.success
    assert score_stroke(_trace(), STENCIL, Z).corner_error_mm < 0.1  # ink samples 0.25 mm apart round it


def test_score_of_a_known_path_from_an_svg(tmp_path):
    """A circle of an SVG design drawn exactly succeeds; 3 mm off, or half of it, fails."""
    space = StrokeSpace(centers={"left": (0.2, 0.08), "right": (0.2, -0.08)}, surface_z=Z)
    svg = tmp_path / "circle.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="3"/></svg>')
    circle = load_svg_design(svg, space, size=0.05).pairs[0].left.drawn
    exact = score_stroke(circle, circle, Z)
    assert exact.success and exact.coverage == pytest.approx(1.0) and exact.deviation_p95_mm < 1e-6
    shifted = score_stroke(circle + np.array([0.003, 0.0, 0.0]), circle, Z)
    assert not shifted.success and shifted.deviation_p95_mm > 2.0
    half = score_stroke(circle[: len(circle) // 2], circle, Z)  # stopped half way round
    assert not half.success and half.coverage == pytest.approx(0.5, abs=0.05)
