"""robot.yaml loads, matches the design contract, and bad configs are named."""

import copy

import numpy as np
import pytest
import yaml

from tatbot_bringup.robot_config import (
    DEFAULT_CONFIG,
    RobotConfigError,
    load_robot_config,
    parse_robot_config,
)


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def test_canonical_joint_order_and_lerobot_names():
    cfg = load_robot_config()
    arm = [f"joint_{i}" for i in range(6)]
    assert cfg.joint_names == [f"left/{j}" for j in arm] + ["left/left_carriage_joint"] + [
        f"right/{j}" for j in arm
    ] + ["right/right_carriage_joint"]
    assert cfg.lerobot_names[6] == "left.gripper.pos" and cfg.lerobot_names[7] == "right.joint_0.pos"
    assert len(cfg.lerobot_names) == 14
    assert [name for name, arm_joint in zip(cfg.joint_names, cfg.revolute, strict=True) if not arm_joint] == [
        "left/left_carriage_joint",
        "right/right_carriage_joint",
    ]


def test_limits_poses_and_mirroring():
    cfg = load_robot_config()
    np.testing.assert_allclose(cfg.upper[:7], cfg.upper[7:])
    np.testing.assert_allclose(cfg.velocity[[0, 3, 6]], [3.375, 7.0, 0.25])
    ready = cfg.pose("ready")
    np.testing.assert_allclose(ready[:7], [-0.333, 0.639, 0.667, -1.034, 0.541, 2.240, 0.04])
    np.testing.assert_allclose(ready[[0, 4, 5]], -ready[[7, 11, 12]])  # right arm mirrors left
    assert np.all((ready >= cfg.lower) & (ready <= cfg.upper))
    assert cfg.max_jump[6] < cfg.max_jump[0]  # carriages in metres
    with pytest.raises(RobotConfigError, match="unknown pose 'dance'"):
        cfg.pose("dance")
    assert [c.name for c in cfg.cameras] == ["realsense1", "realsense2"]
    assert {a.name: a.base_xyz[1] for a in cfg.arms} == {"left": 0.2675, "right": -0.2675}


def _broken(raw, edit):
    data = copy.deepcopy(raw)
    edit(data)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("joints"), "missing key 'joints'"),
        (lambda d: d["joints"][1].update(name="left/joint_0"), "duplicate joint names"),
        (lambda d: d["joints"][2].update(lower=3.0, upper=1.0), "left/joint_2"),
        (lambda d: d["joints"][0].update(velocity=-1), "velocity must be a finite number > 0"),
        (lambda d: d["poses"].update(ready=[0.0] * 13), "pose 'ready' has 13 values, expected 14"),
        (lambda d: d["poses"]["sleep"].__setitem__(1, -1.0), "pose 'sleep' puts left/joint_1 at -1.0"),
        (lambda d: d["safety"].update(velocity_scale=1.5), "velocity_scale must be in (0, 1]"),
        (lambda d: d["rates"].update(policy=0), "robot.yaml: rates.policy must be a finite number > 0"),
        (lambda d: d["safety"].update(command_timeout=0), "robot.yaml: safety.command_timeout must be a finite"),
        (lambda d: d["safety"].pop("stream_timeout_periods"), "robot.yaml: safety: missing key 'stream_timeout_"),
        # misspelled optional keys would silently fall back to defaults
        (lambda d: d.update(base_frme="map"), "robot.yaml: unknown key 'base_frme' (did you mean 'base_frame'?"),
        (lambda d: d["arms"][0].update(needle_ofset_xyz=[0, 0, 0]), "arms[0]: unknown key 'needle_ofset_xyz'"),
        (lambda d: d["safety"].update(velocity_scal=0.5), "safety: unknown key 'velocity_scal' (did you mean"),
        (lambda d: d["cameras"][0].update(fsp=30), "cameras[0]: unknown key 'fsp'"),
        (lambda d: d["cameras"][0].update(model="d999"), "cameras[0]: model 'd999' is not one of ['d405', 'd415'"),
        (lambda d: d["work_surface"].update(center=[0, 0]), "work_surface: unknown key 'center'"),
    ],
)
def test_bad_config_is_named(raw, edit, message):
    with pytest.raises(RobotConfigError) as err:
        parse_robot_config(_broken(raw, edit), "robot.yaml")
    assert message in str(err.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(RobotConfigError, match="robot config not found"):
        load_robot_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("joints: [unclosed")
    with pytest.raises(RobotConfigError, match="not valid YAML"):
        load_robot_config(bad)
