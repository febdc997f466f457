"""Is a directory a complete local LeRobot dataset? Checked before LeRobot's loader opens it.

LeRobot's loader treats a local root it cannot read as "not downloaded yet" and goes to the Hub:
a download attempt online, an ``OfflineModeIsEnabled`` traceback offline. A dataset whose last
write was cut (meta/episodes missing, a parquet file without its footer) is named here instead,
with the file and what to do, and nothing is downloaded for a local path. Pure (pyarrow, json).
"""

from __future__ import annotations

import json
from pathlib import Path

REMEDY = (
    "convert the bags again into a new --output (bag_to_lerobot), or restore the dataset from a copy; "
    "a local path is never downloaded"
)


class DatasetError(ValueError):
    """The path is not a complete, readable local LeRobot dataset."""


def check_dataset_files(root: str | Path) -> Path:
    """``root`` if it holds a LeRobot dataset whose metadata and parquet files are complete, else a
    DatasetError naming what is missing or cut and what to do."""
    import pyarrow.parquet as pq

    root = Path(root).expanduser()
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        what = "does not exist" if not root.exists() else "has no meta/info.json"
        raise DatasetError(
            f"{root} is not a LeRobot dataset ({what}): pass the directory that bag_to_lerobot --output "
            "(or lerobot-record) wrote"
        )
    try:
        info = json.loads(info_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{info_path} is not readable JSON ({exc}): {REMEDY}") from exc
    episode_files = sorted((root / "meta" / "episodes").glob("**/*.parquet"))
    if info.get("total_episodes", 0) and not episode_files:
        raise DatasetError(
            f"{root} is incomplete: info.json lists {info['total_episodes']} episodes but meta/episodes/ holds no "
            f"parquet file (a write was cut before the dataset was finalized): {REMEDY}"
        )
    rows = 0
    for path in [*episode_files, *sorted((root / "data").glob("**/*.parquet"))]:
        try:
            metadata = pq.read_metadata(path)
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise DatasetError(
                f"{path} is not a complete parquet file ({exc}; a write was cut, or the file was truncated): {REMEDY}"
            ) from exc
        if path.is_relative_to(root / "meta" / "episodes"):
            rows += metadata.num_rows
    if episode_files and rows != info.get("total_episodes", rows):
        raise DatasetError(
            f"{root}: info.json lists {info.get('total_episodes')} episodes but meta/episodes/ holds {rows}: {REMEDY}"
        )
    return root
