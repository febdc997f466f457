"""QoS profiles of every tatbot topic, in one module (DESIGN.md topic table), and the DDS
transports of the processes that carry the most data.

Every node of every tatbot package takes its profiles from here, so publisher
and subscriber always match.
"""

import os

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

# /joint_states, /arm_driver/commanded: reliable, keep last 10
JOINT_STATES = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# /arm_driver/joint_trajectory (policy chunks, stroke_demo) and previews: reliable, small depth
COMMANDS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# camera images and camera_info as published: reliable, keep last 10 (sim_camera; realsense2_camera
# started with color_qos:=DEFAULT, which is this profile). A best-effort or keep-last-1 publisher
# (realsense2_camera's own default, SYSTEM_DEFAULT) loses frames into the recorder at 2 x 640x480
# 30 Hz: bench/camera_load_bench.py, tatbot_recorder's README
CAMERA_IMAGES = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# camera subscriptions that want only the newest frame (the policy): best effort, keep last 5
SENSOR_DATA = qos_profile_sensor_data

# latched configuration and events (/tatbot/stencil, /tatbot/episode): reliable, transient local
LATCHED = QoSProfile(
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)

# /vla_policy/status, /vla_policy/chunk_markers, /diagnostics: reliable, keep last 10
STATUS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


# FASTDDS_BUILTIN_TRANSPORTS of the driver and the recorder: Fast DDS's default shared-memory
# transport can block a publish for its 1 s port health check while a subscriber is frozen
# (bench/frozen_subscriber_bench.py) and loses 640x480 frames (its segments are smaller than a
# frame: bench/camera_load_bench.py); UDP over loopback does neither
PROCESS_TRANSPORTS = "UDPv4"


def use_process_transports() -> None:
    """Set this process's Fast DDS transports (before rclpy.init) unless the user already has."""
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", PROCESS_TRANSPORTS)
