"""Local LeRobot datasets for the offline tools (replay, init_relative_policy, validation_loss).

LeRobot's loader falls back to the Hub for a root it cannot read: a download attempt online, an
``OfflineModeIsEnabled`` traceback offline. A root that is not a complete dataset is refused here
first (tatbot_bringup.dataset_files, which the converter's --resume uses too), with one
line naming it.
"""

from __future__ import annotations

from pathlib import Path

from tatbot_bringup.dataset_files import DatasetError, check_dataset_files

check_dataset_root = check_dataset_files  # the name the tools use: a bad --dataset is named before any work
__all__ = ["DatasetError", "check_dataset_root", "load_local_dataset"]


def load_local_dataset(root: str | Path, repo_id: str = "tatbot/dataset", **kwargs):
    """``LeRobotDataset(repo_id, root=root, **kwargs)`` for a complete local dataset only."""
    from lerobot.datasets import LeRobotDataset

    root = check_dataset_files(root)
    try:
        return LeRobotDataset(repo_id, root=root, **kwargs)
    except Exception as exc:  # LeRobot's loader raises anything from parquet, json or the Hub client
        raise DatasetError(f"cannot read the LeRobot dataset {root}: {type(exc).__name__}: {exc}") from exc
