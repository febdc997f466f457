"""sim_camera over real DDS: joint states + stencil in, both cameras' images and camera_info out."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from geometry_msgs.msg import Point
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, JointState

from tatbot_arm_driver.core.render import Palette
from tatbot_arm_driver.sim_camera_node import SimCameraNode, camera_info_topic
from tatbot_bringup import qos
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import DEFAULT_CONFIG, aligned_depth_topic, load_robot_config
from tatbot_bringup.system import RECORD
from tatbot_interfaces.msg import Stencil
from tatbot_testing.waiting import Collector, wait_for_match, wait_until

# real-time node test on a shared 2-core machine: a scheduling stall can miss a deadline, so
# a failure is retried (twice) before it counts; a real regression fails every attempt
pytestmark = [pytest.mark.ros, pytest.mark.flaky(reruns=2)]


@pytest.fixture(scope="module")
def config():
    return load_robot_config(DEFAULT_CONFIG)


@pytest.fixture(scope="module")
def kin(config):
    return RobotKinematics.from_config(config)


def circle_stencil(config, kin, name: str, radius: float) -> Stencil:
    t = np.linspace(0, 2 * np.pi, 60)
    msg = Stencil(name=name)
    msg.header.frame_id = config.base_frame
    for arm, tip in zip(config.arms, kin.needle_tips(config.pose("ready")), strict=True):
        path = [Point(x=tip[0] + radius * np.cos(a), y=tip[1] + radius * np.sin(a), z=config.work_surface.z) for a in t]
        setattr(msg, arm.name, path)
    return msg


def count_colour(image: Image, colour, tolerance: int = 40) -> int:
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3).astype(int)
    return int(np.count_nonzero(np.abs(pixels - np.array(colour)).sum(axis=-1) < tolerance))


class JointStatePlayer:
    """Publishes the newest configuration on /joint_states at 100 Hz (like the driver)."""

    def __init__(self, node: Node, names: list[str], q: np.ndarray):
        self._lock = threading.Lock()
        self._q = q
        self._names = names
        self.published = 0
        self.pub = node.create_publisher(JointState, "/joint_states", qos.JOINT_STATES)
        node.create_timer(0.01, self._tick)

    def set(self, q: np.ndarray) -> None:
        with self._lock:
            self._q = q

    def _tick(self) -> None:
        with self._lock:
            q = self._q
        msg = JointState(name=self._names, position=q.tolist())
        self.pub.publish(msg)
        self.published += 1


@pytest.fixture
def single_executor(ros_context):
    """Both nodes on one SingleThreadedExecutor in a background thread, as sim_camera's main() spins.

    (rclpy's MultiThreadedExecutor busy-waits while a mutually exclusive callback runs and
    starves the renderer thread of the GIL; the node is not meant to be spun by it.)
    """
    executor = SingleThreadedExecutor(context=ros_context)
    thread = threading.Thread(target=executor.spin, daemon=True)
    nodes = []
    thread.start()
    try:
        yield executor, nodes
    finally:
        executor.shutdown(timeout_sec=5.0)
        for node in nodes:
            node.destroy_node()
        thread.join(timeout=5.0)


def test_sim_camera_renders_both_cameras_from_joint_states_and_stencil(single_executor, ros_context, config, kin):
    executor, nodes = single_executor
    camera_node = SimCameraNode(
        context=ros_context, parameter_overrides=[Parameter("config", value=str(DEFAULT_CONFIG))]
    )
    node = Node("sim_camera_test", context=ros_context)
    assert camera_node.cameras == [c.name for c in config.cameras]
    images = {c.name: Collector() for c in config.cameras}
    infos = {c.name: Collector() for c in config.cameras}
    for cam in config.cameras:
        node.create_subscription(Image, cam.topic, images[cam.name], qos.SENSOR_DATA)
        node.create_subscription(CameraInfo, camera_info_topic(cam.topic), infos[cam.name], qos.SENSOR_DATA)
    stencil_pub = node.create_publisher(Stencil, "/tatbot/stencil", qos.LATCHED)
    stencil_pub.publish(circle_stencil(config, kin, "test/circles", 0.02))
    ready = config.pose("ready")
    player = JointStatePlayer(node, config.joint_names, ready)
    for n in (camera_node, node):
        nodes.append(n)
        executor.add_node(n)
    wait_for_match(player.pub, 1)

    for cam in config.cameras:
        images[cam.name].wait_for(1, timeout=20, what=f"{cam.name} images")
        infos[cam.name].wait_for(1, timeout=20, what=f"{cam.name} camera_info")

    # ~30 Hz on each camera
    counts = {name: len(c.messages) for name, c in images.items()}
    start = time.monotonic()
    wait_until(
        lambda: all(len(images[n].messages) - counts[n] >= 45 for n in counts),
        6.0,
        "45 more frames per camera",
    )
    elapsed = time.monotonic() - start
    for name in counts:
        rate = (len(images[name].messages) - counts[name]) / elapsed
        assert rate > 20.0, f"{name}: {rate:.1f} frames/s"

    palette = Palette()
    for arm_index, cam in enumerate(config.cameras):
        image, info = images[cam.name].last, infos[cam.name].last
        assert (image.encoding, image.width, image.height, image.step) == ("rgb8", 640, 480, 640 * 3)
        assert len(image.data) == 640 * 480 * 3
        assert image.header.frame_id == info.header.frame_id == f"{cam.name}_color_optical_frame"
        assert (info.width, info.height) == (640, 480)
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), kin.camera_matrix(cam.name))
        # the stencil of this camera's arm is on screen
        arm = [a.name for a in config.arms].index(cam.arm)
        assert arm == arm_index
        wait_until(
            lambda cam=cam, arm=arm: count_colour(images[cam.name].last, palette.stencil[arm]) > 100,
            5.0,
            f"the {cam.arm} stencil in {cam.name}",
        )
        assert count_colour(images[cam.name].last, palette.ink, 60) == 0

    # the left needle draws along its stencil: ink shows up in its camera
    tip = kin.needle_tip(ready, "left")
    q = ready
    for k in range(12):
        point = np.array([tip[0] + 0.02, tip[1] - 0.002 * k, config.work_surface.z])
        q = kin.ik_needle_tip("left", point, q)
        player.set(q)
        published = player.published
        wait_until(lambda published=published: player.published >= published + 3, 2.0, "joint states")
    player.set(ready)
    wait_until(lambda: count_colour(images["realsense1"].last, palette.ink, 60) > 30, 5.0, "ink in realsense1")

    # a new stencil clears the ink
    stencil_pub.publish(circle_stencil(config, kin, "test/small", 0.01))
    wait_until(lambda: count_colour(images["realsense1"].last, palette.ink, 60) == 0, 5.0, "ink cleared")


def test_aligned_depth_comes_with_each_colour_frame(single_executor, ros_context, config, kin):
    """realsense2_camera's align_depth layout: 16UC1 mm, the colour frame's size, frame_id and stamp."""
    executor, nodes = single_executor
    camera_node = SimCameraNode(context=ros_context)  # align_depth defaults to true
    node = Node("sim_camera_depth_test", context=ros_context)
    colour = {c.name: Collector() for c in config.cameras}
    depth = {c.name: Collector() for c in config.cameras}
    depth_info = {c.name: Collector() for c in config.cameras}
    for cam in config.cameras:
        node.create_subscription(Image, cam.topic, colour[cam.name], qos.CAMERA_IMAGES)
        # reliable subscriptions: they match only a reliable publisher (qos.CAMERA_IMAGES, as colour)
        node.create_subscription(Image, aligned_depth_topic(cam.name), depth[cam.name], qos.CAMERA_IMAGES)
        node.create_subscription(
            CameraInfo, camera_info_topic(aligned_depth_topic(cam.name)), depth_info[cam.name], qos.CAMERA_IMAGES
        )
    ready = config.pose("ready")
    JointStatePlayer(node, config.joint_names, ready)
    for n in (camera_node, node):
        nodes.append(n)
        executor.add_node(n)

    for cam in config.cameras:
        depth[cam.name].wait_for(5, timeout=20, what=f"{cam.name} aligned depth")
        info = depth_info[cam.name].wait_for(1, timeout=5, what=f"{cam.name} aligned depth camera_info")[-1]
        image = depth[cam.name].last

        def colour_frame(cam=cam, stamp=image.header.stamp):
            return next((m for m in colour[cam.name].messages if m.header.stamp == stamp), None)

        wait_until(lambda: colour_frame() is not None, 5.0, f"the {cam.name} colour frame with the depth's stamp")
        rgb = colour_frame()
        assert (image.encoding, image.step) == ("16UC1", 2 * rgb.width)
        assert (image.width, image.height) == (rgb.width, rgb.height)
        assert image.header.frame_id == rgb.header.frame_id == info.header.frame_id
        assert (info.width, info.height) == (rgb.width, rgb.height)
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), kin.camera_matrix(cam.name))
        # the surface where the optical axis meets it, in mm, in the four pixels around (cx, cy)
        values = np.frombuffer(bytes(image.data), ">u2" if image.is_bigendian else "<u2").reshape(rgb.height, rgb.width)
        T = kin.camera_pose(ready, cam.name)
        axis_depth_mm = 1000 * (T[2, 3] - config.work_surface.z) / -T[2, 2]
        assert abs(values[239:241, 319:321].mean() - axis_depth_mm) < 1.0
        # a bottom corner (the outer one) sees above the horizon at ready: no depth
        assert values[-1, 0 if cam.arm == "left" else -1] == 0


def test_depth_topics_are_the_real_cameras(config):
    """With cameras:=realsense the system starts realsense2_camera with aligned depth on the topics
    sim_camera publishes (camera_namespace "", camera_name = the config camera)."""
    nodes = {n.name: n for n in RECORD.nodes({"cameras": "realsense"})}
    for cam in config.cameras:
        p = nodes[cam.name].parameters
        assert p["enable_depth"] is True and p["align_depth.enable"] is True
        assert (p["camera_namespace"], p["camera_name"]) == ("", cam.name)
        assert aligned_depth_topic(cam.name) == f"/{p['camera_name']}/aligned_depth_to_color/image_raw"


def test_resolution_and_rate_overrides(single_executor, ros_context, config, kin):
    """width/height/fps parameters: smaller images for fast demos, intrinsics scaled to match."""
    executor, nodes = single_executor
    camera_node = SimCameraNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("cameras", value=["realsense1"]),
            Parameter("width", value=128),
            Parameter("height", value=96),
            Parameter("fps", value=10.0),
            Parameter("align_depth", value=False),
        ],
    )
    node = Node("sim_camera_small_test", context=ros_context)
    cam = config.camera("realsense1")
    images, infos = Collector(), Collector()
    node.create_subscription(Image, cam.topic, images, qos.SENSOR_DATA)
    node.create_subscription(CameraInfo, camera_info_topic(cam.topic), infos, qos.SENSOR_DATA)
    player = JointStatePlayer(node, config.joint_names, config.pose("ready"))
    for n in (camera_node, node):
        nodes.append(n)
        executor.add_node(n)
    images.wait_for(1, timeout=20, what="small realsense1 images")
    first = len(images.messages)
    start = time.monotonic()
    wait_until(lambda: len(images.messages) - first >= 10, 5.0, "10 more frames")
    rate = (len(images.messages) - first) / (time.monotonic() - start)
    assert 7.0 < rate < 13.0, f"{rate:.1f} frames/s for fps:=10"
    image, info = images.last, infos.wait_for(1, timeout=5)[-1]
    assert (image.width, image.height, len(image.data)) == (128, 96, 128 * 96 * 3)
    assert (info.width, info.height) == (128, 96)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), kin.camera_matrix("realsense1", 128, 96))
    assert player.published > 0
    topics = dict(camera_node.get_topic_names_and_types())
    assert cam.topic in topics and aligned_depth_topic(cam.name) not in topics  # align_depth:=false
