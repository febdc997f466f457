"""ROS messages <-> numpy for the policy node (message types only, no rclpy).

Trajectory and time conversions are the arm driver's (tatbot_arm_driver.conversions),
so a chunk is built and validated exactly as the driver will read it.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from sensor_msgs.msg import Image

from tatbot_bringup.depth import DepthDecodeError, decode_depth
from tatbot_bringup.images import ImageDecodeError, decode_raw


class ImageEncodingError(ValueError):
    """An Image message cannot be turned into an RGB (or depth) array."""


def image_to_rgb(msg: Image) -> np.ndarray:
    """rgb8 / bgr8 / rgba8 / bgra8 / mono8 Image -> HxWx3 uint8 RGB (tatbot_bringup.images, as
    bag_to_lerobot decodes it); raises ImageEncodingError naming the problem."""
    try:
        return decode_raw(msg.encoding, msg.height, msg.width, msg.step, msg.data)
    except ImageDecodeError as exc:
        raise ImageEncodingError(str(exc)) from None


def image_to_depth(msg: Image) -> np.ndarray:
    """16UC1 / mono16 aligned depth Image -> (H, W) uint16 mm (tatbot_bringup.depth, as bag_to_lerobot
    reads it); raises ImageEncodingError naming the problem."""
    try:
        return decode_depth(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
    except DepthDecodeError as exc:
        raise ImageEncodingError(str(exc)) from None


def points_to_array(points: list[Point]) -> np.ndarray:
    """geometry_msgs/Point[] -> (N, 3) float64."""
    return np.array([[p.x, p.y, p.z] for p in points], dtype=np.float64).reshape(-1, 3)
