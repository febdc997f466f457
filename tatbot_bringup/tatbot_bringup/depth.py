"""Aligned depth images (realsense2_camera's, sim_camera's) -> uint16 millimetre arrays.

Pure numpy. The one decoding and resizing of a depth frame that the converter
(``bag_to_lerobot --depth``) and the policy node (``vla_policy``) share, so a
policy is served the depth it was trained on. The topic is
``tatbot_bringup.robot_config.aligned_depth_topic``.
"""

from __future__ import annotations

import numpy as np

# sensor_msgs/image_encodings with one uint16 channel: realsense2_camera publishes 16UC1 (mm)
DEPTH_ENCODINGS = ("16UC1", "mono16")


class DepthDecodeError(ValueError):
    """A depth message cannot be turned into a millimetre array."""


def decode_depth(encoding: str, height: int, width: int, step: int, is_bigendian: int, data) -> np.ndarray:
    """sensor_msgs/Image fields of a 16UC1 / mono16 depth image -> (height, width) uint16 mm (a new
    array, native byte order; 0 = no depth)."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthDecodeError(
            f"depth image encoding {encoding!r} is not supported: publish {' or '.join(DEPTH_ENCODINGS)} "
            "(uint16 millimetres, as realsense2_camera's aligned_depth_to_color)"
        )
    if step < width * 2 or len(data) < step * height:
        raise DepthDecodeError(
            f"{encoding} depth image {width}x{height}: step {step} and {len(data)} data bytes are inconsistent"
        )
    rows = np.frombuffer(data, dtype=np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, : width * 2].view(">u2" if is_bigendian else "<u2")
    return pixels.astype(np.uint16)


def resize_depth(depth: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize a (H, W) depth map to (height, width) by nearest neighbour (pixel centres): a depth
    value is never blended with its neighbours across an edge; None or the same size keeps it."""
    if size is None or depth.shape[:2] == tuple(size):
        return depth
    height, width = size
    rows = ((np.arange(height) + 0.5) * depth.shape[0] / height).astype(np.intp)
    cols = ((np.arange(width) + 0.5) * depth.shape[1] / width).astype(np.intp)
    return depth[rows[:, None], cols[None, :]]
