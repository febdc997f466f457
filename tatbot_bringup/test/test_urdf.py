"""The generated URDF: well-formed, every robot.yaml joint, resolvable meshes, and its own FK
(evaluated here from the XML alone) equal to tatbot_bringup.kinematics."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import numpy as np
import pytest

from tatbot_bringup import urdf
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import DEFAULT_CONFIG, load_robot_config


@pytest.fixture(scope="module")
def config():
    return load_robot_config(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def kin(config):
    return RobotKinematics.from_config(config)


@pytest.fixture(scope="module")
def robot(kin):
    return ET.fromstring(urdf.urdf_string(kin))


def _vec(text: str | None, default=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([float(v) for v in text.split()]) if text else np.array(default)


def _origin(elem) -> np.ndarray:
    origin = elem.find("origin")
    xyz = _vec(origin.get("xyz") if origin is not None else None)
    r, p, y = _vec(origin.get("rpy") if origin is not None else None)
    Rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    Ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    Rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = Rz @ Ry @ Rx
    T[:3, 3] = xyz
    return T


def urdf_fk(robot: ET.Element, positions: dict[str, float]) -> dict[str, np.ndarray]:
    """World pose of every link, straight from the URDF text (mimic joints honoured)."""
    joints = {j.find("child").get("link"): j for j in robot.findall("joint")}
    poses: dict[str, np.ndarray] = {}

    def pose(link: str) -> np.ndarray:
        if link in poses:
            return poses[link]
        joint = joints.get(link)
        if joint is None:
            poses[link] = np.eye(4)
            return poses[link]
        T = pose(joint.find("parent").get("link")) @ _origin(joint)
        kind = joint.get("type")
        if kind != "fixed":
            mimic = joint.find("mimic")
            value = (
                positions[joint.get("name")]
                if mimic is None
                else float(mimic.get("multiplier", 1)) * positions[mimic.get("joint")] + float(mimic.get("offset", 0))
            )
            axis = _vec(joint.find("axis").get("xyz"))
            axis /= np.linalg.norm(axis)
            local = np.eye(4)
            if kind == "revolute":
                K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
                local[:3, :3] = np.eye(3) + math.sin(value) * K + (1 - math.cos(value)) * K @ K
            else:
                local[:3, 3] = axis * value
            T = T @ local
        poses[link] = T
        return T

    for link in robot.findall("link"):
        pose(link.get("name"))
    return poses


def test_urdf_is_well_formed_with_one_root_and_unique_names(robot, kin):
    assert robot.tag == "robot"
    links = [link.get("name") for link in robot.findall("link")]
    assert len(set(links)) == len(links)
    joints = robot.findall("joint")
    assert len({j.get("name") for j in joints}) == len(joints)
    children = [j.find("child").get("link") for j in joints]
    assert len(set(children)) == len(children)  # a tree: one parent per link
    for j in joints:
        assert j.find("parent").get("link") in links and j.find("child").get("link") in links
    roots = set(links) - set(children)
    assert roots == {kin.config.base_frame}
    assert set(links) == set(kin.frame_names)


def test_urdf_has_every_config_joint_with_its_limits(robot, config):
    by_name = {j.get("name"): j for j in robot.findall("joint")}
    actuated = [n for n, j in by_name.items() if j.get("type") != "fixed" and j.find("mimic") is None]
    assert actuated == config.joint_names  # exactly, in canonical order
    for joint in config.joints:
        elem = by_name[joint.name]
        assert elem.get("type") == ("prismatic" if joint.prismatic else "revolute")
        limit = elem.find("limit")
        assert float(limit.get("lower")) == pytest.approx(joint.lower)
        assert float(limit.get("upper")) == pytest.approx(joint.upper)
        assert float(limit.get("velocity")) == pytest.approx(joint.velocity)
        assert float(limit.get("effort")) > 0
    for mimic in robot.iter("mimic"):
        assert mimic.get("joint") in config.joint_names


def test_urdf_has_needle_and_camera_optical_frames(robot, config):
    links = {link.get("name") for link in robot.findall("link")}
    for arm in config.arms:
        assert f"{arm.name}/tattoo_needle" in links
    for cam in config.cameras:
        assert {f"{cam.name}_color_frame", f"{cam.name}_color_optical_frame"} <= links


def test_urdf_meshes_are_installed_files(robot):
    meshes = list(robot.iter("mesh"))
    assert len(meshes) >= 2 * 12
    for mesh in meshes:
        uri = urlparse(mesh.get("filename"))
        assert uri.scheme == "file"
        assert "trossen_arm_sim" in uri.path
        with open(uri.path, "rb") as f:
            assert f.read(5)  # exists and is readable


def test_urdf_fk_equals_kinematics_fk(robot, config, kin):
    rng = np.random.default_rng(3)
    qs = np.vstack([config.pose("ready"), rng.uniform(config.lower, config.upper, size=(10, 14))])
    for q in qs:
        poses = urdf_fk(robot, dict(zip(config.joint_names, q, strict=True)))
        T = kin.forward(q)
        for i, name in enumerate(kin.frame_names):
            np.testing.assert_allclose(poses[name], T[i], atol=1e-8, err_msg=name)


def test_console_entry_point_writes_the_urdf(tmp_path):
    out = tmp_path / "tatbot.urdf"
    assert urdf.main(["--config", str(DEFAULT_CONFIG), "-o", str(out)]) == 0
    text = out.read_text()
    assert ET.fromstring(text).get("name") == "tatbot"
