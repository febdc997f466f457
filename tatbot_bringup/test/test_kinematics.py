"""Kinematics of the two-arm tatbot against independent references.

* the MuJoCo model of trossen_arm_sim (the same MJCF, evaluated by MuJoCo itself);
* the controller's kinematic data shipped next to it (links_joints_wxai_v0_*.json);
* round trips FK(IK(x)) on a grid of work-surface points around ``ready``.
"""

from __future__ import annotations

import json
import math

import mujoco
import numpy as np
import pytest

from tatbot_bringup.kinematics import IKError, KinematicsError, RobotKinematics, arm_model_path
from tatbot_bringup.robot_config import DEFAULT_CONFIG, load_robot_config, parse_robot_config


@pytest.fixture(scope="module")
def config():
    return load_robot_config(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def kin(config):
    return RobotKinematics.from_config(config)


def random_configurations(config, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(config.lower, config.upper, size=(count, len(config.joint_names)))


def mujoco_poses(model, data, q_arm: np.ndarray, arm_prefix: str) -> dict:
    """World poses (4x4, arm base frame) of every body, the camera site and camera from MuJoCo."""
    for j in range(6):
        data.qpos[model.jnt_qposadr[model.joint(f"joint_{j}").id]] = q_arm[j]
    for name in ("left_carriage_joint", "right_carriage_joint"):  # coupled 1:1 by the MJCF equality
        data.qpos[model.jnt_qposadr[model.joint(name).id]] = q_arm[6]
    mujoco.mj_forward(model, data)
    poses = {}
    for b in range(1, model.nbody):
        T = np.eye(4)
        T[:3, :3] = data.xmat[b].reshape(3, 3)
        T[:3, 3] = data.xpos[b]
        poses[f"{arm_prefix}/{model.body(b).name}"] = T
    site = model.site("camera_color_frame").id
    T = np.eye(4)
    T[:3, :3] = data.site_xmat[site].reshape(3, 3)
    T[:3, 3] = data.site_xpos[site]
    poses["color_frame"] = T
    cam = model.camera("cam").id
    T = np.eye(4)
    T[:3, :3] = data.cam_xmat[cam].reshape(3, 3) @ np.diag([1.0, -1.0, -1.0])  # looks along -z, y up
    T[:3, 3] = data.cam_xpos[cam]
    poses["optical_frame"] = T
    return poses


def test_fk_matches_mujoco_model(config, kin):
    model = mujoco.MjModel.from_xml_path(str(arm_model_path()))
    data = mujoco.MjData(model)
    qs = np.vstack([config.pose("ready"), config.pose("sleep"), random_configurations(config, 40)])
    T_all = kin.forward(qs)
    cams = {c.arm: c.name for c in config.cameras}
    compared = 0
    for k, q in enumerate(qs):
        for arm in config.arms:
            idx = [i for i, n in enumerate(config.joint_names) if n.startswith(arm.name + "/")]
            reference = mujoco_poses(model, data, q[idx], arm.name)
            base = np.eye(4)
            base[:3, 3] = arm.base_xyz
            for name, T_ref in reference.items():
                frame = {
                    "color_frame": f"{cams[arm.name]}_color_frame",
                    "optical_frame": f"{cams[arm.name]}_color_optical_frame",
                }.get(name, name)
                # the MJCF camera quaternion is rounded to 4 digits (5e-5 rad off its site)
                atol = 1e-4 if name == "optical_frame" else 1e-9
                ours = T_all[k, kin.index(frame)]
                np.testing.assert_allclose(ours, base @ T_ref, atol=atol, err_msg=f"{frame} at q={q}")
                compared += 1
    assert compared == len(qs) * 2 * 11  # 9 bodies + colour frame + optical frame per arm


def test_needle_tip_is_the_configured_offset_in_its_carriage(config, kin):
    qs = random_configurations(config, 20, seed=1)
    T = kin.forward(qs)
    for arm in config.arms:
        carriage_joint = next(n for n in config.joint_names if n.startswith(arm.name) and "carriage" in n)
        carriage_frame = next(f.name for f in kin.frames if f.joint == carriage_joint)
        C = T[:, kin.index(carriage_frame)]
        expected = C[:, :3, 3] + C[:, :3, :3] @ np.asarray(arm.needle_offset_xyz)
        np.testing.assert_allclose(kin.needle_tip(qs, arm.name), expected, atol=1e-12)
        # the needle points along the fingers (carriage x)
        np.testing.assert_allclose(kin.needle_axis(qs, arm.name), C[:, :3, 0], atol=1e-12)
    tips = kin.needle_tips(qs)
    assert tips.shape == (20, len(config.arms), 3)
    np.testing.assert_allclose(tips[:, 1], kin.needle_tip(qs, config.arms[1].name))


def test_ready_pose_is_mirror_symmetric_and_above_the_work_surface(config, kin):
    tips = kin.needle_tips(config.pose("ready"))
    np.testing.assert_allclose(tips[0] * [1, -1, 1], tips[1], atol=1e-9)
    clearance = tips[:, 2] - config.work_surface.z
    assert np.all((clearance > 0.005) & (clearance < 0.05)), clearance


def test_forward_is_vectorised(config, kin):
    qs = random_configurations(config, 7, seed=2).reshape(7, 1, -1)
    batched = kin.forward(qs)
    assert batched.shape == (7, 1, len(kin.frame_names), 4, 4)
    for k in range(7):
        np.testing.assert_array_equal(batched[k, 0], kin.forward(qs[k, 0]))


def test_controller_kinematic_data_agrees_with_the_model(kin):
    """The arm controller's EEPROM kinematics (shipped json) vs the MJCF chain: within 0.1 mm."""
    files = sorted(arm_model_path().parent.glob("links_joints_wxai_v0_*.json"))
    assert files, "trossen_arm_sim ships no links_joints_wxai_v0_*.json"
    joints = {j["name"]: j for j in json.loads(files[-1].read_text())["joints"]}
    for j in range(6):
        body = kin.model.body_of_joint(f"joint_{j}")
        np.testing.assert_allclose(body.pos, joints[f"joint_{j}"]["origin_xyz"], atol=1e-4)
        np.testing.assert_allclose(body.axis, joints[f"joint_{j}"]["axis"][:3], atol=1e-12)
        assert joints[f"joint_{j}"]["origin_rpy"] == [0.0, 0.0, 0.0]


def test_camera_matrix_uses_the_model_field_of_view(config, kin):
    cam = config.cameras[0]
    K = kin.camera_matrix(cam.name)
    vertical_fov = 2 * math.degrees(math.atan(cam.height / 2 / K[1, 1]))
    assert vertical_fov == pytest.approx(kin.model.camera_fovy_deg)
    assert K[0, 2] == pytest.approx((cam.width - 1) / 2)


def surface_grid(config, kin, arm_index: int, half: float = 0.05, n: int = 5) -> np.ndarray:
    tip = kin.needle_tips(config.pose("ready"))[arm_index]
    offsets = np.linspace(-half, half, n)
    xy = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 2) + tip[:2]
    points = []
    for z in (config.work_surface.z, config.work_surface.z + 0.01):
        points.append(np.column_stack([xy, np.full(len(xy), z)]))
    return np.vstack(points)


@pytest.mark.parametrize("arm_index", [0, 1])
def test_ik_round_trip_on_the_work_surface(config, kin, arm_index):
    arm = config.arms[arm_index].name
    ready = config.pose("ready")
    targets = surface_grid(config, kin, arm_index)
    q = kin.ik_needle_tip(arm, targets, ready)
    assert q.shape == (len(targets), 14)
    err = np.linalg.norm(kin.needle_tip(q, arm) - targets, axis=-1)
    assert err.max() < 1e-4, f"worst FK(IK(x)) error {err.max() * 1e3:.3f} mm"
    assert np.all((q >= config.lower) & (q <= config.upper))
    angle = np.arccos(np.clip(kin.needle_axis(q, arm) @ kin.needle_direction(arm), -1, 1))
    assert np.degrees(angle).max() < 0.1
    # only this arm's revolute joints move
    moved = np.flatnonzero(np.any(q != ready, axis=0))
    names = [config.joint_names[i] for i in moved]
    assert all(n.startswith(arm + "/") and "carriage" not in n for n in names), names


def test_ik_follows_a_stroke_when_seeded_from_the_previous_point(config, kin):
    ready = config.pose("ready")
    tip = kin.needle_tip(ready, "left")
    t = np.linspace(0, 2 * np.pi, 60)
    stroke = np.column_stack(
        [tip[0] + 0.02 * np.cos(t), tip[1] + 0.02 * np.sin(t), np.full_like(t, config.work_surface.z)]
    )
    q, path = ready, []
    for point in stroke:
        q = kin.ik_needle_tip("left", point, q)
        path.append(q)
    path = np.array(path)
    np.testing.assert_allclose(kin.needle_tip(path, "left"), stroke, atol=1e-4)
    # continuity: 60 points 2 mm apart never need a large joint step
    assert np.abs(np.diff(path, axis=0)).max() < 0.1


def test_ik_reports_unreachable_targets_and_stays_within_limits(config, kin):
    ready = config.pose("ready")
    far = np.array([[1.5, 0.3, 0.1], [0.15, 0.08, 0.125]])
    result = kin.solve_ik("left", far, ready, max_iterations=50)
    assert result.converged.tolist() == [False, True]
    assert np.all((result.q >= config.lower) & (result.q <= config.upper))
    with pytest.raises(IKError, match=r"left needle tip cannot reach \[1.5, 0.3, 0.1\]"):
        kin.ik_needle_tip("left", far, ready, max_iterations=50)
    with pytest.raises(IKError, match="finite"):
        kin.ik_needle_tip("left", [np.nan, 0, 0], ready)
    with pytest.raises(KinematicsError, match="unknown arm"):
        kin.ik_needle_tip("middle", far[1], ready)


def test_config_without_needle_offset_is_refused(config):
    import yaml

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    del data["arms"][1]["needle_offset_xyz"]
    with pytest.raises(KinematicsError, match="needle_offset_xyz"):
        RobotKinematics.from_config(parse_robot_config(data))


def test_retract_path_backs_each_needle_out_along_its_own_axis(config, kin):
    q = config.pose("ready")
    path = kin.retract_path(q, 0.01, 4)
    assert path.shape == (4, 14)
    for arm in ("left", "right"):
        tip, axis = kin.needle_tip(q, arm), kin.needle_axis(q, arm)
        for k, row in enumerate(path, start=1):  # equal steps, on the axis line, direction kept
            np.testing.assert_allclose(kin.needle_tip(row, arm), tip - axis * 0.01 * k / 4, atol=2e-5)
            assert kin.needle_axis(row, arm) @ axis > 0.9999
        assert (tip - axis * 0.01)[2] > tip[2]  # the needles point down: backing out lifts them
    with pytest.raises(ValueError, match="distance > 0"):
        kin.retract_path(q, 0.0, 4)
