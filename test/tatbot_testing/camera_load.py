"""Two full-resolution cameras recorded over DDS: a camera process (the stand-in for two
``realsense2_camera`` nodes) publishes rgb8 frames at the robot.yaml size and rate with a chosen
QoS; the real ``recorder`` executable records them; the bag is counted against what was published
(tatbot_recorder/test/test_camera_load.py, bench/camera_load_bench.py).

QoS profiles of the camera publisher:

* ``camera_images``: ``tatbot_bringup.qos.CAMERA_IMAGES``, what ``sim_camera`` publishes and the
  systems start ``realsense2_camera`` with (reliable, keep last 10);
* ``system_default``: ``realsense2_camera``'s own default (its ``*_qos`` parameters default to
  ``SYSTEM_DEFAULT``: with Fast DDS reliable, transient local, keep last 1);
* ``sensor_data``: best effort, keep last 5 (rclpy's sensor-data profile).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tatbot_bringup.launch_runner import find_executable
from tatbot_testing.processes import interrupt

QOS_PROFILES = ("camera_images", "system_default", "sensor_data")

CAMERAS = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data, qos_profile_system_default
    from sensor_msgs.msg import Image
    from tatbot_bringup.qos import CAMERA_IMAGES

    topics, width, height, fps, profile, seconds = json.loads(sys.argv[1])
    qos = {
        "camera_images": CAMERA_IMAGES,
        "system_default": qos_profile_system_default,
        "sensor_data": qos_profile_sensor_data,
    }[profile]
    rclpy.init()
    node = Node("camera_load")
    publishers = [node.create_publisher(Image, topic, qos) for topic in topics]
    deadline = time.monotonic() + 60
    while any(p.get_subscription_count() == 0 for p in publishers):  # frames before the match are nobody's loss
        if time.monotonic() > deadline:
            sys.exit("camera_load: the recorder never subscribed")
        time.sleep(0.05)
    pixels = np.random.default_rng(0).integers(0, 256, width * height * 3, dtype=np.uint8).tobytes()
    messages = [Image(height=height, width=width, encoding="rgb8", step=3 * width, data=pixels) for _ in topics]
    published, late = 0, 0
    start = time.monotonic()
    while published < round(seconds * fps):
        tick = start + published / fps
        if time.monotonic() - tick > 1.0 / fps:
            late += 1
        time.sleep(max(0.0, tick - time.monotonic()))
        stamp = node.get_clock().now().to_msg()
        for publisher, msg in zip(publishers, messages):
            msg.header.stamp = stamp
            publisher.publish(msg)
        published += 1
    rate = published / (time.monotonic() - start)
    print(json.dumps({"published": published, "rate": rate, "late": late}), flush=True)
    time.sleep(1.0)  # let reliable writers deliver their last samples before the process goes
    node.destroy_node()
    rclpy.try_shutdown()
    """
)


@dataclass(frozen=True)
class CameraLoad:
    published: int  # frames per camera
    rate: float  # Hz the camera process achieved
    late: int  # ticks the camera process published more than a period late
    recorded: dict[str, int]  # frames in the bag per topic

    @property
    def dropped(self) -> int:
        """Frames published but not in the bag, summed over the cameras."""
        return sum(max(0, self.published - n) for n in self.recorded.values())


def record_camera_load(
    out: Path, profile: str, seconds: float, transports: str | None = None, discovery_range: str = "SUBNET"
) -> CameraLoad:
    """Publish the configured cameras for ``seconds`` with QoS ``profile`` into a recorder, both
    processes with FASTDDS_BUILTIN_TRANSPORTS=``transports``, and count the bag. None: as shipped,
    the variable unset in both: the camera process on Fast DDS's default (shared memory + UDPv4,
    as a realsense2_camera node), the recorder on its own default (qos.PROCESS_TRANSPORTS).
    Both run with ROS_AUTOMATIC_DISCOVERY_RANGE=``discovery_range`` (SUBNET, ROS 2's default, as on
    a robot; a test run's own ROS_DOMAIN_ID still keeps them apart from other runs): LOCALHOST
    loses frames of one of the two cameras with every setting measured (the recorder's README)."""
    from rosbags.rosbag2 import Reader

    from tatbot_bringup.robot_config import load_robot_config

    if profile not in QOS_PROFILES:
        raise ValueError(f"QoS profile {profile!r}: one of {QOS_PROFILES}")
    cameras = load_robot_config().cameras
    topics = [c.topic for c in cameras]
    width, height, fps = cameras[0].width, cameras[0].height, cameras[0].fps
    env = dict(os.environ)
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = discovery_range
    if transports is not None:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = transports
    topic_list = "[" + ",".join(topics) + "]"
    log = out / "recorder.log"
    out.mkdir(parents=True, exist_ok=True)
    with log.open("w") as log_file:
        recorder = subprocess.Popen(
            [
                str(find_executable("tatbot_recorder", "recorder")),
                "--ros-args",
                *("-p", f"topics:={topic_list}", "-p", f"required_topics:={topic_list}"),
                *("-p", f"output_dir:={out}", "-p", "bag_name:=bag", "-p", "discovery_period:=0.05"),
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            camera = subprocess.run(
                [sys.executable, "-c", CAMERAS, json.dumps([topics, width, height, fps, profile, seconds])],
                env=env,
                capture_output=True,
                text=True,
                timeout=90 + 3 * seconds,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the camera process did not finish within {90 + 3 * seconds:g} s") from None
        if camera.returncode != 0:
            raise RuntimeError(f"the camera process failed: {camera.stderr.strip()[-2000:]}")
        try:
            report = json.loads(camera.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError(f"the camera process printed no report: {camera.stdout[-500:]!r}") from None
    finally:
        interrupt(recorder, timeout=30)
    if recorder.returncode != 0:
        raise RuntimeError(f"the recorder exited {recorder.returncode}: {log.read_text()[-2000:]}")
    try:
        with Reader(out / "bag") as reader:
            counts = {c.topic: c.msgcount for c in reader.connections}
    except Exception as exc:  # rosbags' own errors: no bag, no metadata
        raise RuntimeError(f"the recorder left no readable bag: {exc}") from exc
    return CameraLoad(report["published"], report["rate"], report["late"], {t: counts.get(t, 0) for t in topics})
