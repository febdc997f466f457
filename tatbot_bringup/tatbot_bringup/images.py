"""Camera messages -> HxWx3 uint8 RGB arrays (raw and compressed), optional resize.

Pure numpy / OpenCV. Raw encodings follow sensor_msgs/image_encodings. The one decoding and
resizing of a colour frame that the converter (``bag_to_lerobot``) and the policy node
(``vla_policy``) share, so a policy is served the pixels it was trained on (the depth twin:
tatbot_bringup.depth).
"""

from __future__ import annotations

import cv2
import numpy as np

# encoding -> (channels, OpenCV conversion to RGB or None)
RAW_ENCODINGS = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
}


class ImageDecodeError(ValueError):
    """A camera message cannot be turned into an RGB image."""


def decode_raw(encoding: str, height: int, width: int, step: int, data: np.ndarray) -> np.ndarray:
    """sensor_msgs/Image fields -> (height, width, 3) uint8 RGB (a new array)."""
    if encoding not in RAW_ENCODINGS:
        raise ImageDecodeError(f"unsupported image encoding {encoding!r}; supported: {sorted(RAW_ENCODINGS)}")
    channels, conversion = RAW_ENCODINGS[encoding]
    if step < width * channels or len(data) < step * height:
        raise ImageDecodeError(
            f"{encoding} image {width}x{height}: step {step} and {len(data)} data bytes are inconsistent"
        )
    rows = np.frombuffer(data, dtype=np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, : width * channels].reshape(height, width, channels)
    if conversion is None:
        return pixels.copy()
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def decode_compressed(fmt: str, data: np.ndarray) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg / png, any image_transport format string) -> RGB."""
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError(f"compressed image (format {fmt!r}, {len(data)} bytes) could not be decoded")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# the data contract's image_resize: names this function and its interpolation
RESIZE = "tatbot_bringup.images.resize: OpenCV INTER_AREA shrinking, INTER_LINEAR enlarging"


def resize(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize to (height, width) (area interpolation when shrinking); None keeps the image."""
    if size is None or image.shape[:2] == tuple(size):
        return image
    height, width = size
    shrink = height < image.shape[0] or width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
