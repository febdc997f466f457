"""Match a checkpoint's input/output features against the robot's cameras and joints.

A LeRobot checkpoint declares what it was trained on (``config.json``:
``input_features`` / ``output_features``, key -> type and shape). The node can
only run it if every input can be produced from the configured topics; this
module checks that once, at configure time, and reports every mismatch at once.

A camera's depth is ``observation.images.<camera>_depth``, (1, H, W): the name LeRobot's robots
give a RealSense's depth and the feature ``bag_to_lerobot --depth`` writes; it is fed from the
camera's aligned depth topic.
"""

from __future__ import annotations

from dataclasses import dataclass

STATE_KEY = "observation.state"
ENV_STATE_KEY = "observation.environment_state"
IMAGE_PREFIX = "observation.images."
DEPTH_SUFFIX = "_depth"  # observation.images.<camera>_depth: LeRobot's (and bag_to_lerobot's) depth feature
ACTION_KEY = "action"
STENCIL_VALUES_PER_POINT = 6  # one xyz point per arm (left, right) at each resampled stencil position


class FeatureMismatch(ValueError):
    """The checkpoint expects inputs/outputs this robot configuration cannot provide."""

    def __init__(self, mismatches: list[str]):
        self.mismatches = list(mismatches)
        lines = "\n".join(f"  - {m}" for m in self.mismatches)
        super().__init__(f"checkpoint does not match the robot configuration ({len(mismatches)}):\n{lines}")


@dataclass(frozen=True)
class Feature:
    type: str  # LeRobot FeatureType name: STATE, VISUAL, ENV, ACTION, LANGUAGE, ...
    shape: tuple[int, ...]


@dataclass(frozen=True)
class CameraInput:
    key: str  # checkpoint feature key, e.g. "observation.images.realsense1" (or ..._depth)
    camera: str  # configured camera that feeds it, e.g. "realsense1" (its colour, or its aligned depth)
    height: int  # pixels the checkpoint expects
    width: int


@dataclass(frozen=True)
class InputSpec:
    """What the node must assemble for one model call."""

    cameras: tuple[CameraInput, ...]  # colour, (3, H, W)
    state_dim: int
    stencil_points_per_arm: int  # 0: the checkpoint takes no observation.environment_state
    action_dim: int
    depths: tuple[CameraInput, ...] = ()  # aligned depth, (1, H, W) mm

    @property
    def uses_stencil(self) -> bool:
        return self.stencil_points_per_arm > 0


def parse_camera_map(entries: list[str]) -> dict[str, str]:
    """``["ckpt_cam=robot_cam", ...]`` -> {ckpt_cam: robot_cam}; raises ValueError on bad entries."""
    mapping: dict[str, str] = {}
    for entry in entries:
        left, sep, right = entry.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ValueError(f"camera_map entry {entry!r} must look like 'checkpoint_camera=robot_camera'")
        mapping[left.strip()] = right.strip()
    return mapping


def cameras_by_topic(trained: dict[str, str], robot: dict[str, str]) -> dict[str, str]:
    """A camera_map from the data contract: each training camera (name -> the topic it was recorded
    from) to the robot camera publishing that topic, where the two names differ."""
    by_topic = {topic: name for name, topic in robot.items()}
    return {cam: by_topic[t] for cam, t in trained.items() if t in by_topic and by_topic[t] != cam}


def check_features(
    inputs: dict[str, Feature],
    outputs: dict[str, Feature],
    cameras: list[str],
    num_joints: int,
    camera_map: dict[str, str] | None = None,
) -> InputSpec:
    """Return what to feed the model, or raise FeatureMismatch listing every problem.

    cameras: configured camera names the node subscribes to; camera_map renames a
    checkpoint camera to a configured one (identity by default).
    """
    camera_map = camera_map or {}
    problems: list[str] = []
    camera_inputs: list[CameraInput] = []
    depth_inputs: list[CameraInput] = []
    stencil_points = 0

    def image_input(key: str, ft: Feature, depth: bool) -> CameraInput | None:
        """The camera feeding image feature ``key`` (colour (3, H, W) or depth (1, H, W)), or None
        with the problem noted."""
        ckpt_cam = key[len(IMAGE_PREFIX) : -len(DEPTH_SUFFIX) if depth else None]
        camera = camera_map.get(ckpt_cam, ckpt_cam)
        if ft.type != "VISUAL" or len(ft.shape) != 3 or ft.shape[0] != (1 if depth else 3):
            expected = "a depth map of shape (1, H, W)" if depth else "a VISUAL feature of shape (3, H, W)"
            problems.append(f"{key}: expected {expected}, got {ft.type} {ft.shape}")
            return None
        if camera not in cameras:
            size = "x".join(map(str, ft.shape[1:] if depth else ft.shape))
            what = f"its depth {key} ({size})" if depth else f"{key} ({size})"
            problems.append(
                f"missing camera {camera!r}: the checkpoint expects {what} but the configured cameras are {cameras}; "
                "add it to the 'cameras' parameter or map it with 'camera_map' (checkpoint=robot)"
            )
            return None
        return CameraInput(key, camera, int(ft.shape[1]), int(ft.shape[2]))

    for key, ft in sorted(inputs.items()):
        if key.startswith(IMAGE_PREFIX):
            depth = key.endswith(DEPTH_SUFFIX)
            found = image_input(key, ft, depth)
            if found is not None:
                (depth_inputs if depth else camera_inputs).append(found)
        elif key == STATE_KEY:
            if ft.shape != (num_joints,):
                problems.append(f"{key}: the robot has {num_joints} joints but the checkpoint expects {ft.shape}")
        elif key == ENV_STATE_KEY:
            size = ft.shape[0] if len(ft.shape) == 1 else -1
            if size <= 0 or size % STENCIL_VALUES_PER_POINT:
                problems.append(
                    f"{key}: shape {ft.shape} is not a stencil state (left and right paths of P xyz "
                    f"points, {STENCIL_VALUES_PER_POINT}*P values)"
                )
            else:
                stencil_points = size // STENCIL_VALUES_PER_POINT
        else:
            problems.append(f"{key}: input of type {ft.type} {ft.shape} cannot be produced from robot topics")

    if STATE_KEY not in inputs:
        problems.append(f"{STATE_KEY}: the checkpoint takes no joint state; tatbot policies need it")
    used = {k[len(IMAGE_PREFIX) :].removesuffix(DEPTH_SUFFIX) for k in inputs if k.startswith(IMAGE_PREFIX)}
    unknown_map = sorted(set(camera_map) - used)
    if unknown_map:
        problems.append(f"camera_map renames {unknown_map}, which the checkpoint does not use")

    action = outputs.get(ACTION_KEY)
    if action is None:
        problems.append(f"{ACTION_KEY}: the checkpoint has no action output (outputs: {sorted(outputs)})")
    elif action.shape != (num_joints,):
        problems.append(f"{ACTION_KEY}: the robot has {num_joints} joints but the checkpoint outputs {action.shape}")

    if problems:
        raise FeatureMismatch(problems)
    return InputSpec(
        cameras=tuple(camera_inputs),
        state_dim=num_joints,
        stencil_points_per_arm=stencil_points,
        action_dim=num_joints,
        depths=tuple(depth_inputs),
    )
