"""Observation assembly from cached samples: order, resize, history, stencil, staleness (no ROS)."""

import numpy as np
import pytest

from tatbot_bringup.robot_config import load_robot_config
from tatbot_bringup.stencil import stencil_state
from tatbot_vla_policy.core.features import CameraInput, InputSpec
from tatbot_vla_policy.core.observation import (
    DepthFormat,
    ObservationBuffer,
    ObservationError,
    StaleObservation,
    image_to_chw,
)

NAMES = load_robot_config().joint_names


def fake_tips(q):
    """A stand-in for the kinematics: the left tip is joints 0-2, the right tip joints 7-9."""
    return np.stack([q[..., 0:3], q[..., 7:10]], axis=-2)


def spec(stencil_points=0):
    cams = (
        CameraInput("observation.images.realsense1", "realsense1", 48, 64),
        CameraInput("observation.images.realsense2", "realsense2", 24, 32),
    )
    return InputSpec(cameras=cams, state_dim=14, stencil_points_per_arm=stencil_points, action_dim=14)


def rgb(value, h=96, w=128):
    return np.full((h, w, 3), value, dtype=np.uint8)


def filled(buffer, t=10.0):
    buffer.add_joint_state(t, NAMES, np.arange(14.0))
    buffer.add_image("realsense1", t, rgb(255))
    buffer.add_image("realsense2", t, rgb(0))
    return buffer


def test_state_is_reordered_by_name_and_merged_across_messages():
    buffer = ObservationBuffer(NAMES, spec())
    left, right = NAMES[:7], NAMES[7:]
    buffer.add_joint_state(10.0, ["extra/joint", *reversed(right)], [99.0, *reversed(np.arange(7.0, 14.0))])
    with pytest.raises(ObservationError, match="left/joint_0"):
        buffer.snapshot(10.0, 1.0)
    buffer.add_joint_state(10.01, left, np.arange(7.0))
    buffer.add_image("realsense1", 10.0, rgb(10))
    buffer.add_image("realsense2", 10.0, rgb(10))
    obs = buffer.snapshot(10.02, 1.0)
    np.testing.assert_array_equal(obs.features["observation.state"], np.arange(14.0))
    assert obs.features["observation.state"].dtype == np.float32
    assert obs.stamp == 10.0  # the oldest joint sample of the merged vector
    assert obs.age == pytest.approx(0.02)


def test_missing_inputs_are_all_named():
    buffer = ObservationBuffer(NAMES, spec(stencil_points=2), needle_tips=fake_tips)
    with pytest.raises(ObservationError) as info:
        buffer.check(0.0, 1.0)
    for name in ("joint_states", "realsense1", "realsense2", "stencil"):
        assert name in str(info.value)


def test_images_are_resized_to_the_checkpoint_and_scaled_to_unit_range():
    obs = filled(ObservationBuffer(NAMES, spec())).snapshot(10.0, 1.0)
    one, two = obs.features["observation.images.realsense1"], obs.features["observation.images.realsense2"]
    assert one.shape == (3, 48, 64) and two.shape == (3, 24, 32)
    assert one.dtype == np.float32
    np.testing.assert_allclose(one, 1.0)
    np.testing.assert_allclose(two, 0.0)


def test_image_to_chw_keeps_channels_in_rgb_order():
    img = np.zeros((4, 6, 3), dtype=np.uint8)
    img[..., 0] = 255
    chw = image_to_chw(img, 4, 6)
    np.testing.assert_allclose(chw[0], 1.0)
    np.testing.assert_allclose(chw[1:], 0.0)
    with pytest.raises(ObservationError, match="HxWx3"):
        image_to_chw(np.zeros((4, 6), dtype=np.uint8), 4, 6)


def test_newest_image_is_used():
    buffer = filled(ObservationBuffer(NAMES, spec()))
    buffer.add_image("realsense1", 10.05, rgb(0))
    buffer.add_image("realsense1", 10.01, rgb(255))  # late, out of order: ignored
    obs = buffer.snapshot(10.06, 1.0)
    np.testing.assert_allclose(obs.features["observation.images.realsense1"], 0.0)


def test_stale_input_is_reported_with_its_age():
    buffer = filled(ObservationBuffer(NAMES, spec()))
    buffer.add_joint_state(10.4, NAMES, np.zeros(14))
    buffer.add_image("realsense1", 10.4, rgb(0))
    assert buffer.check(10.45, 0.5) == pytest.approx(0.45)
    with pytest.raises(StaleObservation) as info:
        buffer.snapshot(10.6, 0.5)
    assert set(info.value.stale) == {"realsense2"}
    assert "realsense2 600 ms" in str(info.value)


def test_stencil_state_uses_the_converter_function_at_the_state_needle_tips():
    buffer = filled(ObservationBuffer(NAMES, spec(stencil_points=3), needle_tips=fake_tips))
    left = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    right = np.array([[0.0, 1.0, 0.0]])
    buffer.set_stencil(left, right)
    obs = buffer.snapshot(10.0, 1.0)
    tips = fake_tips(np.arange(14.0))
    np.testing.assert_array_equal(obs.features["observation.environment_state"], stencil_state(left, right, tips, 3))
    with pytest.raises(ValueError, match="empty"):
        buffer.set_stencil(np.zeros((0, 3)), right)


def test_a_stencil_checkpoint_needs_the_kinematics():
    with pytest.raises(ValueError, match="needle_tips"):
        ObservationBuffer(NAMES, spec(stencil_points=3))


def test_history_samples_at_dt_and_repeats_the_oldest_at_the_start():
    buffer = ObservationBuffer(NAMES, spec(stencil_points=1), n_obs_steps=3, dt=0.1, needle_tips=fake_tips)
    buffer.set_stencil(np.zeros((1, 3)), np.ones((1, 3)))
    for k in range(4):  # state k at t = 10 + k * 0.05
        t = 10.0 + 0.05 * k
        buffer.add_joint_state(t, NAMES, np.full(14, float(k)))
        buffer.add_image("realsense1", t, rgb(80 * k))
        buffer.add_image("realsense2", t, rgb(80 * k))
    obs = buffer.snapshot(10.15, 1.0)  # samples at 9.95 (before history: oldest), 10.05, 10.15
    np.testing.assert_array_equal(obs.features["observation.state"][:, 0], [0.0, 1.0, 3.0])
    assert obs.features["observation.images.realsense1"].shape == (3, 3, 48, 64)
    np.testing.assert_allclose(obs.features["observation.images.realsense2"][:, 0, 0, 0], [0.0, 80 / 255, 240 / 255])
    env = obs.features["observation.environment_state"]
    assert env.shape == (3, 6)
    # each step's stencil is relative to that step's needle tips: the point, minus the tip
    np.testing.assert_allclose(env[:, 0], -np.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(env[:, 3], 1.0 - np.array([0.0, 1.0, 3.0]))


def test_clear_forgets_samples():
    buffer = filled(ObservationBuffer(NAMES, spec()))
    assert buffer.latest_state() is not None
    buffer.clear()
    assert buffer.latest_state() is None
    with pytest.raises(ObservationError):
        buffer.check(10.0, 1.0)


def test_history_of_the_stencil_is_what_each_step_saw_when_it_was_the_newest():
    """n_obs_steps 2 at 10 Hz, the needle moving along its line: the older step of each snapshot is
    the stencil the previous snapshot gave for its newest step (as the converter computed it)."""
    buffer = ObservationBuffer(NAMES, spec(stencil_points=3), n_obs_steps=2, dt=0.1, needle_tips=fake_tips)
    line = np.array([[0.0, 0.0, 0.0], [0.03, 0.0, 0.0]])
    buffer.set_stencil(line, line + np.array([0.0, 1.0, 0.0]))
    previous = None
    for k in range(8):
        t = 10.0 + 0.1 * k
        q = np.zeros(14)
        q[0], q[8] = 0.002 * k, 1.0  # left tip x = 2 mm per step; right tip on its line
        q[7] = 0.002 * k
        buffer.add_joint_state(t, NAMES, q)
        buffer.add_image("realsense1", t, rgb(0))
        buffer.add_image("realsense2", t, rgb(0))
        env = buffer.snapshot(t, 1.0).features["observation.environment_state"]
        assert env.shape == (2, 18)
        np.testing.assert_allclose(env[1][:3], 0.0, atol=1e-7)  # the newest tip is on the line
        if previous is not None:
            np.testing.assert_allclose(env[0], previous, atol=1e-7)
        previous = env[1]
    buffer.restart_stencil()  # a new run starts the design again: the tip 14 mm along is 5 mm ahead at most
    t += 0.1
    buffer.add_joint_state(t, NAMES, q)
    env = buffer.snapshot(t, 1.0).features["observation.environment_state"]
    np.testing.assert_allclose(env[1][0], 0.005 - 0.014, atol=1e-7)


DEPTH = CameraInput("observation.images.realsense1_depth", "realsense1", 24, 32)


def test_depth_is_an_input_like_a_camera_missing_stale_and_served_in_mm():
    """A checkpoint taking depth waits for it and stops on a frozen depth stream like on a frozen
    camera; the frame is served (1, H, W) float32 mm at the checkpoint's size."""
    depth_spec = InputSpec(spec().cameras, 14, 0, 14, depths=(DEPTH,))
    with pytest.raises(ValueError, match="needs their DepthFormat"):
        ObservationBuffer(NAMES, depth_spec)
    buffer = filled(ObservationBuffer(NAMES, depth_spec, depth_formats={DEPTH.key: DepthFormat(None)}))
    with pytest.raises(ObservationError, match=r"depth realsense1 \(no aligned depth image yet\)"):
        buffer.snapshot(10.0, 1.0)
    mm = np.full((48, 64), 300, np.uint16)
    mm[:2, :2] = 0
    buffer.add_depth("realsense1", 10.0, mm)
    depth = buffer.snapshot(10.0, 1.0).features[DEPTH.key]
    assert depth.dtype == np.float32 and depth.shape == (1, 24, 32)
    assert depth[0, 0, 0] == 0.0 and np.all(depth[0, 1:, 1:] == 300.0)  # --images: as recorded
    buffer.add_joint_state(10.5, NAMES, np.arange(14.0))
    buffer.add_image("realsense1", 10.5, rgb(255))
    buffer.add_image("realsense2", 10.5, rgb(0))
    with pytest.raises(StaleObservation, match="depth realsense1 500 ms") as info:
        buffer.snapshot(10.5, 0.2)
    assert set(info.value.stale) == {"depth realsense1"}
