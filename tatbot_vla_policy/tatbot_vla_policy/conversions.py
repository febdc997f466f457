"""ROS messages <-> numpy for the policy node (message types only, no rclpy).

Trajectory and time conversions are the arm driver's (tatbot_arm_driver.conversions),
so a chunk is built and validated exactly as the driver will read it.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from sensor_msgs.msg import Image
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from tatbot_bringup.depth import DepthDecodeError, decode_depth
from tatbot_bringup.images import ImageDecodeError, decode_raw
from tatbot_interfaces.msg import PolicyStatus

STATE_NAMES = {v: k.removeprefix("STATE_") for k, v in vars(PolicyStatus).items() if k.startswith("STATE_")}
ARM_COLORS = ((0.1, 0.6, 1.0, 1.0), (1.0, 0.4, 0.1, 1.0))  # needle-tip path colours, arms in config order


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


def tip_path_markers(tips: np.ndarray, arms: list[str], frame: str, stamp: Time) -> MarkerArray:
    """Needle-tip paths (N, arms, 3) -> one LINE_STRIP per arm (rviz2), coloured per arm."""
    markers = MarkerArray()
    for a, arm in enumerate(arms):
        m = Marker(ns="needle_tip_path", id=a, type=Marker.LINE_STRIP, action=Marker.ADD)
        m.header.frame_id = frame
        m.header.stamp = stamp
        m.pose.orientation.w = 1.0
        m.scale.x = 0.002
        m.color = ColorRGBA(**dict(zip("rgba", ARM_COLORS[a % len(ARM_COLORS)], strict=True)))
        m.text = arm
        m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in tips[:, a]]
        markers.markers.append(m)
    return markers


def status_diagnostics(status: PolicyStatus, name: str, extra: dict[str, str]) -> DiagnosticArray:
    """The policy status as /diagnostics: ERROR in FAULT, WARN while WAITING, else OK; ``extra``
    key-values after the status's own."""
    level = {
        PolicyStatus.STATE_FAULT: DiagnosticStatus.ERROR,
        PolicyStatus.STATE_WAITING: DiagnosticStatus.WARN,
    }.get(status.state, DiagnosticStatus.OK)
    values = {
        "state": STATE_NAMES[status.state],
        "model": status.model,
        "task": status.task,
        "step": str(status.step),
        "inference_ms_mean": f"{status.inference_ms_mean:.1f}",
        "inference_ms_p95": f"{status.inference_ms_p95:.1f}",
        "observation_age_ms": f"{status.observation_age_ms:.1f}",
        "publish_rate_hz": f"{status.publish_rate_hz:.2f}",
        "chunks_dropped": str(status.chunks_dropped),
        "chunks_rejected": str(status.chunks_rejected),
        **extra,
    }
    diag = DiagnosticArray()
    diag.header.stamp = status.header.stamp
    diag.status.append(
        DiagnosticStatus(
            level=level,
            name=name,
            message=status.detail or "streaming",
            hardware_id=status.model,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
    )
    return diag
