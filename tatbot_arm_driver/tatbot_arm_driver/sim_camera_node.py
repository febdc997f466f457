"""sim_camera: the simulated wrist cameras, rendered from /joint_states and the current stencil.

One node publishes every configured camera (robot.yaml ``cameras``) on the
realsense2_camera topic layout: ``<topic>`` (sensor_msgs/Image, rgb8) and
``<topic dir>/camera_info`` at the camera's fps. Each image is a perspective view
from the camera's optical frame (tatbot_bringup.kinematics FK of the newest joint
state) of the work surface with the stencil, the ink left so far and the needle
tips (tatbot_arm_driver.core.render). Ink is integrated at the joint-state rate;
a new stencil clears it. With ``align_depth`` (default true, as realsense2_camera's
``align_depth.enable``) each frame also comes as aligned depth:
``/<camera>/aligned_depth_to_color/image_raw`` (16UC1, mm, 0 = no depth; the
surface plane's optical-axis distance) and its ``camera_info``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, JointState

from tatbot_arm_driver.core.render import CameraView, RenderError, SurfaceCanvas
from tatbot_bringup import qos, topics
from tatbot_bringup.async_ros import spin
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.robot_config import Camera, RobotConfigError, aligned_depth_topic, load_robot_config
from tatbot_interfaces.msg import Stencil


def camera_info_topic(image_topic: str) -> str:
    """``/realsense1/color/image_raw`` -> ``/realsense1/color/camera_info`` (realsense2_camera layout)."""
    return image_topic.rsplit("/", 1)[0] + "/camera_info"


@dataclass
class _Stream:
    camera: Camera
    view: CameraView
    frame_id: str
    optical_index: int
    image_pub: object
    info_pub: object
    info: CameraInfo
    buffer: np.ndarray
    period: float  # s
    depth_pub: object | None = None  # aligned depth; None: align_depth off
    depth_info_pub: object | None = None
    depth_buffer: np.ndarray | None = None
    next_due: float = 0.0  # time.monotonic() of the next frame
    frames: int = 0  # published since start
    render_s: float = 0.0  # total render time, s
    reported: tuple[int, float, float] = field(default_factory=lambda: (0, 0.0, time.monotonic()))


SURFACE_PARAMETERS = (
    Param("resolution", 0.0005, "surface texture resolution, m per texel", 0.0001, 0.005),
    Param("stencil_width", 0.0015, "width of the drawn stencil lines, m", 0.0002, 0.01),
    Param("ink_width", 0.001, "width of an inked needle line, m", 0.0002, 0.01),
    Param("contact_distance", 0.0015, "needle tip inks when at most this far above the surface, m", 0.0, 0.02),
)
PARAMETERS = (
    Param("config", "", "robot.yaml path; empty: the installed tatbot_bringup config"),
    Param("cameras", Parameter.Type.STRING_ARRAY, "names of the config cameras to publish; unset: all of them"),
    Param("width", 0, "image width in pixels for every camera; 0: robot.yaml's", 0, 4096),
    Param("height", 0, "image height in pixels for every camera; 0: robot.yaml's", 0, 4096),
    Param("fps", 0.0, "frame rate of every camera, Hz; 0: robot.yaml's", 0.0, 120.0),
    Param("align_depth", True, "also publish depth aligned to colour (as realsense2_camera align_depth.enable)"),
    *SURFACE_PARAMETERS,
)


class SimCameraNode(Node):
    def __init__(self, **kwargs):
        super().__init__("sim_camera", **kwargs)
        self._stop = threading.Event()  # before anything can fail: destroy_node stops the renderer
        self._renderer: threading.Thread | None = None
        values = declare(self, PARAMETERS)
        config_path, names, width, height, fps = (values[n] for n in ("config", "cameras", "width", "height", "fps"))
        self._align_depth = values["align_depth"]
        surface_opts = {p.name: values[p.name] for p in SURFACE_PARAMETERS}
        self.config = load_robot_config(config_path or None)
        if self.config.work_surface is None:
            raise RobotConfigError(
                f"sim_camera needs a work_surface section in robot.yaml ({config_path or 'installed'})"
            )
        self.kin = RobotKinematics.from_config(self.config)
        cameras = [self.config.camera(n) for n in names] if names else list(self.config.cameras)
        cameras = [
            replace(cam, width=width or cam.width, height=height or cam.height, fps=fps or cam.fps) for cam in cameras
        ]
        if not cameras:
            raise RobotConfigError("no cameras to simulate: robot.yaml has no cameras and none were named")
        self._arm_names = [arm.name for arm in self.config.arms]
        missing = [a for a in self._arm_names if not hasattr(Stencil, a)]
        if missing:
            raise RobotConfigError(f"arms {missing} have no path field in tatbot_interfaces/msg/Stencil")
        self._needles = [self.kin.index(f"{a}/tattoo_needle") for a in self._arm_names]

        self._lock = threading.Lock()
        self.canvas = SurfaceCanvas(self.config.work_surface, len(self._arm_names), **surface_opts)
        self._T: np.ndarray | None = None  # FK of the newest complete joint state, (frames, 4, 4)
        self._name_index: tuple[tuple[str, ...], np.ndarray | None] = ((), None)
        self._stencil_name = ""

        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states, qos.JOINT_STATES)
        self.create_subscription(Stencil, topics.STENCIL, self._on_stencil, qos.LATCHED)
        self._diagnostics = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.STATUS)
        self._streams = [self._make_stream(cam) for cam in cameras]
        self.cameras = [cam.name for cam in cameras]
        self.create_timer(1.0, self._publish_diagnostics)
        self._fault = ""
        self.get_logger().info(
            f"simulating {self.cameras} at {[s.camera.fps for s in self._streams]} Hz "
            f"from {topics.JOINT_STATES} and {topics.STENCIL}"
        )
        # Rendering runs in its own thread, paced by the camera rates; callbacks only cache
        # the joint state and stencil (and integrate ink), so a busy executor never delays frames.
        self._renderer = threading.Thread(target=self._render_loop, name="sim_camera_render", daemon=True)
        self._renderer.start()

    def destroy_node(self):
        self._stop.set()
        if self._renderer is not None:
            self._renderer.join(timeout=5.0)
        return super().destroy_node()

    def _make_stream(self, cam: Camera) -> _Stream:
        K = self.kin.camera_matrix(cam.name, cam.width, cam.height)
        frame_id = f"{cam.name}_color_optical_frame"
        info = CameraInfo(width=cam.width, height=cam.height, distortion_model="plumb_bob")
        info.header.frame_id = frame_id
        info.d = [0.0] * 5
        info.k = K.ravel().tolist()
        info.r = np.eye(3).ravel().tolist()
        info.p = np.hstack([K, np.zeros((3, 1))]).ravel().tolist()
        stream = _Stream(
            camera=cam,
            view=CameraView(K, cam.width, cam.height),
            frame_id=frame_id,
            optical_index=self.kin.index(frame_id),
            image_pub=self.create_publisher(Image, cam.topic, qos.CAMERA_IMAGES),
            info_pub=self.create_publisher(CameraInfo, camera_info_topic(cam.topic), qos.CAMERA_IMAGES),
            info=info,
            buffer=np.empty((cam.height, cam.width, 3), np.uint8),
            period=1.0 / cam.fps,
        )
        if self._align_depth:
            depth_topic = aligned_depth_topic(cam.name)
            stream.depth_pub = self.create_publisher(Image, depth_topic, qos.CAMERA_IMAGES)
            stream.depth_info_pub = self.create_publisher(CameraInfo, camera_info_topic(depth_topic), qos.CAMERA_IMAGES)
            stream.depth_buffer = np.empty((cam.height, cam.width), np.uint16)
        return stream

    # -- inputs (cache + integrate ink; rendering happens in the camera timers)

    def _on_joint_states(self, msg: JointState) -> None:
        names = tuple(msg.name)
        if names != self._name_index[0]:
            lookup = {n: i for i, n in enumerate(names)}
            missing = [n for n in self.kin.joint_names if n not in lookup]
            self._name_index = (
                names,
                None if missing else np.array([lookup[n] for n in self.kin.joint_names]),
            )
            if missing:
                self.get_logger().warning(f"{topics.JOINT_STATES} lacks joints {missing}: ignoring those messages")
        index = self._name_index[1]
        if index is None or len(msg.position) != len(names):
            return
        q = np.asarray(msg.position, dtype=float)[index]
        if not np.all(np.isfinite(q)):
            self.get_logger().warning(
                f"{topics.JOINT_STATES} carries non-finite positions: ignored", throttle_duration_sec=1.0
            )
            return
        T = self.kin.forward(q)
        tips = T[self._needles, :3, 3]
        with self._lock:
            self._T = T
            self.canvas.update_tips(tips)

    def _on_stencil(self, msg: Stencil) -> None:
        if msg.header.frame_id not in ("", self.config.base_frame):
            self.get_logger().error(
                f"stencil {msg.name!r} is in frame {msg.header.frame_id!r}, expected "
                f"{self.config.base_frame!r}: not drawn"
            )
            return
        paths = [np.array([[p.x, p.y, p.z] for p in getattr(msg, arm)], dtype=float) for arm in self._arm_names]
        try:
            with self._lock:
                self.canvas.set_stencil(paths)
                self._stencil_name = msg.name
        except RenderError as exc:
            self.get_logger().error(f"stencil {msg.name!r} rejected: {exc}")
            return
        self.get_logger().info(f"stencil {msg.name!r}: {[len(p) for p in paths]} points, ink cleared")

    # -- outputs

    def _render_loop(self) -> None:
        now = time.monotonic()
        for stream in self._streams:
            stream.next_due = now
        while not self._stop.is_set():
            for stream in self._streams:
                if stream.next_due > time.monotonic():
                    continue
                try:
                    self._publish_frame(stream)
                except Exception as exc:  # a bug: report it on /diagnostics and keep the other cameras
                    if not self.context.ok():
                        return  # shutting down under us
                    self._fault = f"{stream.camera.name}: {type(exc).__name__}: {exc}"
                    self.get_logger().error(self._fault, throttle_duration_sec=5.0)
                stream.next_due += stream.period
                if stream.next_due < time.monotonic():  # fell behind: skip frames, never burst
                    stream.next_due = time.monotonic() + stream.period
            self._stop.wait(max(0.0, min(s.next_due for s in self._streams) - time.monotonic()))

    def _publish_frame(self, stream: _Stream) -> None:
        with self._lock:
            if self._T is None:
                self.get_logger().warning(
                    f"no complete {topics.JOINT_STATES} yet: not publishing images",
                    throttle_duration_sec=5.0,
                )
                return
            T = self._T
            start = time.perf_counter()
            image = stream.view.render(
                self.canvas,
                T[stream.optical_index],
                T[self._needles, :3, 3],
                T[self._needles, :3, 2],
                out=stream.buffer,
            )
        stamp = self.get_clock().now().to_msg()
        msg = Image(height=stream.camera.height, width=stream.camera.width, encoding="rgb8", is_bigendian=0)
        msg.header.stamp, msg.header.frame_id = stamp, stream.frame_id
        msg.step = 3 * stream.camera.width
        msg.data = image.tobytes()
        stream.info.header.stamp = stamp
        stream.image_pub.publish(msg)
        stream.info_pub.publish(stream.info)
        if stream.depth_pub is not None:  # from the same pose T (a snapshot: no lock needed)
            depth = stream.view.render_depth(self.canvas.z, T[stream.optical_index], out=stream.depth_buffer)
            depth_msg = Image(
                height=stream.camera.height,
                width=stream.camera.width,
                encoding="16UC1",
                is_bigendian=int(sys.byteorder == "big"),
                step=2 * stream.camera.width,
            )
            depth_msg.header = msg.header  # aligned to colour: same frame and stamp
            depth_msg.data = depth.tobytes()
            stream.depth_pub.publish(depth_msg)
            stream.depth_info_pub.publish(stream.info)  # the colour intrinsics, as realsense2_camera
        stream.render_s += time.perf_counter() - start
        stream.frames += 1

    def _publish_diagnostics(self) -> None:
        statuses = []
        now = time.monotonic()
        for s in self._streams:
            frames, render_s = s.frames, s.render_s
            last_frames, last_render_s, last_time = s.reported
            s.reported = (frames, render_s, now)
            count = frames - last_frames
            ok = count > 0 and not self._fault
            statuses.append(
                DiagnosticStatus(
                    level=DiagnosticStatus.OK
                    if ok
                    else (DiagnosticStatus.ERROR if self._fault else DiagnosticStatus.WARN),
                    name=f"sim_camera: {s.camera.name}",
                    hardware_id=s.camera.name,
                    message="publishing" if ok else (self._fault or f"waiting for {topics.JOINT_STATES}"),
                    values=[
                        KeyValue(key="frames", value=str(frames)),
                        KeyValue(key="fps", value=f"{count / max(now - last_time, 1e-9):.1f}"),
                        KeyValue(key="render_ms", value=f"{1e3 * (render_s - last_render_s) / max(count, 1):.2f}"),
                        KeyValue(key="stencil", value=self._stencil_name),
                    ],
                )
            )
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return PARAMETERS


def main(args=None) -> int:
    exit_on_help(args, "tatbot_arm_driver sim_camera", __doc__, schema)
    try:
        spin(SimCameraNode, args)
    except (ParameterError, RobotConfigError) as exc:
        return exit_on_error("sim_camera", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
