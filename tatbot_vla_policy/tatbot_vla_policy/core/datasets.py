"""Local LeRobot datasets for the offline tools (replay, init_relative_policy).

LeRobot's loader falls back to the Hub for a root it cannot read: a download attempt online, an
``OfflineModeIsEnabled`` traceback offline. A root that is not a dataset is refused here first,
with one line naming it.
"""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """The path is not a readable local LeRobot dataset."""


def check_dataset_root(root: str | Path) -> Path:
    """``root`` if it holds a LeRobot dataset's meta/info.json, else a DatasetError naming it."""
    root = Path(root).expanduser()
    if not (root / "meta" / "info.json").is_file():
        what = "does not exist" if not root.exists() else "has no meta/info.json"
        raise DatasetError(
            f"{root} is not a LeRobot dataset ({what}): pass the directory that bag_to_lerobot --output "
            "(or lerobot-record) wrote"
        )
    return root


def load_local_dataset(root: str | Path, repo_id: str = "tatbot/dataset", **kwargs):
    """``LeRobotDataset(repo_id, root=root, **kwargs)`` for a local dataset only."""
    from lerobot.datasets import LeRobotDataset

    root = check_dataset_root(root)
    try:
        return LeRobotDataset(repo_id, root=root, **kwargs)
    except Exception as exc:  # LeRobot's loader raises anything from parquet, json or the Hub client
        raise DatasetError(f"cannot read the LeRobot dataset {root}: {type(exc).__name__}: {exc}") from exc
