"""Checkpoint features vs configured cameras and joints (no ROS)."""

import pytest

from tatbot_vla_policy.core.features import Feature, FeatureMismatch, check_features, parse_camera_map

STATE = Feature("STATE", (14,))
ACTION = {"action": Feature("ACTION", (14,))}


def image(h=48, w=64):
    return Feature("VISUAL", (3, h, w))


def test_matching_checkpoint_gives_the_input_spec():
    inputs = {
        "observation.state": STATE,
        "observation.images.realsense1": image(),
        "observation.images.realsense2": image(96, 128),
        "observation.environment_state": Feature("ENV", (96,)),
    }
    spec = check_features(inputs, ACTION, ["realsense1", "realsense2", "ipcam"], 14)
    assert [(c.camera, c.height, c.width) for c in spec.cameras] == [
        ("realsense1", 48, 64),
        ("realsense2", 96, 128),
    ]
    assert spec.stencil_points_per_arm == 16 and spec.uses_stencil
    assert spec.action_dim == 14


def test_every_mismatch_is_listed_and_the_missing_camera_named():
    inputs = {
        "observation.state": Feature("STATE", (12,)),
        "observation.images.top": image(),
        "observation.images.realsense1": Feature("VISUAL", (1, 48, 64)),
        "observation.environment_state": Feature("ENV", (7,)),
        "observation.depth": Feature("VISUAL", (1, 8, 8)),
    }
    with pytest.raises(FeatureMismatch) as info:
        check_features(inputs, {"action": Feature("ACTION", (6,))}, ["realsense1"], 14)
    text = str(info.value)
    assert len(info.value.mismatches) == 6
    assert "missing camera 'top'" in text
    for fragment in ("observation.state", "(3, H, W)", "stencil state", "observation.depth", "outputs (6,)"):
        assert fragment in text


def test_camera_map_renames_checkpoint_cameras():
    inputs = {"observation.state": STATE, "observation.images.wrist_left": image()}
    spec = check_features(inputs, ACTION, ["realsense1"], 14, {"wrist_left": "realsense1"})
    assert spec.cameras[0].camera == "realsense1"
    assert spec.cameras[0].key == "observation.images.wrist_left"
    with pytest.raises(FeatureMismatch, match="does not use"):
        check_features(inputs, ACTION, ["realsense1"], 14, {"wrist_left": "realsense1", "x": "y"})


def test_state_and_action_are_required():
    with pytest.raises(FeatureMismatch) as info:
        check_features({}, {}, [], 14)
    assert len(info.value.mismatches) == 2


def test_parse_camera_map():
    assert parse_camera_map(["a=b", " c = d "]) == {"a": "b", "c": "d"}
    with pytest.raises(ValueError, match="checkpoint_camera=robot_camera"):
        parse_camera_map(["oops"])


def test_depth_inputs_are_fed_from_their_cameras_aligned_depth():
    """observation.images.<camera>_depth (1, H, W), bag_to_lerobot --depth's and LeRobot's name."""
    inputs = {
        "observation.state": STATE,
        "observation.images.wrist": image(),
        "observation.images.wrist_depth": Feature("VISUAL", (1, 24, 32)),
    }
    spec = check_features(inputs, ACTION, ["realsense1"], 14, {"wrist": "realsense1"})
    assert [(c.key, c.camera) for c in spec.cameras] == [("observation.images.wrist", "realsense1")]
    assert [(d.key, d.camera, d.height, d.width) for d in spec.depths] == [
        ("observation.images.wrist_depth", "realsense1", 24, 32)
    ]
    inputs["observation.images.wrist_depth"] = Feature("VISUAL", (3, 24, 32))
    inputs["observation.images.realsense2_depth"] = Feature("VISUAL", (1, 24, 32))
    with pytest.raises(FeatureMismatch) as info:
        check_features(inputs, ACTION, ["realsense1"], 14, {"wrist": "realsense1"})
    text = str(info.value)
    assert "observation.images.wrist_depth: expected a depth map of shape (1, H, W), got VISUAL (3, 24, 32)" in text
    assert "missing camera 'realsense2': the checkpoint expects its depth observation.images.realsense2_depth" in text
