"""Forward and inverse kinematics of the two-arm tatbot (pure numpy, no rclpy).

Geometry sources, read at run time (nothing is copied into this repository):

* the WidowX AI arm: the MJCF model ``wxai_follower.xml`` shipped in the
  installed ``trossen_arm_sim`` package (body tree, joint axes, the two gripper
  carriages and their coupling, the D405 camera mount site and field of view);
* ``robot.yaml`` (:func:`tatbot_bringup.robot_config.load_robot_config`): joint
  names and order, arm bases (``arms[].base_xyz``), the needle tip in its
  carriage frame (``arms[].needle_offset_xyz``) and which arm carries which
  camera (``cameras[].arm``).

Frames (names as in the URDF, see :mod:`tatbot_bringup.urdf`)::

    world                                  base frame (robot.yaml base_frame)
    <arm>/base_link .. <arm>/link_6        arm links (MJCF body frames)
    <arm>/carriage_left, <arm>/carriage_right   gripper carriages
    <arm>/tattoo_needle                    needle tip; z points along the needle,
                                           out of the tip (onto the skin)
    <camera>_color_frame                   D405 colour frame (x forward, z up)
    <camera>_color_optical_frame           optical frame (z forward, x right, y down)

Joints: the 14 config joints (``left/joint_0`` .. ``right/right_carriage_joint``)
are actuated; each arm's other carriage mimics its carriage joint (the MJCF
equality constraint), e.g. ``left/right_carriage_joint`` = ``left/left_carriage_joint``.
The needle is held by the arm's actuated carriage.

API (all arrays in metres / radians, world frame; ``q`` is the canonical
14-vector or any batch ``(..., 14)``)::

    kin = RobotKinematics.from_config(load_robot_config())
    T = kin.forward(q)                       # (..., F, 4, 4), F = len(kin.frame_names)
    kin.frame(q, "left/link_6")              # (..., 4, 4)
    kin.needle_tips(q)                       # (..., n_arms, 3), arms in config order
    kin.needle_tip(q, "left")                # (..., 3)
    kin.needle_axis(q, "left")               # (..., 3) unit vector the needle points along
    kin.camera_pose(q, "realsense1")         # (..., 4, 4) optical frame in world
    kin.camera_matrix("realsense1")          # (3, 3) pinhole K at the configured resolution
    q = kin.ik_needle_tip("left", xyz, seed) # (..., 14); raises IKError if unreachable
    res = kin.solve_ik("left", xyz, seed)    # IKResult without raising (per-target flags)

IK (:meth:`RobotKinematics.solve_ik`) is damped least squares on the arm's six
revolute joints (the carriage stays at its seed value), clamped to the joint
limits of robot.yaml at every step. Besides the tip position it constrains the
needle *direction* (default: the direction it has at the ``ready`` pose, down and
inward, ~46 deg from vertical — see :meth:`RobotKinematics.needle_direction`; a
strictly vertical needle drives joint_3 into its limit over much of the surface),
which leaves the roll about the needle free; the minimum-norm DLS step keeps that
roll near the seed. Seed each point of a stroke from the previous solution.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from tatbot_bringup.robot_config import RobotConfig

ARM_MODEL_PACKAGE = "trossen_arm_sim"
ARM_MODEL_FILE = "assets/wxai_follower.xml"  # inside ARM_MODEL_PACKAGE
MJCF_CAMERA_SITE = "camera_color_frame"  # D405 colour frame site on link_6 (x forward, z up)
MJCF_CAMERA = "cam"  # the MuJoCo camera at that site; its fovy is the colour stream's vertical FOV
NEEDLE_FRAME = "tattoo_needle"
IK_REFERENCE_POSE = "ready"  # robot.yaml pose whose needle direction IK keeps by default
# colour frame (x forward, y left, z up) -> optical frame (z forward, x right, y down), as realsense2_camera
OPTICAL_FROM_COLOR_RPY = (-math.pi / 2, 0.0, -math.pi / 2)
# carriage frame (x along the fingers) -> needle frame (z along the needle)
NEEDLE_FROM_CARRIAGE_RPY = (0.0, math.pi / 2, 0.0)


class KinematicsError(ValueError):
    """The arm model or the robot config cannot describe the tatbot kinematics."""


class IKError(RuntimeError):
    """Inverse kinematics found no joint configuration reaching the target."""


# ---------------------------------------------------------------------------- math helpers


def quat_to_matrix(wxyz) -> np.ndarray:
    w, x, y, z = np.asarray(wxyz, dtype=float) / np.linalg.norm(wxyz)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def rpy_to_matrix(rpy) -> np.ndarray:
    """URDF convention: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def matrix_to_rpy(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of rpy_to_matrix (pitch in [-pi/2, pi/2])."""
    pitch = math.atan2(-R[2, 0], math.hypot(R[0, 0], R[1, 0]))
    if math.cos(pitch) > 1e-9:
        return math.atan2(R[2, 1], R[2, 2]), pitch, math.atan2(R[1, 0], R[0, 0])
    return math.atan2(-R[1, 2], R[1, 1]), pitch, 0.0


def transform(R=None, p=None) -> np.ndarray:
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    if p is not None:
        T[:3, 3] = p
    return T


def _rotations(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: rotations about a fixed unit axis by a batch of angles -> (..., 3, 3)."""
    c, s = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    K = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + s * K + (1.0 - c) * (K @ K)


# ---------------------------------------------------------------------------- the MJCF arm model


@dataclass(frozen=True)
class Geom:
    """A visual geom of the arm model (for the URDF): mesh file or box, pose in its body."""

    type: str  # "mesh" | "box"
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float]  # w x y z
    mesh_path: Path | None = None
    mesh_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    size: tuple[float, ...] = ()  # box half sizes (MJCF)
    rgba: tuple[float, float, float, float] = (0.1, 0.1, 0.1, 1.0)


@dataclass(frozen=True)
class Inertial:
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float]
    mass: float
    diaginertia: tuple[float, float, float]


@dataclass(frozen=True)
class Body:
    name: str
    parent: str | None
    pos: tuple[float, float, float]
    quat: tuple[float, float, float, float]
    joint: str | None = None
    joint_type: str | None = None  # "hinge" | "slide"
    axis: tuple[float, float, float] | None = None
    inertial: Inertial | None = None
    visuals: tuple[Geom, ...] = ()


@dataclass(frozen=True)
class ArmModel:
    """The parts of ``wxai_follower.xml`` tatbot uses."""

    path: Path
    bodies: tuple[Body, ...]  # parents before children
    couplings: dict[str, tuple[str, float]]  # joint -> (joint it equals, multiplier)
    sites: dict[str, tuple[str, np.ndarray]]  # site name -> (body, 4x4 pose in body)
    camera_fovy_deg: float
    efforts: dict[str, float]  # joint -> actuator force/torque limit (N or N m)

    def body(self, name: str) -> Body:
        for b in self.bodies:
            if b.name == name:
                return b
        raise KinematicsError(f"{self.path}: no body {name!r}")

    def body_of_joint(self, joint: str) -> Body:
        for b in self.bodies:
            if b.joint == joint:
                return b
        raise KinematicsError(
            f"{self.path}: no joint {joint!r}; joints in the model: {[b.joint for b in self.bodies if b.joint]}"
        )


def arm_model_path() -> Path:
    """The installed trossen_arm_sim MJCF of the WidowX AI arm."""
    try:
        path = Path(str(resources.files(ARM_MODEL_PACKAGE).joinpath(ARM_MODEL_FILE)))
    except ModuleNotFoundError as exc:
        raise KinematicsError(
            f"the {ARM_MODEL_PACKAGE} package (WidowX AI model and meshes) is not installed: "
            "pip install trossen-arm-sim (make setup does)"
        ) from exc
    if not path.is_file():
        raise KinematicsError(f"{path} is missing from the installed {ARM_MODEL_PACKAGE}")
    return path


def _floats(text: str | None, default: tuple) -> tuple:
    return default if text is None else tuple(float(v) for v in text.split())


def load_arm_model(path: str | Path | None = None) -> ArmModel:
    """Parse the body tree, joints, carriage coupling, sites and camera of the arm MJCF."""
    path = Path(path) if path else arm_model_path()
    root = ET.parse(path).getroot()
    compiler = root.find("compiler")
    if compiler is None or compiler.get("angle") != "radian":
        raise KinematicsError(f"{path}: expected <compiler angle='radian'>")
    mesh_dir = path.parent
    meshes = {
        m.get("name"): (mesh_dir / m.get("file"), _floats(m.get("scale"), (1.0, 1.0, 1.0))) for m in root.iter("mesh")
    }
    rgba = {m.get("name"): _floats(m.get("rgba"), (0.5, 0.5, 0.5, 1.0)) for m in root.iter("material")}
    visual_default = root.find("default/default[@class='visual']/geom")
    default_material = visual_default.get("material") if visual_default is not None else None

    bodies: list[Body] = []
    sites: dict[str, tuple[str, np.ndarray]] = {}
    fovy = None

    def visit(elem, parent: str | None):
        nonlocal fovy
        name = elem.get("name")
        joints = elem.findall("joint")
        if len(joints) > 1:
            raise KinematicsError(f"{path}: body {name!r} has {len(joints)} joints; one is supported")
        joint = joints[0] if joints else None
        if joint is not None and any(abs(v) > 0 for v in _floats(joint.get("pos"), (0.0, 0.0, 0.0))):
            raise KinematicsError(f"{path}: joint {joint.get('name')!r} is offset from its body origin")
        inertial = elem.find("inertial")
        visuals = []
        for g in elem.findall("geom"):
            if g.get("class") != "visual":
                continue
            gtype = g.get("type", "mesh")
            common = {
                "pos": _floats(g.get("pos"), (0.0, 0.0, 0.0)),
                "quat": _floats(g.get("quat"), (1.0, 0.0, 0.0, 0.0)),
                "rgba": rgba.get(g.get("material", default_material), (0.5, 0.5, 0.5, 1.0)),
            }
            if gtype == "mesh":
                file, scale = meshes[g.get("mesh")]
                visuals.append(Geom(type="mesh", mesh_path=file, mesh_scale=scale, **common))
            elif gtype == "box":
                visuals.append(Geom(type="box", size=_floats(g.get("size"), ()), **common))
            else:
                raise KinematicsError(f"{path}: visual geom type {gtype!r} in body {name!r} is not supported")
        bodies.append(
            Body(
                name=name,
                parent=parent,
                pos=_floats(elem.get("pos"), (0.0, 0.0, 0.0)),
                quat=_floats(elem.get("quat"), (1.0, 0.0, 0.0, 0.0)),
                joint=joint.get("name") if joint is not None else None,
                joint_type=joint.get("type", "hinge") if joint is not None else None,
                axis=_floats(joint.get("axis"), (0.0, 0.0, 1.0)) if joint is not None else None,
                inertial=Inertial(
                    pos=_floats(inertial.get("pos"), (0.0, 0.0, 0.0)),
                    quat=_floats(inertial.get("quat"), (1.0, 0.0, 0.0, 0.0)),
                    mass=float(inertial.get("mass")),
                    diaginertia=_floats(inertial.get("diaginertia"), (0.0, 0.0, 0.0)),
                )
                if inertial is not None
                else None,
                visuals=tuple(visuals),
            )
        )
        for s in elem.findall("site"):
            pose = transform(
                quat_to_matrix(_floats(s.get("quat"), (1.0, 0.0, 0.0, 0.0))),
                _floats(s.get("pos"), (0.0, 0.0, 0.0)),
            )
            sites[s.get("name")] = (name, pose)
        for c in elem.findall("camera"):
            if c.get("name") == MJCF_CAMERA:
                fovy = float(c.get("fovy", 45.0))
        for child in elem.findall("body"):
            visit(child, name)

    worldbody = root.find("worldbody")
    for top in worldbody.findall("body"):
        visit(top, None)
    if fovy is None:
        raise KinematicsError(f"{path}: no camera {MJCF_CAMERA!r}")

    couplings = {}
    for eq in root.iter("joint"):
        if eq.get("joint1") is None:
            continue
        coef = _floats(eq.get("polycoef"), (0.0, 1.0, 0.0, 0.0, 0.0))
        if coef[0] != 0.0 or any(coef[2:]) or coef[1] == 0.0:
            raise KinematicsError(f"{path}: only linear joint couplings q1 = k*q2 are supported, got {coef}")
        couplings[eq.get("joint1")] = (eq.get("joint2"), coef[1])
        couplings[eq.get("joint2")] = (eq.get("joint1"), 1.0 / coef[1])
    efforts = {
        a.get("joint"): max(abs(v) for v in _floats(a.get("forcerange"), (0.0, 0.0))) for a in root.iter("position")
    }
    return ArmModel(
        path=path,
        bodies=tuple(bodies),
        couplings=couplings,
        sites=sites,
        camera_fovy_deg=fovy,
        efforts=efforts,
    )


# ---------------------------------------------------------------------------- the two-arm robot


@dataclass(frozen=True)
class Frame:
    """One frame of the robot tree (one URDF link and the joint from its parent)."""

    name: str
    parent: int  # index into RobotKinematics.frames; -1 for the base frame
    origin: np.ndarray  # 4x4 pose in the parent frame at joint value 0
    joint: str | None = None  # name of the joint from the parent (None: the base frame)
    kind: str = "fixed"  # "fixed" | "revolute" | "prismatic"
    axis: np.ndarray = field(default_factory=lambda: np.zeros(3))  # unit axis in this frame
    q_index: int = -1  # index of the driving joint in the canonical 14-vector
    multiplier: float = 1.0  # joint value = multiplier * q[q_index] (mimic joints)
    mimic: bool = False  # True: follows q[q_index] through a coupling, not commanded itself
    body: Body | None = None  # the arm-model body (visuals, inertia), None for added frames


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray  # (..., 14) solution (best found where not converged)
    position_error: np.ndarray  # (...,) m, |FK(q) - target|
    angle_error: np.ndarray  # (...,) rad between needle axis and requested direction
    converged: np.ndarray  # (...,) bool
    iterations: int  # DLS iterations run (for the slowest target)


class RobotKinematics:
    """Tree of frames of both arms, needles and cameras; batched FK and DLS IK."""

    def __init__(self, config: RobotConfig, model: ArmModel):
        self.config = config
        self.model = model
        self.joint_names = config.joint_names
        self.lower = config.lower
        self.upper = config.upper
        self.frames: list[Frame] = [Frame(name=config.base_frame, parent=-1, origin=np.eye(4))]
        self._index: dict[str, int] = {config.base_frame: 0}
        self._arm_joints: dict[str, np.ndarray] = {}
        self._arm_revolute: dict[str, np.ndarray] = {}
        for arm in config.arms:
            self._add_arm(arm)
        for cam in config.cameras:
            self._add_camera(cam)
        self.frame_names = [f.name for f in self.frames]

    @classmethod
    def from_config(cls, config: RobotConfig, model_path: str | Path | None = None) -> RobotKinematics:
        return cls(config, load_arm_model(model_path))

    # -- construction

    def _add(self, frame: Frame) -> int:
        if frame.name in self._index:
            raise KinematicsError(f"duplicate frame {frame.name!r}")
        self._index[frame.name] = len(self.frames)
        self.frames.append(frame)
        return len(self.frames) - 1

    def _add_arm(self, arm) -> None:
        prefix = f"{arm.name}/"
        config_joints = {n[len(prefix) :]: i for i, n in enumerate(self.joint_names) if n.startswith(prefix)}
        unknown = [j for j in config_joints if j not in {b.joint for b in self.model.bodies}]
        if unknown:
            raise KinematicsError(
                f"robot.yaml joints {[prefix + j for j in unknown]} are not in the arm model {self.model.path}"
            )
        for body in self.model.bodies:
            parent = 0 if body.parent is None else self._index[prefix + body.parent]
            origin = transform(quat_to_matrix(body.quat), body.pos)
            if body.parent is None:
                origin = transform(p=arm.base_xyz) @ origin
                self._add(Frame(prefix + body.name, parent, origin, joint=f"{prefix}base_joint", body=body))
                continue
            if body.joint is None:
                self._add(Frame(prefix + body.name, parent, origin, joint=f"{prefix}{body.name}_joint", body=body))
                continue
            kind = {"hinge": "revolute", "slide": "prismatic"}[body.joint_type]
            axis = np.asarray(body.axis, dtype=float) / np.linalg.norm(body.axis)
            if body.joint in config_joints:
                q_index, multiplier, mimic = config_joints[body.joint], 1.0, False
            elif body.joint in self.model.couplings and self.model.couplings[body.joint][0] in config_joints:
                other, multiplier = self.model.couplings[body.joint]
                q_index, mimic = config_joints[other], True
            else:
                raise KinematicsError(
                    f"arm model joint {body.joint!r} of arm {arm.name!r} is neither in robot.yaml "
                    f"(as {prefix + body.joint!r}) nor coupled to a joint that is"
                )
            self._add(
                Frame(
                    prefix + body.name,
                    parent,
                    origin,
                    joint=prefix + body.joint,
                    kind=kind,
                    axis=axis,
                    q_index=q_index,
                    multiplier=multiplier,
                    body=body,
                    mimic=mimic,
                )
            )
        indices = np.array(sorted(config_joints.values()))
        self._arm_joints[arm.name] = indices
        self._arm_revolute[arm.name] = indices[self.config.revolute[indices]]
        carriages = [f for f in self.frames if f.kind == "prismatic" and f.joint in self.joint_names]
        carriage = [f for f in carriages if f.joint.startswith(prefix)]
        if len(carriage) != 1:
            raise KinematicsError(
                f"arm {arm.name!r}: expected one carriage joint in robot.yaml, got {[f.joint for f in carriage]}"
            )
        if arm.needle_offset_xyz is None:
            raise KinematicsError(
                f"robot.yaml arms[{arm.name}] has no needle_offset_xyz (needle tip in its carriage frame, m)"
            )
        origin = transform(rpy_to_matrix(NEEDLE_FROM_CARRIAGE_RPY), arm.needle_offset_xyz)
        self._add(
            Frame(
                f"{prefix}{NEEDLE_FRAME}",
                self._index[carriage[0].name],
                origin,
                joint=f"{prefix}{NEEDLE_FRAME}_joint",
            )
        )

    def _add_camera(self, cam) -> None:
        if cam.arm not in self._arm_joints:
            raise KinematicsError(f"camera {cam.name!r} is on unknown arm {cam.arm!r}")
        if MJCF_CAMERA_SITE not in self.model.sites:
            raise KinematicsError(f"{self.model.path}: no site {MJCF_CAMERA_SITE!r}")
        body, pose = self.model.sites[MJCF_CAMERA_SITE]
        color = self._add(
            Frame(
                f"{cam.name}_color_frame",
                self._index[f"{cam.arm}/{body}"],
                pose,
                joint=f"{cam.name}_color_joint",
            )
        )
        self._add(
            Frame(
                f"{cam.name}_color_optical_frame",
                color,
                transform(rpy_to_matrix(OPTICAL_FROM_COLOR_RPY)),
                joint=f"{cam.name}_color_optical_joint",
            )
        )

    # -- lookup

    def index(self, frame: str) -> int:
        try:
            return self._index[frame]
        except KeyError:
            raise KinematicsError(f"unknown frame {frame!r}; frames: {self.frame_names}") from None

    def _check_q(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if q.shape[-1:] != (len(self.joint_names),):
            raise KinematicsError(f"q must have shape (..., {len(self.joint_names)}), got {q.shape}")
        return q

    def _arm(self, arm: str) -> np.ndarray:
        try:
            return self._arm_joints[arm]
        except KeyError:
            raise KinematicsError(f"unknown arm {arm!r}; arms: {list(self._arm_joints)}") from None

    # -- forward kinematics

    def forward(self, q) -> np.ndarray:
        """World poses of every frame: (..., F, 4, 4), frames ordered as ``frame_names``."""
        q = self._check_q(q)
        batch = q.shape[:-1]
        out = np.empty((*batch, len(self.frames), 4, 4))
        out[..., 0, :, :] = self.frames[0].origin
        for i, f in enumerate(self.frames[1:], start=1):
            T = out[..., f.parent, :, :] @ f.origin
            if f.kind == "revolute":
                local = np.zeros((*batch, 4, 4))
                local[..., :3, :3] = _rotations(f.axis, f.multiplier * q[..., f.q_index])
                local[..., 3, 3] = 1.0
                T = T @ local
            elif f.kind == "prismatic":
                T = T.copy()
                T[..., :3, 3] += (T[..., :3, :3] @ f.axis) * (f.multiplier * q[..., f.q_index])[..., None]
            out[..., i, :, :] = T
        return out

    def frame(self, q, name: str) -> np.ndarray:
        return self.forward(q)[..., self.index(name), :, :]

    def needle_tips(self, q) -> np.ndarray:
        """(..., n_arms, 3) needle-tip positions, arms in config order."""
        T = self.forward(q)
        idx = [self.index(f"{a.name}/{NEEDLE_FRAME}") for a in self.config.arms]
        return T[..., idx, :, :][..., :3, 3]

    def needle_tip(self, q, arm: str) -> np.ndarray:
        self._arm(arm)
        return self.frame(q, f"{arm}/{NEEDLE_FRAME}")[..., :3, 3]

    def needle_axis(self, q, arm: str) -> np.ndarray:
        """Unit vector along the needle, pointing out of the tip (the needle frame's z)."""
        self._arm(arm)
        return self.frame(q, f"{arm}/{NEEDLE_FRAME}")[..., :3, 2]

    def camera_pose(self, q, camera: str) -> np.ndarray:
        """(..., 4, 4) pose of ``<camera>_color_optical_frame`` in the world frame."""
        self.config.camera(camera)
        return self.frame(q, f"{camera}_color_optical_frame")

    def camera_matrix(self, camera: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        """Pinhole intrinsics, vertical FOV of the arm model's camera, at the configured resolution
        or at ``width`` x ``height``."""
        cam = self.config.camera(camera)
        width, height = width or cam.width, height or cam.height
        f = 0.5 * height / math.tan(math.radians(self.model.camera_fovy_deg) / 2)
        return np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])

    # -- inverse kinematics

    def needle_direction(self, arm: str) -> np.ndarray:
        """Default IK needle direction: the needle axis at the ``ready`` pose (unit, world).

        At ready the needles point down and inward at about 46 deg from the vertical, the angle
        a tattoo artist holds a machine at; keeping it fixed makes a +-5 cm square of the work
        surface around each ready tip reachable within the joint limits.
        """
        return self.needle_axis(self.config.pose(IK_REFERENCE_POSE), arm)

    def solve_ik(
        self,
        arm: str,
        target,
        seed,
        *,
        direction=None,
        direction_weight: float = 0.05,
        tol_position: float = 1e-5,
        tol_angle: float = 1e-3,
        damping: float = 1e-3,
        max_step: float = 0.2,
        max_iterations: int = 200,
    ) -> IKResult:
        """Damped least squares for needle-tip ``target`` (..., 3) from ``seed`` (14,) or (..., 14).

        ``direction``: vector the needle should point along; default (None) is
        :meth:`needle_direction` (the direction it has at the ``ready`` pose).
        ``direction_weight`` (m/rad) trades angle against position in the least-squares step.
        Only this arm's revolute joints move; other joints and the carriage keep their seed
        values; every iterate is clamped to the joint limits.
        """
        self._arm(arm)
        indices = self._arm_revolute[arm]
        target = np.asarray(target, dtype=float)
        if target.shape[-1:] != (3,) or not np.all(np.isfinite(target)):
            raise IKError(f"IK target must be finite with shape (..., 3), got shape {target.shape}")
        seed = self._check_q(seed)
        q = np.array(np.broadcast_to(seed, (*target.shape[:-1], seed.shape[-1])))
        q = np.clip(q, self.lower, self.upper)
        needle = self.index(f"{arm}/{NEEDLE_FRAME}")
        joint_frames = [next(i for i, f in enumerate(self.frames) if f.q_index == k and not f.mimic) for k in indices]
        want = self.needle_direction(arm) if direction is None else np.asarray(direction, dtype=float)
        if want.shape != (3,) or not np.all(np.isfinite(want)) or np.linalg.norm(want) == 0:
            raise IKError(f"IK direction must be a finite non-zero 3-vector, got {direction!r}")
        want = want / np.linalg.norm(want)
        lower, upper = self.lower[indices], self.upper[indices]
        eye = np.eye(6)
        iterations = 0
        while iterations < max_iterations:
            iterations += 1
            T = self.forward(q)
            tip, axis = T[..., needle, :3, 3], T[..., needle, :3, 2]
            err_p = target - tip
            pos_err = np.linalg.norm(err_p, axis=-1)
            ang_err = np.zeros_like(pos_err) if want is None else np.arccos(np.clip(axis @ want, -1.0, 1.0))
            done = (pos_err < tol_position) & (ang_err < tol_angle)
            if np.all(done):
                break
            joints = T[..., joint_frames, :, :]  # (..., 6, 4, 4)
            origins = joints[..., :3, 3]
            axes = np.einsum("...jab,jb->...ja", joints[..., :3, :3], self._axes(joint_frames))
            J_p = np.cross(axes, tip[..., None, :] - origins)  # (..., 6, 3)
            J_d = np.cross(axes, axis[..., None, :]) * direction_weight
            J = np.concatenate([np.swapaxes(J_p, -1, -2), np.swapaxes(J_d, -1, -2)], axis=-2)  # (..., 6, 6)
            err = np.concatenate([err_p, (want - axis) * direction_weight], axis=-1)
            JJt = J @ np.swapaxes(J, -1, -2) + damping**2 * eye
            dq = np.einsum("...ji,...j->...i", J, np.linalg.solve(JJt, err[..., None])[..., 0])
            norm = np.linalg.norm(dq, axis=-1, keepdims=True)
            dq *= np.minimum(1.0, max_step / np.maximum(norm, 1e-12))
            dq[done] = 0.0
            q[..., indices] = np.clip(q[..., indices] + dq, lower, upper)
        T = self.forward(q)
        tip, axis = T[..., needle, :3, 3], T[..., needle, :3, 2]
        pos_err = np.linalg.norm(target - tip, axis=-1)
        ang_err = np.arccos(np.clip(axis @ want, -1.0, 1.0))
        return IKResult(
            q=q,
            position_error=pos_err,
            angle_error=ang_err,
            converged=(pos_err < tol_position) & (ang_err < tol_angle),
            iterations=iterations,
        )

    def retract_path(self, q, distance: float, points: int) -> np.ndarray:
        """(points, 14) joint path backing both needles out along their own axes by ``distance`` (m),
        in equal steps, each needle keeping its direction (what an artist does when a stroke ends);
        the last row is fully retracted, ``q`` itself is not included. Raises IKError when a pose
        is out of reach."""
        q = self._check_q(q)
        if points < 1 or not distance > 0:
            raise ValueError(f"retract_path needs points >= 1 and distance > 0, got {points}, {distance}")
        arms = [arm.name for arm in self.config.arms]
        starts = {arm: (self.needle_tip(q, arm), self.needle_axis(q, arm)) for arm in arms}
        out, seed = np.empty((points, q.size)), q
        for k in range(points):
            back = distance * (k + 1) / points
            for arm, (tip, axis) in starts.items():
                seed = self.ik_needle_tip(arm, tip - axis * back, seed, direction=axis)
            out[k] = seed
        return out

    def _axes(self, frame_indices) -> np.ndarray:
        return np.stack([self.frames[i].axis * self.frames[i].multiplier for i in frame_indices])

    def ik_needle_tip(self, arm: str, target, seed, **options) -> np.ndarray:
        """Joint configuration(s) (..., 14) putting ``arm``'s needle tip at ``target`` (..., 3).

        Same options as :meth:`solve_ik`; raises :class:`IKError` naming the worst target if
        any target is not reached within tolerance (joint limits respected).
        """
        result = self.solve_ik(arm, target, seed, **options)
        if not np.all(result.converged):
            flat = np.flatnonzero(~np.ravel(result.converged))
            worst = flat[np.argmax(np.ravel(result.position_error)[flat])]
            raise IKError(
                f"{arm} needle tip cannot reach {np.reshape(target, (-1, 3))[worst].round(4).tolist()} "
                f"(residual {np.ravel(result.position_error)[worst] * 1e3:.2f} mm, "
                f"{math.degrees(np.ravel(result.angle_error)[worst]):.2f} deg off the needle direction; "
                f"{flat.size} of {np.size(result.converged)} targets failed): move the target closer to "
                "the arm or seed IK from a nearer pose"
            )
        return result.q
