"""Synthetic tatbot recordings with known signals, for converter tests and benchmarks.

Pure Python (rosbags, numpy, OpenCV; no rclpy). Every value encodes where it
came from, so a converted frame can be traced back to the message it used:

* joint states: ``position[j] = j * 1000 + i`` for the i-th message (names in
  a shuffled order per message); setpoints: ``-(j * 1000 + i) - 1``;
* camera frames: flat colour ``frame_color(camera, i)``, recoverable from a
  lossy video with :func:`frame_index` (``textured=True``: plus a fixed pattern, whose
  resizing shows the interpolation);
* aligned depth (``depth=True``): with each camera frame, the same stamp, a 16UC1 image on
  ``aligned_depth_topic(camera)``: :func:`depth_frame` mm, a ramp whose level encodes i
  (``DEPTH_STEP_MM`` apart), 0 (no depth) in one corner;
* interventions: ``std_msgs/Bool`` on the intervention topic at the scheduled
  times (no header: the schedule time is the receive time).

Header stamps are the true sample times; the bag receive time is later
(``latency``), so a converter that aligned on receive times would fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer

from tatbot_bringup import topics
from tatbot_bringup.robot_config import aligned_depth_topic
from tatbot_recorder.core.bag_types import tatbot_typestore
from tatbot_recorder.core.schema import ConversionSpec

T0_NS = 1_700_000_000 * 1_000_000_000
COLOR_STEP = 8  # colour levels apart: survives video compression
DEPTH_STEP_MM = 4  # depth levels apart per message: more than twice LeRobot's quantization error here
NO_DEPTH = (slice(0, 4), slice(0, 4))  # pixels without depth (0) in every depth frame


@dataclass(frozen=True)
class SyntheticEpisode:
    start_s: float  # relative to the bag start
    stop_s: float
    task: str
    end: str = "stop"  # "stop", "discard" or "none" (never stopped)
    metadata_json: str = ""


@dataclass
class SyntheticBag:
    joint_names: list[str]
    cameras: list[tuple[str, str]]  # (name, raw topic)
    duration_s: float = 3.0
    joint_rate: float = 100.0
    camera_rate: float = 30.0
    size: tuple[int, int] = (48, 64)  # (height, width)
    encoding: str = "rgb8"  # rgb8, bgr8, mono8 (raw) or jpeg, png (compressed)
    textured: bool = False  # frames carry TEXTURE on top of their colour
    depth: bool = False  # 16UC1 aligned depth per camera frame (realsense2_camera's align_depth)
    episodes: list[SyntheticEpisode] = field(default_factory=list)
    stencil: bool = True
    interventions: list[tuple[float, bool]] = field(default_factory=list)  # (time after the bag start, s; flag)
    joint_latency_s: float = 0.004
    camera_latency_s: float = 0.021
    zero_stamps: bool = False  # joint states without header stamps
    seed: int = 0
    state_topic: str = topics.JOINT_STATES
    action_topic: str = topics.COMMANDED

    def joint_stamps(self) -> np.ndarray:
        return T0_NS + np.round(np.arange(int(self.duration_s * self.joint_rate)) * 1e9 / self.joint_rate).astype(
            np.int64
        )

    def camera_stamps(self, camera: int) -> np.ndarray:
        offset = 0.003 * (camera + 1)  # cameras are not in phase with each other or with the joints
        n = int((self.duration_s - offset) * self.camera_rate)
        return T0_NS + np.round((offset + np.arange(n) / self.camera_rate) * 1e9).astype(np.int64)

    def stencil_paths(self) -> tuple[np.ndarray, np.ndarray]:
        left = np.array([[0.1, 0.2, 0.125], [0.12, 0.21, 0.125], [0.14, 0.2, 0.125]])
        right = np.array([[0.1, -0.2, 0.125], [0.13, -0.22, 0.125]])
        return left, right


def joint_value(joint: int, i: int) -> float:
    return float(joint * 1000 + i)


def setpoint_value(joint: int, i: int) -> float:
    return -float(joint * 1000 + i) - 1.0


def frame_color(camera: int, i: int) -> tuple[int, int, int]:
    return (COLOR_STEP * (i % 32), COLOR_STEP * ((i // 32) % 32), 40 * camera + 20)


def frame_index(image: np.ndarray) -> int:
    """Recover i from a (possibly lossy) RGB frame made by frame_color."""
    r, g = image[..., 0].mean(), image[..., 1].mean()
    return round(r / COLOR_STEP) + 32 * round(g / COLOR_STEP)


def depth_frame(camera: int, i: int, size: tuple[int, int]) -> np.ndarray:
    """(H, W) uint16 mm of camera's i-th depth frame: 100 + 50*camera + DEPTH_STEP_MM*i plus 2 mm per
    column (inside a D405's 7-50 cm for the bags here), 0 in the NO_DEPTH corner."""
    depth = 100 + 50 * camera + DEPTH_STEP_MM * i + 2 * np.arange(size[1], dtype=np.uint16)
    depth = np.broadcast_to(depth.astype(np.uint16), size).copy()
    depth[NO_DEPTH] = 0
    return depth


def texture(size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 diagonal stripes and a checkerboard: no two interpolations resize it alike."""
    y, x = np.mgrid[: size[0], : size[1]]
    return np.stack([(x * 37 + y * 11) % 97, ((x // 3 + y // 3) % 2) * 60, (x * y) % 53], axis=-1).astype(np.uint8)


def frame_image(
    camera: int, i: int, size: tuple[int, int], encoding: str = "rgb8", textured: bool = False
) -> np.ndarray:
    """The frame as it is published: HxWx3 for rgb8/bgr8/jpeg/png, HxW for mono8 (grey = red level)."""
    color = np.array(frame_color(camera, i), dtype=np.uint8)
    if encoding == "mono8":
        return np.full(size, color[0], dtype=np.uint8)
    image = np.broadcast_to(color, (*size, 3)).copy()
    if textured:
        image += texture(size)  # no overflow while i < 20 (red 8 i + 96): bags under 0.6 s
    return image[..., ::-1].copy() if encoding == "bgr8" else image


def write_bag(path: str | Path, spec: SyntheticBag, storage: str = "mcap") -> Path:
    """Write the recording as a rosbag2 bag (storage: mcap or sqlite3)."""
    store = tatbot_typestore()
    t = store.types
    Time, Header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
    rng = np.random.default_rng(spec.seed)
    messages: list[tuple[int, str, object]] = []

    def header(stamp_ns: int, frame: str = "") -> object:
        return Header(
            stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)), frame_id=frame
        )

    empty = np.zeros(0, dtype=np.float64)
    n = len(spec.joint_names)
    for i, stamp in enumerate(spec.joint_stamps()):
        log = int(stamp + spec.joint_latency_s * 1e9)
        order = rng.permutation(n)
        names = [spec.joint_names[j] for j in order]
        for topic, value in ((spec.state_topic, joint_value), (spec.action_topic, setpoint_value)):
            msg = t["sensor_msgs/msg/JointState"](
                header=header(0 if spec.zero_stamps and topic == spec.state_topic else stamp),
                name=names,
                position=np.array([value(j, i) for j in order]),
                velocity=empty,
                effort=empty,
            )
            messages.append((log, topic, msg))
    compressed = spec.encoding in ("jpeg", "png")
    for c, (_, topic) in enumerate(spec.cameras):
        for i, stamp in enumerate(spec.camera_stamps(c)):
            image = frame_image(c, i, spec.size, spec.encoding, spec.textured)
            log = int(stamp + spec.camera_latency_s * 1e9)
            if compressed:
                ok, data = cv2.imencode(".jpg" if spec.encoding == "jpeg" else ".png", image[..., ::-1])
                assert ok
                msg = t["sensor_msgs/msg/CompressedImage"](
                    header=header(stamp, topic), format=spec.encoding, data=data.ravel()
                )
                messages.append((log, topic + "/compressed", msg))
            else:
                h, w = spec.size
                channels = 1 if spec.encoding == "mono8" else 3
                msg = t["sensor_msgs/msg/Image"](
                    header=header(stamp, topic),
                    height=h,
                    width=w,
                    encoding=spec.encoding,
                    is_bigendian=0,
                    step=w * channels,
                    data=image.ravel(),
                )
                messages.append((log, topic, msg))
            if spec.depth:
                h, w = spec.size
                msg = t["sensor_msgs/msg/Image"](
                    header=header(stamp, topic),
                    height=h,
                    width=w,
                    encoding="16UC1",
                    is_bigendian=0,
                    step=w * 2,
                    data=depth_frame(c, i, spec.size).view(np.uint8).ravel(),
                )
                messages.append((log, aligned_depth_topic(spec.cameras[c][0]), msg))
    Event = t["tatbot_interfaces/msg/EpisodeEvent"]
    for k, ep in enumerate(spec.episodes):
        marks = [(ep.start_s, Event.START, "")]
        if ep.end != "none":
            marks.append((ep.stop_s, Event.STOP if ep.end == "stop" else Event.DISCARD, ""))
        for at, kind, _ in marks:
            stamp = T0_NS + round(at * 1e9)
            msg = Event(
                header=header(stamp),
                event=kind,
                index=k,
                task=ep.task,
                success=kind == Event.STOP,
                metadata_json=ep.metadata_json if kind == Event.START else "",
            )
            messages.append((stamp + 1_000_000, topics.EPISODE, msg))
    if spec.stencil:
        P = t["geometry_msgs/msg/Point"]
        left, right = spec.stencil_paths()
        msg = t["tatbot_interfaces/msg/Stencil"](
            header=header(T0_NS - 500_000_000, "world"),
            name="synthetic",
            left=[P(x=x, y=y, z=z) for x, y, z in left],
            right=[P(x=x, y=y, z=z) for x, y, z in right],
            left_description="line",
            right_description="arc",
        )
        messages.append((T0_NS, topics.STENCIL, msg))

    for at, flag in spec.interventions:
        messages.append((T0_NS + round(at * 1e9), ConversionSpec.intervention_topic, t["std_msgs/msg/Bool"](data=flag)))

    messages.sort(key=lambda m: m[0])
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    path = Path(path)
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        connections = {}
        for log, topic, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(connections[topic], log, store.serialize_cdr(msg, msg.__msgtype__))
    return path
