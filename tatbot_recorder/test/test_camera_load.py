"""The recorder at the real camera load: 2 x 640x480 rgb8 at 30 Hz over DDS from another process,
with the QoS our cameras publish (qos.CAMERA_IMAGES; realsense2_camera as the systems start it) and
the transports as shipped: every frame published after the recorder subscribed is in the bag."""

import os

import pytest

from tatbot_bringup.robot_config import load_robot_config
from tatbot_testing.camera_load import record_camera_load

# 55 MB/s through a Python recorder on a shared 2-core machine: a scheduling stall of the whole
# host can cost a frame, so a failure is retried once; a lossy setting loses frames every time
pytestmark = [pytest.mark.ros, pytest.mark.flaky(reruns=1)]

# Jazzy's Fast DDS (2.14) lost 1-9 of 600 frames with every setting measured, the shipped one
# included (tatbot_recorder's README); Kilted's (3.2) loses none
DISTRO = os.environ.get("ROS_DISTRO") or os.environ.get("TATBOT_ROS", "kilted")
DROPPED_FRACTION = 0.02 if DISTRO == "jazzy" else 0.0


def test_full_resolution_cameras_are_recorded_without_a_drop(tmp_path):
    fps = load_robot_config().cameras[0].fps
    load = record_camera_load(tmp_path, "camera_images", seconds=5.0)
    print(f"published {load.published} frames per camera at {load.rate:.2f} Hz, recorded {load.recorded} ({DISTRO})")
    assert load.rate > 0.9 * fps, f"the camera process published at {load.rate:.1f} Hz ({load.late} late ticks)"
    allowed = int(DROPPED_FRACTION * load.published * len(load.recorded))
    assert load.dropped <= allowed, f"published {load.published} per camera, the bag has {load.recorded}"
