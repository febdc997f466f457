"""Stroke generation and upstream stroke files (pure, no ROS)."""

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from tatbot_bringup.strokes import (
    CLOSED_SHAPES,
    LENGTH_BINS,
    MIN_CLOSED_LENGTH,
    POSITION_BINS,
    SHAPES,
    StrokeFileError,
    StrokeSpace,
    generate_stroke_pairs,
    load_strokebatch,
    plan_joint_path,
    shape_outline,
    stroke_space_for,
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
            np.testing.assert_allclose(stroke.drawn[:, 2], SPACE.surface_z)
            np.testing.assert_allclose(stroke.path[[0, -1], 2], SPACE.surface_z + SPACE.hover)
            np.testing.assert_allclose(stroke.path[0, :2], stroke.drawn[0, :2])
            # the whole stroke inside the arm's drawing region
            assert np.all(np.abs(stroke.drawn[:, :2] - SPACE.centers[arm]) <= SPACE.extent + 1e-9)
            steps = np.linalg.norm(np.diff(stroke.drawn, axis=0), axis=1)
            assert stroke.length == pytest.approx(steps.sum(), rel=0.05)  # resampling cuts corners a little
            assert SPACE.min_length * 0.999 <= stroke.length <= SPACE.max_length * 1.001
            # one pose per demonstration step at the drawing speed, whatever the length
            assert steps.max() <= SPACE.step * 1.001 and steps.mean() >= SPACE.step * 0.8
            if stroke.family in CLOSED_SHAPES:
                np.testing.assert_allclose(stroke.drawn[0], stroke.drawn[-1], atol=1e-9)
                assert stroke.length >= MIN_CLOSED_LENGTH * 0.999
        assert pair.task.startswith("left: ") and ", right: " in pair.task


def test_generated_strokes_cover_lengths_and_the_whole_region():
    pairs = generate_stroke_pairs(200, seed=0, space=SPACE)
    strokes = [s for p in pairs for s in (p.left, p.right)]
    lengths = np.array([s.length for s in strokes])
    assert lengths.min() < 0.015 and lengths.max() > 0.08  # ~1 to ~10 cm
    offsets = np.array([s.offset for s in strokes])
    assert np.abs(offsets).max() > 0.035  # strokes reach the region's edge
    families = {k: {s.families()[k] for s in strokes} for k in ("length", "position")}
    assert families == {
        "length": {name for _, name in LENGTH_BINS},
        "position": {name for _, name in POSITION_BINS},
    }


def test_the_shorter_stroke_of_a_pair_waits_hovering_while_the_other_draws():
    from tatbot_bringup.kinematics import RobotKinematics
    from tatbot_bringup.robot_config import load_robot_config

    config = load_robot_config()
    kin = RobotKinematics.from_config(config)
    space = stroke_space_for(config, kin)
    pair = next(p for p in generate_stroke_pairs(20, 0, space) if len(p.left.path) < len(p.right.path) - 5)
    path = plan_joint_path(pair, kin, config.pose("ready"), depth=0.0)
    assert len(path) == len(pair.right.path)
    tips = kin.needle_tips(path)
    np.testing.assert_allclose(tips[:, 1], pair.right.path, atol=1e-4)
    np.testing.assert_allclose(tips[: len(pair.left.path), 0], pair.left.path, atol=1e-4)
    np.testing.assert_allclose(
        tips[len(pair.left.path) :, 0], pair.left.path[-1][None].repeat(len(path) - len(pair.left.path), 0), atol=1e-4
    )


@pytest.mark.parametrize("kind", SHAPES)
def test_shape_outline_has_the_asked_length(kind):
    pts = shape_outline(kind, 0.03, np.random.default_rng(0))
    assert np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() == pytest.approx(0.03, rel=1e-9)
    np.testing.assert_allclose(pts[0], 0.0)


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
