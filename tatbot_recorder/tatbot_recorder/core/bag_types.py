"""Register tatbot_interfaces messages in a rosbags typestore, straight from the .msg files.

Lets bags that contain our types be written and read without ROS installed.
Usage::

    typestore = tatbot_typestore()
    msg = typestore.types["tatbot_interfaces/msg/EpisodeEvent"](...)
"""

from __future__ import annotations

import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

INTERFACE_PACKAGE = "tatbot_interfaces"
# Kilted is the distro of the PyPI wheels; its standard types match Jazzy's for
# every message we record (sensor_msgs, trajectory_msgs, std_msgs, geometry_msgs).
BASE_STORE = Stores.ROS2_KILTED


class InterfaceFilesNotFound(FileNotFoundError):
    """The tatbot_interfaces .msg files could not be located."""


def interface_msg_dir() -> Path:
    """Directory holding tatbot_interfaces/msg/*.msg.

    Looked up in the ament prefixes (installed package), then in the source
    tree next to this package (a checkout without a build).
    """
    candidates = []
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / INTERFACE_PACKAGE / "msg")
    candidates.append(Path(__file__).resolve().parents[3] / INTERFACE_PACKAGE / "msg")
    for path in candidates:
        if path.is_dir() and any(path.glob("*.msg")):
            return path
    raise InterfaceFilesNotFound(
        f"{INTERFACE_PACKAGE} .msg files not found in {[str(c) for c in candidates]}; "
        "build the workspace (make setup) or source env.sh (env-jazzy.sh on the Jazzy wheels)"
    )


def interface_types(msg_dir: Path | None = None) -> dict:
    """rosbags type definitions for every tatbot_interfaces message."""
    msg_dir = msg_dir or interface_msg_dir()
    types: dict = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{INTERFACE_PACKAGE}/msg/{path.stem}"))
    return types


def tatbot_typestore(msg_dir: Path | None = None) -> Typestore:
    """A ROS 2 typestore with the standard messages plus tatbot_interfaces."""
    store = get_typestore(BASE_STORE)
    store.register(interface_types(msg_dir))
    return store
