"""The recorder at the real camera load: 2 x 640x480 rgb8 at 30 Hz over DDS from another process,
with the QoS our cameras publish (qos.CAMERA_IMAGES; realsense2_camera as the systems start it) and
the transports as shipped: the frames published after the recorder subscribed are in the bag, all
but what a stall of the whole host costs (below); the lossy settings lose 25-75 % (the README)."""

import os

import pytest

from tatbot_bringup.robot_config import load_robot_config
from tatbot_testing.camera_load import record_camera_load

# 55 MB/s through a Python recorder on a shared 2-core machine: a scheduling stall of the whole
# host can cost a frame, so a failure is retried once; a lossy setting loses frames every time
pytestmark = [pytest.mark.ros, pytest.mark.flaky(reruns=1)]

# The cameras' writers keep the last 10 frames (333 ms): a recorder that a loaded host stalls for
# longer loses the oldest. Unloaded, Kilted's Fast DDS (3.2) loses none (bench/camera_load_bench.py);
# a CI run on the 2-core host lost 2 of 300 twice in a row, and 3 CPU hogs beside it 0-7 of 300.
# Jazzy's (2.14) lost 1-9 of 600 with every setting measured (tatbot_recorder's README).
DISTRO = os.environ.get("ROS_DISTRO") or os.environ.get("TATBOT_ROS", "kilted")
DROPPED_FRACTION = 0.03


def test_full_resolution_cameras_reach_the_bag(tmp_path):
    fps = load_robot_config().cameras[0].fps
    load = record_camera_load(tmp_path, "camera_images", seconds=5.0)
    print(f"published {load.published} frames per camera at {load.rate:.2f} Hz, recorded {load.recorded} ({DISTRO})")
    assert load.rate > 0.9 * fps, f"the camera process published at {load.rate:.1f} Hz ({load.late} late ticks)"
    allowed = int(DROPPED_FRACTION * load.published * len(load.recorded))
    assert load.dropped <= allowed, f"published {load.published} per camera, the bag has {load.recorded}"
