"""Load and validate the tatbot robot description (``config/robot.yaml``).

Pure Python (no rclpy): every package gets joints, limits, poses, cameras and
rates from here instead of scattering constants through the code.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "robot.yaml"


class RobotConfigError(ValueError):
    """The robot config file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Joint:
    name: str  # URDF / JointState name, e.g. "left/joint_0"
    lerobot: str  # LeRobot feature name, e.g. "left.joint_0.pos"
    lower: float  # rad (m for carriages)
    upper: float
    velocity: float  # rad/s (m/s)

    @property
    def prismatic(self) -> bool:
        return "carriage" in self.name


@dataclass(frozen=True)
class Arm:
    name: str
    ip: str
    base_xyz: tuple[float, float, float]
    end_effector: str
    sim_host: str  # trossen-arm-sim address standing in for ip in simulation
    sim_ws_port: int
    # needle tip in the frame of this arm's carriage (the one its carriage joint moves), m;
    # None when the config has no needle (kinematics then refuses to build)
    needle_offset_xyz: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Camera:
    name: str
    topic: str
    width: int
    height: int
    fps: float
    arm: str
    model: str = "d405"  # RealSense model: which realsense2_camera parameter sets the colour profile
    serial_no: str = ""  # realsense2_camera's serial_no: "" takes any camera (two D405s may swap arms)

    @property
    def color_profile_parameter(self) -> str:
        """The realsense2_camera parameter of the colour stream's WIDTH,HEIGHT,FPS."""
        return REALSENSE_COLOR_PROFILE[self.model]


def aligned_depth_topic(camera: str) -> str:
    """``/<camera>/aligned_depth_to_color/image_raw``: realsense2_camera's depth aligned to colour
    (``align_depth.enable``, camera_namespace "" as tatbot_bringup.system starts it; sim_camera
    publishes the same), sensor_msgs/Image 16UC1 in millimetres, 0 = no depth. ``camera`` is the
    config camera's name; its camera_info is beside it (``.../aligned_depth_to_color/camera_info``)."""
    return f"/{camera}/aligned_depth_to_color/image_raw"


# the D405 has no RGB sensor: its colour stream comes from the depth module
REALSENSE_COLOR_PROFILE = {
    "d405": "depth_module.color_profile",
    "d415": "rgb_camera.color_profile",
    "d435": "rgb_camera.color_profile",
    "d435i": "rgb_camera.color_profile",
    "d455": "rgb_camera.color_profile",
}


@dataclass(frozen=True)
class WorkSurface:
    """The horizontal surface the needles draw on (the skin stand-in of the simulated cameras)."""

    z: float  # m, height of the surface in the base frame
    center_xy: tuple[float, float]  # m, centre of the rectangle in the base frame
    size_xy: tuple[float, float]  # m, extent along x and y


@dataclass(frozen=True)
class Safety:
    velocity_scale: float
    max_jump_rad: float
    max_jump_m: float
    max_acceleration_rad: float
    max_acceleration_m: float
    command_timeout: float
    stream_timeout_periods: float
    feedback_timeout: float
    allow_partial_joints: bool


@dataclass(frozen=True)
class RobotConfig:
    name: str
    base_frame: str
    arms: tuple[Arm, ...]
    joints: tuple[Joint, ...]
    poses: dict[str, np.ndarray]
    cameras: tuple[Camera, ...]
    goal_time_slow: float
    goal_time_fast: float
    joint_state_rate: float
    policy_rate: float
    safety: Safety
    work_surface: WorkSurface | None = None  # None when the config has no work_surface section

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def lerobot_names(self) -> list[str]:
        return [j.lerobot for j in self.joints]

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints])

    @property
    def revolute(self) -> np.ndarray:
        """Per joint: True for the arm joints, False for the needle carriages (prismatic)."""
        return np.array([not j.prismatic for j in self.joints])

    @property
    def velocity(self) -> np.ndarray:
        return np.array([j.velocity for j in self.joints])

    @property
    def max_jump(self) -> np.ndarray:
        """Largest allowed setpoint step per joint (rad or m)."""
        s = self.safety
        return np.array([s.max_jump_m if j.prismatic else s.max_jump_rad for j in self.joints])

    @property
    def max_acceleration(self) -> np.ndarray:
        """Acceleration bound per joint (rad/s^2 or m/s^2) of the driver's stops and resumes."""
        s = self.safety
        return np.array([s.max_acceleration_m if j.prismatic else s.max_acceleration_rad for j in self.joints])

    @property
    def stream_timeout(self) -> float:
        """s without a new streamed trajectory before the driver decelerates to a hold."""
        return self.safety.stream_timeout_periods / self.policy_rate

    def pose(self, name: str) -> np.ndarray:
        try:
            return self.poses[name].copy()
        except KeyError:
            raise RobotConfigError(f"unknown pose {name!r}; poses in the config: {sorted(self.poses)}") from None

    def camera(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise RobotConfigError(f"unknown camera {name!r}; cameras in the config: {[c.name for c in self.cameras]}")


def _require(data: dict, key: str, where: str):
    if not isinstance(data, dict) or key not in data:
        raise RobotConfigError(f"{where}: missing key {key!r}")
    return data[key]


def _choice(data: dict, key: str, default: str, choices, where: str) -> str:
    value = str(data.get(key, default)).lower()
    if value not in choices:
        raise RobotConfigError(f"{where}: {key} {value!r} is not one of {sorted(choices)}")
    return value


def _known_keys(data, known, where: str) -> None:
    """A mapping's keys are all ``known``: a misspelled optional key would otherwise be ignored."""
    if not isinstance(data, dict):
        raise RobotConfigError(f"{where} must be a mapping, got {data!r}")
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise RobotConfigError(f"{where}: unknown key {key!r} ({hint}known keys: {sorted(known)})")


def _names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


TOP_LEVEL_KEYS = {
    "name", "base_frame", "arms", "joints", "poses", "cameras", "work_surface", "goal_time", "rates", "safety",
}  # fmt: skip
ARM_KEYS = (_names(Arm) - {"sim_host", "sim_ws_port"}) | {"sim"}


def _positive_key(data: dict, key: str, where: str) -> float:
    """``data[key]`` as a finite number > 0; errors name ``where.key``."""
    return _positive(_require(data, key, where), f"{where}.{key}")


def _positive(value, where: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise RobotConfigError(f"{where} must be a finite number > 0, got {value}")
    return value


def _vector(value, size: int, where: str) -> tuple[float, ...] | None:
    """A finite float tuple of ``size`` entries (None stays None)."""
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise RobotConfigError(f"{where} must be a list of {size} numbers, got {value!r}") from None
    if len(out) != size or not all(math.isfinite(v) for v in out):
        raise RobotConfigError(f"{where} must be {size} finite numbers, got {value!r}")
    return out


def parse_robot_config(data: dict, source: str = "<dict>") -> RobotConfig:
    """Validate a parsed robot.yaml mapping; raise RobotConfigError naming the problem."""
    if not isinstance(data, dict):
        raise RobotConfigError(f"{source}: top level must be a mapping")
    _known_keys(data, TOP_LEVEL_KEYS, source)
    joints = []
    for i, j in enumerate(_require(data, "joints", source)):
        where = f"{source}: joints[{i}]"
        _known_keys(j, _names(Joint), where)
        joint = Joint(
            name=str(_require(j, "name", where)),
            lerobot=str(_require(j, "lerobot", where)),
            lower=float(_require(j, "lower", where)),
            upper=float(_require(j, "upper", where)),
            velocity=_positive_key(j, "velocity", where),
        )
        if not (math.isfinite(joint.lower) and math.isfinite(joint.upper) and joint.lower < joint.upper):
            raise RobotConfigError(
                f"{where} ({joint.name}): need finite lower < upper, got {joint.lower}, {joint.upper}"
            )
        joints.append(joint)
    names = [j.name for j in joints]
    if len(set(names)) != len(names):
        raise RobotConfigError(f"{source}: duplicate joint names in {names}")
    if not joints:
        raise RobotConfigError(f"{source}: no joints")

    poses = {}
    for pname, values in _require(data, "poses", source).items():
        q = np.asarray(values, dtype=float)
        if q.shape != (len(joints),):
            raise RobotConfigError(f"{source}: pose {pname!r} has {q.size} values, expected {len(joints)}")
        lower = np.array([j.lower for j in joints])
        upper = np.array([j.upper for j in joints])
        bad = np.flatnonzero((q < lower) | (q > upper))
        if bad.size:
            k = int(bad[0])
            raise RobotConfigError(
                f"{source}: pose {pname!r} puts {names[k]} at {q[k]} outside [{lower[k]}, {upper[k]}]"
            )
        q.flags.writeable = False
        poses[str(pname)] = q

    for i, a in enumerate(_require(data, "arms", source)):
        _known_keys(a, ARM_KEYS, f"{source}: arms[{i}]")
        _known_keys(_require(a, "sim", f"{source}: arms[{i}]"), {"host", "ws_port"}, f"{source}: arms[{i}].sim")
    for i, c in enumerate(data.get("cameras") or []):
        _known_keys(c, _names(Camera), f"{source}: cameras[{i}]")
    arms = tuple(
        Arm(
            name=str(_require(a, "name", f"{source}: arms[{i}]")),
            ip=str(_require(a, "ip", f"{source}: arms[{i}]")),
            base_xyz=tuple(float(v) for v in _require(a, "base_xyz", f"{source}: arms[{i}]")),
            end_effector=str(_require(a, "end_effector", f"{source}: arms[{i}]")),
            sim_host=str(_require(_require(a, "sim", f"{source}: arms[{i}]"), "host", f"{source}: arms[{i}].sim")),
            sim_ws_port=int(_require(a["sim"], "ws_port", f"{source}: arms[{i}].sim")),
            needle_offset_xyz=_vector(a.get("needle_offset_xyz"), 3, f"{source}: arms[{i}].needle_offset_xyz"),
        )
        for i, a in enumerate(_require(data, "arms", source))
    )
    cameras = tuple(
        Camera(
            name=str(_require(c, "name", f"{source}: cameras[{i}]")),
            topic=str(_require(c, "topic", f"{source}: cameras[{i}]")),
            width=int(_positive_key(c, "width", f"{source}: cameras[{i}]")),
            height=int(_positive_key(c, "height", f"{source}: cameras[{i}]")),
            fps=_positive_key(c, "fps", f"{source}: cameras[{i}]"),
            arm=str(_require(c, "arm", f"{source}: cameras[{i}]")),
            model=_choice(c, "model", Camera.model, REALSENSE_COLOR_PROFILE, f"{source}: cameras[{i}]"),
            serial_no=str(c.get("serial_no", Camera.serial_no)),
        )
        for i, c in enumerate(data.get("cameras") or [])
    )
    goal = _require(data, "goal_time", source)
    _known_keys(goal, {"slow", "fast"}, f"{source}: goal_time")
    rates = _require(data, "rates", source)
    _known_keys(rates, {"joint_states", "policy"}, f"{source}: rates")
    s = _require(data, "safety", source)
    _known_keys(s, _names(Safety), f"{source}: safety")
    safety_where = f"{source}: safety"

    scale = float(_require(s, "velocity_scale", safety_where))
    if not 0 < scale <= 1:
        raise RobotConfigError(f"{source}: safety.velocity_scale must be in (0, 1], got {scale}")
    safety = Safety(
        velocity_scale=scale,
        max_jump_rad=_positive_key(s, "max_jump_rad", safety_where),
        max_jump_m=_positive_key(s, "max_jump_m", safety_where),
        max_acceleration_rad=_positive_key(s, "max_acceleration_rad", safety_where),
        max_acceleration_m=_positive_key(s, "max_acceleration_m", safety_where),
        command_timeout=_positive_key(s, "command_timeout", safety_where),
        stream_timeout_periods=_positive_key(s, "stream_timeout_periods", safety_where),
        feedback_timeout=_positive_key(s, "feedback_timeout", safety_where),
        allow_partial_joints=bool(_require(s, "allow_partial_joints", safety_where)),
    )
    surface = data.get("work_surface")
    work_surface = None
    if surface is not None:
        where = f"{source}: work_surface"
        _known_keys(surface, _names(WorkSurface), where)
        work_surface = WorkSurface(
            z=_vector([_require(surface, "z", where)], 1, f"{where}.z")[0],
            center_xy=_vector(_require(surface, "center_xy", where), 2, f"{where}.center_xy"),
            size_xy=tuple(
                _positive(v, f"{where}.size_xy")
                for v in _vector(_require(surface, "size_xy", where), 2, f"{where}.size_xy")
            ),
        )
    return RobotConfig(
        name=str(data.get("name", "tatbot")),
        base_frame=str(data.get("base_frame", "world")),
        arms=arms,
        joints=tuple(joints),
        poses=poses,
        cameras=cameras,
        goal_time_slow=_positive_key(goal, "slow", f"{source}: goal_time"),
        goal_time_fast=_positive_key(goal, "fast", f"{source}: goal_time"),
        joint_state_rate=_positive_key(rates, "joint_states", f"{source}: rates"),
        policy_rate=_positive_key(rates, "policy", f"{source}: rates"),
        safety=safety,
        work_surface=work_surface,
    )


def default_config_path() -> Path:
    """robot.yaml from the install space (ament index) or, failing that, the source tree."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory("tatbot_bringup")) / "config" / "robot.yaml"
        if installed.is_file():
            return installed
    except (ImportError, LookupError):
        pass
    return DEFAULT_CONFIG


def load_robot_config(path: str | Path | None = None) -> RobotConfig:
    """Load robot.yaml (default: the installed tatbot_bringup one) and validate it."""
    path = Path(path) if path else default_config_path()
    if not path.is_file():
        raise RobotConfigError(f"robot config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RobotConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_robot_config(data, str(path))
