"""The stencil input shared by the converter and the policy node (pure numpy)."""

import numpy as np
import pytest

from tatbot_bringup.stencil import (
    STROKE_SAMPLES,
    closest_arc_length,
    path_ahead,
    resample_polyline,
    stencil_state,
    stencil_state_names,
)

LINE = np.array([[0.0, 0.0, 0.0], [0.027, 0.0, 0.0]])  # 27 mm: one spacing is 1 mm
STEP = 0.027 / (STROKE_SAMPLES - 1)


def test_resample_polyline_spaces_points_evenly_by_arc_length():
    points = resample_polyline(np.array([[0.0, 0, 0], [1.0, 0, 0], [1.0, 2.0, 0]]), 4)
    np.testing.assert_allclose(points, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 2, 0]])
    np.testing.assert_allclose(resample_polyline(np.ones((1, 3)), 3), np.ones((3, 3)))
    with pytest.raises(ValueError, match="empty"):
        resample_polyline(np.zeros((0, 3)), 3)
    with pytest.raises(ValueError, match="NaN"):
        resample_polyline(np.array([[0.0, np.nan, 0.0]]), 3)


def test_closest_arc_length_projects_onto_the_nearest_segment():
    corner = np.array([[0.0, 0, 0], [1.0, 0, 0], [1.0, 1.0, 0]])
    assert closest_arc_length(corner, np.array([0.25, 0.3, 0.0])) == pytest.approx(0.25)
    assert closest_arc_length(corner, np.array([1.2, 0.5, 0.0])) == pytest.approx(1.5)
    assert closest_arc_length(corner, np.array([-1.0, 0.0, 0.0])) == 0.0
    assert closest_arc_length(corner, np.array([1.0, 3.0, 0.0])) == pytest.approx(2.0)


def test_path_ahead_starts_at_the_closest_point_relative_to_the_tip():
    tip = np.array([0.0105, 0.002, 0.0])  # 2 mm beside the line, 10.5 mm along it
    ahead = path_ahead(LINE, tip, points=4)
    np.testing.assert_allclose(ahead[:, 0], 0.0105 + STEP * np.arange(4) - tip[0], atol=1e-12)
    np.testing.assert_allclose(ahead[:, 1], -0.002)
    np.testing.assert_allclose(ahead[:, 2], 0.0)


def test_path_ahead_above_the_start_sees_the_whole_beginning_and_repeats_the_end():
    above = path_ahead(LINE, np.array([0.0, 0.0, 0.01]), points=3)
    np.testing.assert_allclose(above, [[0, 0, -0.01], [STEP, 0, -0.01], [2 * STEP, 0, -0.01]], atol=1e-12)
    at_end = path_ahead(LINE, np.array([0.0265, 0.0, 0.0]), points=3)
    np.testing.assert_allclose(at_end[:, 0], [0.0, 0.0005, 0.0005], atol=1e-12)


def test_path_ahead_rejects_bad_input():
    with pytest.raises(ValueError, match="points"):
        path_ahead(LINE, np.zeros(3), points=0)
    with pytest.raises(ValueError, match="not finite"):
        path_ahead(LINE, np.array([0.0, np.inf, 0.0]))
    np.testing.assert_allclose(path_ahead(np.ones((1, 3)), np.zeros(3), points=2), np.ones((2, 3)))


def test_stencil_state_is_both_arms_flat_with_names():
    left, right = LINE, LINE + np.array([0.0, -0.5, 0.0])
    tips = np.array([[0.0, 0.0, 0.01], [0.0, -0.5, 0.01]])
    state = stencil_state(left, right, tips, points_per_arm=5)
    assert state.shape == (30,) and state.dtype == np.float32
    np.testing.assert_allclose(state[:15], path_ahead(left, tips[0], 5).ravel(), atol=1e-7)
    np.testing.assert_allclose(state[15:], state[:15], atol=1e-7)  # the same stroke 0.5 m to the right
    names = stencil_state_names(5)
    assert len(names) == 30 and names[0] == "stencil_ahead.left.p00.dx" and names[-1] == "stencil_ahead.right.p04.dz"
