"""Generate the URDF of the two-arm tatbot from the same model as the kinematics.

Every link and joint comes from :class:`tatbot_bringup.kinematics.RobotKinematics`
(WidowX AI MJCF of the installed ``trossen_arm_sim`` + robot.yaml), so the URDF
and the Python FK cannot disagree. Meshes are ``file://`` URIs of the installed
``trossen_arm_sim`` assets: the URDF resolves on any machine with that package.
Joint limits and velocities come from robot.yaml; efforts from the MJCF actuators.
Each arm's second carriage is a ``<mimic>`` joint of its carriage joint.

Run ``tatbot_urdf [--config robot.yaml]`` (or ``ros2 run tatbot_bringup tatbot_urdf``)
to print it; launch files call :func:`robot_description` for
``robot_state_publisher``'s ``robot_description`` parameter.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from tatbot_bringup.kinematics import Frame, Geom, RobotKinematics, matrix_to_rpy, quat_to_matrix
from tatbot_bringup.robot_config import load_robot_config


def _fmt(values) -> str:
    return " ".join(f"{float(v) + 0.0:.9g}" for v in values)  # + 0.0: no "-0"


def _origin(parent: ET.Element, T: np.ndarray) -> None:
    ET.SubElement(parent, "origin", xyz=_fmt(T[:3, 3]), rpy=_fmt(matrix_to_rpy(T[:3, :3])))


def _pose(pos, quat) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(quat)
    T[:3, 3] = pos
    return T


def _visual(link: ET.Element, geom: Geom, material: str) -> None:
    visual = ET.SubElement(link, "visual")
    _origin(visual, _pose(geom.pos, geom.quat))
    geometry = ET.SubElement(visual, "geometry")
    if geom.type == "mesh":
        uri = geom.mesh_path.resolve().as_uri()
        ET.SubElement(geometry, "mesh", filename=uri, scale=_fmt(geom.mesh_scale))
    else:
        ET.SubElement(geometry, "box", size=_fmt(2 * np.asarray(geom.size)))
    ET.SubElement(visual, "material", name=material)


def _link(robot: ET.Element, frame: Frame, materials: dict) -> None:
    link = ET.SubElement(robot, "link", name=frame.name)
    body = frame.body
    if body is None:
        return
    if body.inertial is not None:
        inertial = ET.SubElement(link, "inertial")
        _origin(inertial, _pose(body.inertial.pos, body.inertial.quat))
        ET.SubElement(inertial, "mass", value=f"{body.inertial.mass:.9g}")
        ixx, iyy, izz = body.inertial.diaginertia
        diagonal = {"ixx": ixx, "iyy": iyy, "izz": izz}
        ET.SubElement(inertial, "inertia", ixy="0", ixz="0", iyz="0", **{k: f"{v:.9g}" for k, v in diagonal.items()})
    for geom in body.visuals:
        _visual(link, geom, materials[geom.rgba])


def build_urdf(kin: RobotKinematics) -> ET.Element:
    """The URDF as an ElementTree element (``<robot>``)."""
    robot = ET.Element("robot", name=kin.config.name)
    materials: dict[tuple, str] = {}
    for frame in kin.frames:
        for geom in frame.body.visuals if frame.body else ():
            if geom.rgba not in materials:
                materials[geom.rgba] = f"material_{len(materials)}"
                material = ET.SubElement(robot, "material", name=materials[geom.rgba])
                ET.SubElement(material, "color", rgba=_fmt(geom.rgba))
    joints = {j.name: j for j in kin.config.joints}
    for frame in kin.frames:
        _link(robot, frame, materials)
        if frame.parent < 0:
            continue
        joint = ET.SubElement(robot, "joint", name=frame.joint, type=frame.kind)
        ET.SubElement(joint, "parent", link=kin.frames[frame.parent].name)
        ET.SubElement(joint, "child", link=frame.name)
        _origin(joint, frame.origin)
        if frame.kind == "fixed":
            continue
        ET.SubElement(joint, "axis", xyz=_fmt(frame.axis))
        driver = kin.config.joints[frame.q_index]
        bounds = sorted((frame.multiplier * driver.lower, frame.multiplier * driver.upper))
        source_joint = frame.joint.split("/", 1)[1]
        effort = kin.model.efforts.get(source_joint)
        if effort is None:
            effort = kin.model.efforts[kin.model.couplings[source_joint][0]]
        ET.SubElement(
            joint,
            "limit",
            lower=f"{bounds[0]:.9g}",
            upper=f"{bounds[1]:.9g}",
            velocity=f"{abs(frame.multiplier) * driver.velocity:.9g}",
            effort=f"{effort:.9g}",
        )
        if frame.mimic:
            ET.SubElement(joint, "mimic", joint=driver.name, multiplier=f"{frame.multiplier:.9g}", offset="0")
        elif frame.joint not in joints:
            raise ValueError(f"joint {frame.joint!r} is actuated but not in robot.yaml")
    return robot


def urdf_string(kin: RobotKinematics) -> str:
    """The URDF document (XML text) of a robot model."""
    root = build_urdf(kin)
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def robot_description(config: str | Path | None = None) -> str:
    """URDF text for robot.yaml at ``config`` (None or "": the installed one), for launch files."""
    return urdf_string(RobotKinematics.from_config(load_robot_config(config or None)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the tatbot URDF (two WidowX AI arms, needles, cameras).")
    parser.add_argument("--config", help="robot.yaml (default: the installed tatbot_bringup one)")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    text = robot_description(args.config)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
