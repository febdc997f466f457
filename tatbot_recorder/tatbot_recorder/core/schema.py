"""What a tatbot dataset contains: the conversion settings and the LeRobot feature schema.

Pure Python. Feature names follow DESIGN.md: ``observation.state`` and
``action`` carry the 14 joints under their LeRobot names (robot.yaml),
``observation.images.<camera>`` are (H, W, 3) frames, the optional
``observation.images.<camera>_depth`` (``--depth``) the camera's aligned depth in LeRobot's depth
format (LeRobot's own name and feature, as its robots write a RealSense's depth: (H, W, 1),
``info.is_depth_map``; uint16 mm in, 12-bit quantized video), the optional
``observation.environment_state`` is the stencil (tatbot_bringup.stencil) and
``intervention`` flags the frames where a human was in control (the teleop
node's ``std_msgs/Bool``), with LeRobot's own definition (``lerobot.rollout``'s
DAgger strategy): written always, so demonstrations and corrections merge.
"""

from __future__ import annotations

from dataclasses import dataclass

from tatbot_bringup import topics
from tatbot_bringup.data_contract import DataContract
from tatbot_bringup.images import RESIZE
from tatbot_bringup.robot_config import aligned_depth_topic
from tatbot_bringup.stencil import DEFAULT_POINTS_PER_ARM, stencil_state_names

STATE = "observation.state"
ACTION = "action"
ENV_STATE = "observation.environment_state"
INTERVENTION = "intervention"  # LeRobot's name and definition (lerobot/rollout/context.py)
IMAGE_PREFIX = "observation.images."
DEPTH_SUFFIX = "_depth"  # LeRobot's robots name a camera's depth feature <camera>_depth (e.g. so_follower)
COMPRESSED_SUFFIX = "/compressed"  # image_transport's compressed topic next to the raw one
ROBOT_TYPE = "tatbot"


@dataclass(frozen=True)
class CameraSpec:
    name: str  # dataset key suffix: observation.images.<name>
    topic: str  # raw sensor_msgs/Image topic; <topic>/compressed is used when the raw one is absent

    @property
    def key(self) -> str:
        return IMAGE_PREFIX + self.name

    @property
    def depth_name(self) -> str:
        return self.name + DEPTH_SUFFIX

    @property
    def depth_key(self) -> str:  # observation.images.<name>_depth
        return IMAGE_PREFIX + self.depth_name

    @property
    def depth_topic(self) -> str:  # 16UC1 mm aligned to the colour frame (realsense2_camera's align_depth)
        return aligned_depth_topic(self.name)


@dataclass(frozen=True)
class ConversionSpec:
    fps: int
    joint_names: tuple[str, ...]  # JointState names, canonical order
    lerobot_names: tuple[str, ...]  # feature names, same order
    cameras: tuple[CameraSpec, ...]
    state_topic: str = topics.JOINT_STATES
    action_topic: str = topics.COMMANDED
    episode_topic: str = topics.EPISODE
    stencil_topic: str = topics.STENCIL
    intervention_topic: str = topics.INTERVENTION  # std_msgs/Bool, latched; absent = never intervened
    action_offset_periods: float = 1.0  # action = commanded target at t + offset / fps
    state_max_age_s: float = 0.05
    action_max_age_s: float = 0.05
    image_max_age_s: float = 0.1
    image_size: tuple[int, int] | None = None  # (height, width); None keeps the camera's size
    environment_state: bool = False
    depth: bool = False  # observation.images.<camera>_depth per camera, from its aligned depth topic
    stencil_points: int = DEFAULT_POINTS_PER_ARM
    default_task: str | None = None  # task of bags without EpisodeEvents

    def __post_init__(self):
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if len(self.joint_names) != len(self.lerobot_names):
            raise ValueError("joint_names and lerobot_names must have the same length")
        for name in ("state_max_age_s", "action_max_age_s", "image_max_age_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.action_offset_periods < 0:
            raise ValueError(f"action_offset_periods must be >= 0, got {self.action_offset_periods}")
        names = [c.name for c in self.cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate camera names {names}")
        if self.depth and (clash := sorted({c.depth_name for c in self.cameras} & set(names))):
            raise ValueError(f"cameras {clash} have the names of other cameras' depth features")

    def contract(self, use_videos: bool) -> DataContract:
        """What the policy must do as this conversion did (tatbot_bringup.data_contract)."""
        quantizer = None
        if self.depth and use_videos:  # LeRobotDataset.create's default depth encoder, which the writer uses
            from lerobot.configs.video import depth_encoder_defaults

            q = depth_encoder_defaults()
            quantizer = {"depth_min": q.depth_min, "depth_max": q.depth_max, "shift": q.shift, "use_log": q.use_log}
        return DataContract(
            fps=float(self.fps),
            action_offset_periods=float(self.action_offset_periods),
            joint_names=tuple(self.joint_names),
            cameras={c.name: c.topic for c in self.cameras},
            image_size=tuple(self.image_size) if self.image_size else None,
            image_resize=RESIZE if self.image_size else "",
            depth=self.depth,
            depth_quantizer=quantizer,
            stencil_points_per_arm=self.stencil_points if self.environment_state else 0,
        )

    @property
    def action_offset_ns(self) -> int:
        return round(self.action_offset_periods * 1e9 / self.fps)

    def features(self, image_shapes: dict[str, tuple[int, int]], use_videos: bool) -> dict:
        """LeRobot feature dict; image_shapes: camera name (and <camera>_depth) -> (height, width) stored."""
        from lerobot.utils.constants import OBS_STR
        from lerobot.utils.feature_utils import hw_to_dataset_features

        joints = {"dtype": "float32", "shape": (len(self.joint_names),), "names": list(self.lerobot_names)}
        features = {
            STATE: dict(joints),
            ACTION: dict(joints),
            INTERVENTION: {"dtype": "bool", "shape": (1,), "names": None},
        }
        for cam in self.cameras:
            h, w = image_shapes[cam.name]
            features[cam.key] = {
                "dtype": "video" if use_videos else "image",
                "shape": (h, w, 3),
                "names": ["height", "width", "channels"],
            }
        if self.depth:  # LeRobot's depth feature: a (H, W, 1) camera, info.is_depth_map
            depth = {cam.depth_name: (*image_shapes[cam.depth_name], 1) for cam in self.cameras}
            features.update(hw_to_dataset_features(depth, OBS_STR, use_video=use_videos))
        if self.environment_state:
            names = stencil_state_names(self.stencil_points)
            features[ENV_STATE] = {"dtype": "float32", "shape": (len(names),), "names": names}
        return features
