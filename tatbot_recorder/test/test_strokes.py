"""Stroke generation and upstream stroke files (pure, no ROS)."""

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from tatbot_recorder.core.strokes import (
    SHAPES,
    StrokeFileError,
    StrokeSpace,
    generate_stroke_pairs,
    load_strokebatch,
    shape_outline,
)

SPACE = StrokeSpace(centers={"left": (0.2, 0.08), "right": (0.2, -0.08)}, surface_z=0.1)


def test_generation_is_seeded_varied_and_inside_the_region():
    a = generate_stroke_pairs(30, seed=4, space=SPACE)
    b = generate_stroke_pairs(30, seed=4, space=SPACE)
    c = generate_stroke_pairs(30, seed=5, space=SPACE)
    assert [p.task for p in a] == [p.task for p in b]
    assert [p.task for p in a] != [p.task for p in c]
    kinds = {p.left.family for p in a} | {p.right.family for p in a}
    assert kinds == set(SHAPES)
    # the task names the families only (a vocabulary a prompt-conditioned policy can use); the
    # length, angle and position are in the episode's metadata
    assert {p.task for p in a} <= {f"left: {x}, right: {y}" for x in SHAPES for y in SHAPES}
    meta = a[0].metadata()["stroke_left"]
    assert meta["family"] == a[0].left.family and meta["description"].startswith(f"{a[0].left.family} ")
    assert " cm at " in meta["description"]
    for pair in a:
        for arm, stroke in (("left", pair.left), ("right", pair.right)):
            assert stroke.path.shape == (SPACE.points, 3)
            np.testing.assert_allclose(stroke.drawn[:, 2], SPACE.surface_z)
            np.testing.assert_allclose(stroke.path[[0, -1], 2], SPACE.surface_z + SPACE.hover)
            np.testing.assert_allclose(stroke.path[0, :2], stroke.drawn[0, :2])
            reach = SPACE.spread + SPACE.max_length
            assert np.all(np.abs(stroke.drawn[:, :2] - SPACE.centers[arm]) <= reach)
            length = np.linalg.norm(np.diff(stroke.drawn, axis=0), axis=1).sum()
            assert SPACE.min_length * 0.9 <= length <= SPACE.max_length * 1.01
        assert pair.task.startswith("left: ") and ", right: " in pair.task


@pytest.mark.parametrize("kind", SHAPES)
def test_shape_outline_has_the_asked_length(kind):
    pts = shape_outline(kind, 0.03, np.random.default_rng(0))
    assert np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() == pytest.approx(0.03, rel=0.02)


def test_unknown_shape_is_named():
    with pytest.raises(ValueError, match="unknown stroke shape 'spiral'"):
        shape_outline("spiral", 0.03, np.random.default_rng(0))


def _write_upstream(tmp_path, joints, pairs):
    save_file({"joints": joints.astype(np.float32)}, str(tmp_path / "strokebatch.safetensors"))
    (tmp_path / "strokes.yaml").write_text(yaml.safe_dump({"strokes": pairs}))


def test_upstream_strokebatch_round_trip(tmp_path):
    joints = np.random.default_rng(0).uniform(-1, 1, size=(2, 8, 5, 14))
    pairs = [[{"description": "l0"}, {"description": "r0"}], [{"description": "l1"}, {"description": "r1"}]]
    _write_upstream(tmp_path, joints, pairs)
    batch = load_strokebatch(tmp_path)
    assert batch.descriptions == [("l0", "r0"), ("l1", "r1")]
    np.testing.assert_allclose(batch.trajectory(1), joints[1, :, 2, :], atol=1e-6)  # middle depth offset
    np.testing.assert_allclose(batch.trajectory(0, offset=4), joints[0, :, 4, :], atol=1e-6)
    with pytest.raises(StrokeFileError, match=r"depth offset index 5 outside 0\.\.4"):
        batch.trajectory(0, offset=5)


def test_upstream_files_inconsistent_are_named(tmp_path):
    with pytest.raises(StrokeFileError, match=r"strokebatch\.safetensors not found"):
        load_strokebatch(tmp_path)
    _write_upstream(tmp_path, np.zeros((3, 4, 1, 14)), [[{"description": "a"}, {"description": "b"}]])
    with pytest.raises(StrokeFileError, match="has 1 stroke pairs but"):
        load_strokebatch(tmp_path)
    _write_upstream(tmp_path, np.zeros((1, 4, 14)), [[{"description": "a"}, {"description": "b"}]])
    with pytest.raises(StrokeFileError, match=r"must be \(b, l, o, 14\)"):
        load_strokebatch(tmp_path)
