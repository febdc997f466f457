"""The stencil input shared by the converter and the policy node (pure numpy)."""

import numpy as np
import pytest

from tatbot_bringup.stencil import (
    STENCIL_STEP,
    StencilTracker,
    closest_arc_length,
    path_ahead,
    resample_polyline,
    stencil_state,
    stencil_state_names,
)

LINE = np.array([[0.0, 0.0, 0.0], [0.027, 0.0, 0.0]])
STEP = STENCIL_STEP


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
    ahead, progress = path_ahead(LINE, tip, points=4)
    assert progress == pytest.approx(0.0105)
    np.testing.assert_allclose(ahead[:, 0], 0.0105 + STEP * np.arange(4) - tip[0], atol=1e-12)
    np.testing.assert_allclose(ahead[:, 1], -0.002)
    np.testing.assert_allclose(ahead[:, 2], 0.0)


def test_path_ahead_above_the_start_sees_the_whole_beginning_and_repeats_the_end():
    above, _ = path_ahead(LINE, np.array([0.0, 0.0, 0.01]), points=3)
    np.testing.assert_allclose(above, [[0, 0, -0.01], [STEP, 0, -0.01], [2 * STEP, 0, -0.01]], atol=1e-12)
    at_end, _ = path_ahead(LINE, np.array([0.0265, 0.0, 0.0]), points=3)
    np.testing.assert_allclose(at_end[:, 0], [0.0, 0.0005, 0.0005], atol=1e-12)
    # the spacing is the drawing step, whatever the path's length
    long_line = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]])
    np.testing.assert_allclose(np.diff(path_ahead(long_line, np.zeros(3), 4)[0][:, 0]), STEP, atol=1e-12)


def test_path_ahead_rejects_bad_input():
    with pytest.raises(ValueError, match="points"):
        path_ahead(LINE, np.zeros(3), points=0)
    with pytest.raises(ValueError, match="not finite"):
        path_ahead(LINE, np.array([0.0, np.inf, 0.0]))
    np.testing.assert_allclose(path_ahead(np.ones((1, 3)), np.zeros(3), points=2)[0], np.ones((2, 3)))
    with pytest.raises(ValueError, match="empty"):
        StencilTracker(np.zeros((0, 3)), LINE)


def test_stencil_state_is_both_arms_flat_with_names():
    left, right = LINE, LINE + np.array([0.0, -0.5, 0.0])
    tips = np.array([[0.0, 0.0, 0.01], [0.0, -0.5, 0.01]])
    state = stencil_state(left, right, tips, points_per_arm=5)
    assert state.shape == (30,) and state.dtype == np.float32
    np.testing.assert_allclose(state[:15], path_ahead(left, tips[0], 5)[0].ravel(), atol=1e-7)
    np.testing.assert_allclose(state[15:], state[:15], atol=1e-7)  # the same stroke 0.5 m to the right
    names = stencil_state_names(5)
    assert len(names) == 30 and names[0] == "stencil_ahead.left.p00.dx" and names[-1] == "stencil_ahead.right.p04.dz"


def test_closest_arc_length_searches_only_the_given_span():
    corner = np.array([[0.0, 0, 0], [1.0, 0, 0], [1.0, 1.0, 0]])
    assert closest_arc_length(corner, np.array([0.9, 0.1, 0.0]), since=1.2) == pytest.approx(1.2)
    assert closest_arc_length(corner, np.array([1.0, 0.9, 0.0]), reach=0.5) == pytest.approx(0.5)
    assert closest_arc_length(corner, np.array([1.0, 0.9, 0.0]), since=0.5, reach=1.0) == pytest.approx(1.5)


def _circle(points=200, radius=0.01):
    t = np.linspace(0.0, 2 * np.pi, points)
    return np.stack([radius * np.cos(t), radius * np.sin(t), np.zeros_like(t)], axis=1)


def test_tracker_follows_a_closed_shape_to_its_end():
    circle = _circle()
    tracker = StencilTracker(circle, circle)
    for tip in [*circle[::5], circle[-1]]:  # the needle goes round once, in time order
        state = tracker(np.stack([tip, tip]))
    # at the end the stencil ahead is the end of the path: nothing left to draw
    np.testing.assert_allclose(state[:30], 0.0, atol=1e-9)
    assert tracker.progress[0] == pytest.approx(2 * np.pi * 0.01, rel=1e-3)
    # the needle overshoots the closing point by 0.3 mm: still the end for the tracker, while the
    # lookup without the order sees the start of the shape again and would draw it a second time
    past = np.array([0.01 * np.cos(0.03), 0.01 * np.sin(0.03), 0.0])
    ahead = tracker(np.stack([past, past]))[:30].reshape(10, 3)
    np.testing.assert_allclose(np.diff(ahead, axis=0), 0.0, atol=1e-12)
    again = stencil_state(circle, circle, np.stack([past, past]))[:30].reshape(10, 3)
    np.testing.assert_allclose(np.linalg.norm(np.diff(again, axis=0), axis=1), STEP, rtol=0.01)


def test_tracker_keeps_the_path_order_where_it_crosses_itself():
    # a figure-eight-like path: out along x, up, back across its own start segment, down
    path = np.array([[0, 0, 0], [0.02, 0, 0], [0.02, 0.01, 0], [0.01, 0.01, 0], [0.01, -0.01, 0]], dtype=float)
    crossing = np.array([0.01, 0.0, 0.0])  # on the first segment and on the last one
    tracker = StencilTracker(path, path)
    for x in np.linspace(0.0, 0.0095, 10):  # drawing the first segment, just before the crossing
        tracker(np.array([[x, 0.0, 0.0]] * 2))
    ahead = tracker(np.stack([crossing, crossing]))[:30].reshape(10, 3)
    np.testing.assert_allclose(ahead[1], [STEP, 0.0, 0.0], atol=1e-9)  # still along the first segment
    assert tracker.progress[0] == pytest.approx(0.01)


def test_a_closed_shape_smaller_than_the_reach_starts_at_its_start():
    tiny = _circle(radius=0.001)  # 6 mm round: start and end are within the 5 mm reach
    tracker = StencilTracker(tiny, tiny)
    start = tiny[0] + np.array([0.0, -1e-4, 0.0])  # just off the closing point
    tracker(np.stack([start, start]))
    assert tracker.progress[0] < 1e-3  # at its start, not already at its end


def test_looking_back_does_not_move_the_tracker_on():
    tracker = StencilTracker(LINE, LINE)
    tip = np.array([[0.01, 0.0, 0.0]] * 2)
    tracker(tip)  # from its start the tracker reaches 5 mm: the needle moved faster than it looks ahead
    assert tracker.progress == pytest.approx([0.005, 0.005])
    moved = tracker(tip)  # the next observation catches up
    assert tracker.progress == pytest.approx([0.01, 0.01])
    earlier = tracker(np.array([[0.004, 0.0, 0.0]] * 2), since=[0.0, 0.0], advance=False)
    assert tracker.progress == pytest.approx([0.01, 0.01])
    np.testing.assert_allclose(earlier[:3], 0.0, atol=1e-9)  # the closest point of that earlier tip
    np.testing.assert_allclose(tracker(tip), moved)
