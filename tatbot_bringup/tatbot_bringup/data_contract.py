"""The train <-> serve contract of a tatbot dataset, carried with the data.

What the converter decided and the policy node must do the same way, in one file:
bag_to_lerobot writes it into the dataset (``meta/tatbot_contract.json``), init_relative_policy
and make demo's training put it beside the checkpoint's ``config.json``, and vla_policy reads it
from the checkpoint alone (the dataset need not be on the robot). LeRobot's own ``info.json``
keeps the rest (features and their names).

Pure Python, no ROS.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

CONTRACT_FILE = "tatbot_contract.json"
DATASET_CONTRACT = Path("meta") / CONTRACT_FILE
VERSION = 1


class ContractError(ValueError):
    """A contract file is missing, malformed, or disagrees with what uses it."""


@dataclass(frozen=True)
class DataContract:
    fps: float  # frames (and actions) per second
    action_offset_periods: float  # the action of frame t is the commanded setpoint at t + offset / fps
    joint_names: tuple[str, ...]  # ROS joint names in observation.state / action order
    cameras: dict[str, str] = field(default_factory=dict)  # dataset camera name -> the image topic it came from
    image_size: tuple[int, int] | None = None  # (height, width) frames were resized to; None: the camera's
    image_resize: str = ""  # tatbot_bringup.images.RESIZE when image_size is set: the function both sides use
    depth: bool = False  # <camera>_depth features from each camera's aligned depth
    # LeRobot's depth-video quantizer the depth was stored with (DepthEncoderConfig's depth_min, depth_max,
    # shift, use_log), which the policy node reproduces; None: stored as images (lossless) or no depth
    depth_quantizer: dict | None = None
    stencil_points_per_arm: int = 0  # observation.environment_state layout; 0 = no stencil input
    version: int = VERSION

    def __post_init__(self):
        if not self.fps > 0:
            raise ContractError(f"fps must be > 0, got {self.fps}")
        if self.action_offset_periods < 0:
            raise ContractError(f"action_offset_periods must be >= 0, got {self.action_offset_periods}")

    @property
    def action_offset_steps(self) -> int:
        """The offset in whole actions (what the policy node shifts a chunk by)."""
        steps = round(self.action_offset_periods)
        if not math.isclose(steps, self.action_offset_periods, abs_tol=1e-9):
            raise ContractError(
                f"the dataset's action offset is {self.action_offset_periods} periods, not a whole number of "
                "actions: the policy streams actions one period apart; convert with an integer --action-offset"
            )
        return steps

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> DataContract:
        try:
            data = json.loads(text)
            if data.get("version") != VERSION:
                raise ContractError(f"{source}: contract version {data.get('version')!r}, this code reads {VERSION}")
            data["joint_names"] = tuple(data["joint_names"])
            if data.get("image_size") is not None:
                data["image_size"] = tuple(data["image_size"])
            return cls(**data)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ContractError(f"{source}: not a tatbot data contract ({type(exc).__name__}: {exc})") from None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())

    @classmethod
    def read(cls, path: Path) -> DataContract:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ContractError(f"cannot read the data contract {path}: {exc.strerror}") from None
        return cls.from_json(text, str(path))


def copy_to_checkpoint(dataset: Path, checkpoint: Path) -> Path | None:
    """Put ``dataset``'s contract beside ``checkpoint``'s config.json; None when the dataset has none
    (converted before contracts existed)."""
    source = dataset / DATASET_CONTRACT
    if not source.is_file():
        return None
    target = checkpoint / CONTRACT_FILE
    target.write_text(DataContract.read(source).to_json())
    return target
