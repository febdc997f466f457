"""Bags with tatbot_interfaces and standard messages, written and read with rosbags (no ROS)."""

import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from tatbot_recorder.core.bag_types import interface_types, tatbot_typestore

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def store():
    return tatbot_typestore()


def _messages(store):
    t = store.types
    Time, Header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
    Duration = t["builtin_interfaces/msg/Duration"]
    header = Header(stamp=Time(sec=5, nanosec=250_000_000), frame_id="world")
    event = t["tatbot_interfaces/msg/EpisodeEvent"](
        header=header, event=1, index=4, task="left: line, right: arc", success=True, metadata_json='{"k": 1}'
    )
    joints = t["sensor_msgs/msg/JointState"](
        header=header,
        name=["right/joint_0", "left/joint_0"],
        position=np.array([0.5, -0.25]),
        velocity=np.array([0.0, 0.1]),
        effort=np.array([], dtype=np.float64),
    )
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8)
    image = t["sensor_msgs/msg/Image"](
        header=header, height=4, width=6, encoding="rgb8", is_bigendian=0, step=18, data=pixels
    )
    Point = t["trajectory_msgs/msg/JointTrajectoryPoint"]
    empty = np.array([], dtype=np.float64)
    traj = t["trajectory_msgs/msg/JointTrajectory"](
        header=header,
        joint_names=["left/joint_0"],
        points=[
            Point(
                positions=np.array([0.1]),
                velocities=empty,
                accelerations=empty,
                effort=empty,
                time_from_start=Duration(sec=0, nanosec=100_000_000),
            ),
            Point(
                positions=np.array([0.2]),
                velocities=empty,
                accelerations=empty,
                effort=empty,
                time_from_start=Duration(sec=0, nanosec=200_000_000),
            ),
        ],
    )
    return {
        "/tatbot/episode": event,
        "/joint_states": joints,
        "/realsense1/color/image_raw": image,
        "/arm_driver/joint_trajectory": traj,
    }


def _equal(a, b):
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if hasattr(a, "__dataclass_fields__"):
        return type(a).__name__ == type(b).__name__ and all(
            _equal(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__
        )
    return a == b


def test_interface_types_cover_every_msg_file():
    assert set(interface_types()) >= {
        "tatbot_interfaces/msg/EpisodeEvent",
        "tatbot_interfaces/msg/PolicyStatus",
        "tatbot_interfaces/msg/Stencil",
    }


@pytest.mark.parametrize("storage", [StoragePlugin.MCAP, StoragePlugin.SQLITE3], ids=["mcap", "sqlite3"])
def test_bag_round_trip(tmp_path, store, storage):
    messages = _messages(store)
    path = tmp_path / "bag"
    with Writer(path, version=9, storage_plugin=storage) as writer:
        for i, (topic, msg) in enumerate(messages.items()):
            conn = writer.add_connection(topic, msg.__msgtype__, typestore=store)
            writer.write(conn, 1_000 + i, store.serialize_cdr(msg, msg.__msgtype__))

    with Reader(path) as reader:
        read = {c.topic: store.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()}
        types = {c.topic: c.msgtype for c in reader.connections}
    assert types["/tatbot/episode"] == "tatbot_interfaces/msg/EpisodeEvent"
    assert set(read) == set(messages)
    for topic, msg in messages.items():
        assert _equal(read[topic], msg), topic


def _rclpy_round_trip(store, msg, ros_type):
    """rosbags' bytes of ``msg`` -> rclpy message -> rclpy's bytes, which must read back as ``msg``
    with the same layout. CDR leaves padding bytes unspecified (rclpy's are not always zero), so the
    bytes are compared through the typestore, not as bytes. Returns the rclpy message."""
    from rclpy.serialization import deserialize_message, serialize_message

    raw = bytes(store.serialize_cdr(msg, msg.__msgtype__))
    ros_msg = deserialize_message(raw, ros_type)
    ros_raw = serialize_message(ros_msg)
    assert len(ros_raw) == len(raw)
    assert _equal(store.deserialize_cdr(ros_raw, msg.__msgtype__), msg)
    return ros_msg


def test_rosbags_bytes_match_rclpy(store):
    """The typestore built from the .msg files serializes as rclpy does."""
    from tatbot_interfaces.msg import EpisodeEvent, Stencil

    ros_event = _rclpy_round_trip(store, _messages(store)["/tatbot/episode"], EpisodeEvent)
    assert (ros_event.index, ros_event.task, ros_event.success, ros_event.metadata_json) == (
        4,
        "left: line, right: arc",
        True,
        '{"k": 1}',
    )

    t = store.types
    P = t["geometry_msgs/msg/Point"]
    stencil = t["tatbot_interfaces/msg/Stencil"](
        header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="world"),
        name="s",
        left=[P(x=0.1, y=0.2, z=0.3)],
        right=[],
        left_description="l",
        right_description="r",
    )
    ros_stencil = _rclpy_round_trip(store, stencil, Stencil)
    assert ros_stencil.left[0].z == 0.3 and ros_stencil.right == [] and ros_stencil.right_description == "r"
