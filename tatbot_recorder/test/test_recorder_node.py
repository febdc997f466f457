"""recorder node: real rclpy publishers -> bag -> bag_to_lerobot; clean and killed shutdowns."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool

from tatbot_bringup.qos import JOINT_STATES, LATCHED, SENSOR_DATA
from tatbot_bringup.robot_config import aligned_depth_topic, load_robot_config
from tatbot_interfaces.srv import StartEpisode, StopEpisode
from tatbot_recorder.bag_to_lerobot import main as convert
from tatbot_recorder.core.bag_types import tatbot_typestore
from tatbot_recorder.recorder_node import Recorder, parameters
from tatbot_testing.waiting import wait_until

# real-time node test on a shared 2-core machine: a scheduling stall can miss a deadline, so
# a failure is retried (twice) before it counts; a real regression fails every attempt
pytestmark = [pytest.mark.ros, pytest.mark.flaky(reruns=2)]

CONFIG = load_robot_config()
# the fake sensors are Python timers on a shared, loaded CPU: they can stall for 100+ ms, which the
# converter would rightly refuse with its defaults; these tests are about recording, not sync quality
LENIENT = ["--images", "--state-max-age", "0.5", "--action-max-age", "0.5", "--image-max-age", "0.5"]


class Sensors(Node):
    """Driver-like joint states and setpoints at 100 Hz, two 64x48 cameras at 30 Hz."""

    def __init__(self, context):
        super().__init__("fake_sensors", context=context)
        self.joint_pub = self.create_publisher(JointState, "/joint_states", JOINT_STATES)
        self.cmd_pub = self.create_publisher(JointState, "/arm_driver/commanded", JOINT_STATES)
        self.cam_pubs = [self.create_publisher(Image, c.topic, SENSOR_DATA) for c in CONFIG.cameras]
        self.sent = {"/joint_states": 0, "/arm_driver/commanded": 0, **{c.topic: 0 for c in CONFIG.cameras}}
        self.create_timer(0.01, self._joints)
        self.create_timer(1 / 30, self._cameras)

    def _joints(self):
        msg = JointState(name=list(CONFIG.joint_names), position=[0.01 * self.sent["/joint_states"]] * 14)
        msg.header.stamp = self.get_clock().now().to_msg()
        for topic, pub in (("/joint_states", self.joint_pub), ("/arm_driver/commanded", self.cmd_pub)):
            pub.publish(msg)
            self.sent[topic] += 1

    def _cameras(self):
        stamp = self.get_clock().now().to_msg()
        for cam, pub in zip(CONFIG.cameras, self.cam_pubs, strict=True):
            msg = Image(
                height=48, width=64, encoding="rgb8", step=192, data=np.full(48 * 64 * 3, 7, np.uint8).tobytes()
            )
            msg.header.stamp = stamp
            pub.publish(msg)
            self.sent[cam.topic] += 1


def call(node, client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout), client.srv_name
    future = client.call_async(request)
    wait_until(future.done, timeout, f"{client.srv_name} answer")
    return future.result()


def run_for(sensors, topic, count, timeout=10.0):
    """Wait until the sensors published `count` more messages on topic (the test's clock)."""
    target = sensors.sent[topic] + count
    wait_until(lambda: sensors.sent[topic] >= target, timeout, f"{count} messages on {topic}")


def test_three_episodes_one_discarded_convert_to_two(ros_executor, tmp_path):
    context = ros_executor.context
    recorder = ros_executor.add(
        Recorder(
            context=context,
            parameter_overrides=[
                rclpy.parameter.Parameter("output_dir", value=str(tmp_path)),
                rclpy.parameter.Parameter("bag_name", value="session"),
                rclpy.parameter.Parameter("split_seconds", value=0.5),
            ],
        )
    )
    client = ros_executor.add(Node("episode_client", context=context))
    start = client.create_client(StartEpisode, "/recorder/start_episode")
    stop = client.create_client(StopEpisode, "/recorder/stop_episode")

    early = call(client, start, StartEpisode.Request(task="too early"))
    assert early.error_code == StartEpisode.Response.ERROR_NOT_READY and "/joint_states" in early.error_string
    assert call(client, stop, StopEpisode.Request()).error_code == StopEpisode.Response.ERROR_NOT_RECORDING

    sensors = ros_executor.add(Sensors(context))
    wait_until(lambda: not recorder.unready(), 15.0, "recorder matched to every required topic")
    bad = call(client, start, StartEpisode.Request(task="x", metadata_json="[1]"))
    assert bad.error_code == StartEpisode.Response.ERROR_INVALID_METADATA

    for index, (task, discard) in enumerate([("first", False), ("dropped", True), ("third", False)]):
        started = call(client, start, StartEpisode.Request(task=task, metadata_json='{"stroke_left": {"n": 1}}'))
        assert started.error_code == StartEpisode.Response.SUCCESS, started.error_string
        assert started.index == index and started.bag_path == str(tmp_path / "session")
        again = call(client, start, StartEpisode.Request(task="twice"))
        assert again.error_code == StartEpisode.Response.ERROR_ALREADY_RECORDING
        run_for(sensors, "/joint_states", 60)
        stopped = call(client, stop, StopEpisode.Request(success=True, discard=discard))
        assert stopped.error_code == StopEpisode.Response.SUCCESS and stopped.index == index
        assert stopped.duration > 0.5 and stopped.message_count > 100
        run_for(sensors, "/joint_states", 20)

    recorder.close()
    stats = recorder.recorder.stats()
    assert all(stats[t].dropped == 0 for t in sensors.sent), stats
    with Reader(tmp_path / "session") as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    for topic in sensors.sent:
        assert counts[topic] == stats[topic].written > 0
    assert counts["/tatbot/episode"] == 6

    out = tmp_path / "ds"
    assert convert([str(tmp_path / "session"), "--output", str(out), *LENIENT]) == 0
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("tatbot/ds", root=out)
    assert ds.meta.total_episodes == 2
    assert sorted(ds.meta.tasks.index) == ["first", "third"]


def _spawn_recorder(tmp_path, name):
    cmd = [
        sys.executable,
        "-m",
        "tatbot_recorder.recorder_node",
        "--ros-args",
        "-p",
        f"output_dir:={tmp_path}",
        "-p",
        f"bag_name:={name}",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def sensors_and_client(ros_executor):
    context = ros_executor.context
    sensors = ros_executor.add(Sensors(context))
    client = ros_executor.add(Node("episode_client", context=context))
    return sensors, client


def _ready_start(client, start, task, timeout=20.0):
    deadline = time.monotonic() + timeout
    result = None

    def try_start():
        nonlocal result
        result = call(client, start, StartEpisode.Request(task=task))
        return result.error_code != StartEpisode.Response.ERROR_NOT_READY

    wait_until(try_start, max(0.1, deadline - time.monotonic()), "the recorder to be ready", poll=0.2)
    return result


def test_sigkill_keeps_earlier_episodes_and_drops_the_partial_one(sensors_and_client, tmp_path):
    sensors, client = sensors_and_client
    start = client.create_client(StartEpisode, "/recorder/start_episode")
    stop = client.create_client(StopEpisode, "/recorder/stop_episode")
    proc = _spawn_recorder(tmp_path, "killed")
    try:
        assert _ready_start(client, start, "kept").error_code == StartEpisode.Response.SUCCESS
        run_for(sensors, "/joint_states", 150)
        assert call(client, stop, StopEpisode.Request(success=True)).error_code == StopEpisode.Response.SUCCESS
        assert call(client, start, StartEpisode.Request(task="partial")).error_code == 0
        run_for(sensors, "/joint_states", 150)
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    bag = tmp_path / "killed"
    store = tatbot_typestore()
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == "/joint_states"]
        stamps = [store.deserialize_cdr(raw, c.msgtype).header.stamp for c, _, raw in reader.messages(conns)]
    last = max(s.sec + s.nanosec * 1e-9 for s in stamps)
    # loss: the data published between the last message the bag kept and the kill
    lost_s = killed_at - last
    print(f"\nSIGKILL loss: {lost_s:.2f} s of data (~{round(lost_s * 100)} joint states), split_seconds 1.0")
    assert 0 <= lost_s < 1.3  # split_seconds (1.0) + the writer's poll
    out = tmp_path / "ds"
    assert convert([str(bag), "--output", str(out), *LENIENT]) == 0
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset("tatbot/ds", root=out)
    assert ds.meta.total_episodes == 1 and list(ds.meta.tasks.index) == ["kept"]


def test_sigterm_closes_the_bag_cleanly(sensors_and_client, tmp_path):
    sensors, client = sensors_and_client
    start = client.create_client(StartEpisode, "/recorder/start_episode")
    proc = _spawn_recorder(tmp_path, "clean")
    assert _ready_start(client, start, "t").error_code == StartEpisode.Response.SUCCESS
    run_for(sensors, "/joint_states", 30)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "bag closed" in out and "never stopped" in out
    bag = tmp_path / "clean"
    assert not list(bag.glob(".split_*"))
    with Reader(bag) as reader:
        assert {c.topic for c in reader.connections} >= {"/joint_states", "/tatbot/episode"}


def test_a_renamed_episode_topic_is_recorded_and_bad_topic_lists_are_one_line(ros_context, tmp_path):
    from tatbot_bringup.parameters import ParameterError

    out = rclpy.parameter.Parameter("output_dir", value=str(tmp_path))
    recorder = Recorder(
        context=ros_context, parameter_overrides=[out, rclpy.parameter.Parameter("episode_topic", value="/x/episode")]
    )
    try:
        assert "/x/episode" in recorder.topics  # its own EpisodeEvents go into the bag whatever topics says
    finally:
        recorder.close()
        recorder.destroy_node()
    bad = rclpy.parameter.Parameter("required_topics", value=["/not/recorded"])
    with pytest.raises(ParameterError, match=r"^parameter required_topics: \['/not/recorded'\] are not in topics"):
        Recorder(context=ros_context, parameter_overrides=[out, bad])


TELEOP_TOPICS = {"/teleop/intervention", "/joy"}


def test_teleop_topics_are_recorded_by_default_but_never_required():
    defaults = {p.name: p.default for p in parameters(CONFIG)}
    assert set(defaults["topics"]) >= TELEOP_TOPICS
    assert not TELEOP_TOPICS & set(defaults["required_topics"])  # they exist only while a teleop runs


def test_aligned_depth_is_recorded_by_default_but_never_required():
    defaults = {p.name: p.default for p in parameters(CONFIG)}
    depth = {aligned_depth_topic(c.name) for c in CONFIG.cameras}
    assert depth == {"/realsense1/aligned_depth_to_color/image_raw", "/realsense2/aligned_depth_to_color/image_raw"}
    assert set(defaults["topics"]) >= depth
    assert not depth & set(defaults["required_topics"])  # a camera started without depth publishes none


def test_a_latched_intervention_flag_published_before_the_recorder_is_in_the_bag(ros_executor, tmp_path):
    """teleop publishes its flag latched (reliable, transient local) on every change, the first one
    at its start, often before the recorder runs: the recorder subscribes transient local (it takes
    the publisher's QoS) and gets the flags published before it, then the later ones."""
    context = ros_executor.context
    teleop = ros_executor.add(Node("fake_teleop", context=context))
    flag = teleop.create_publisher(Bool, "/teleop/intervention", LATCHED)
    for value in (False, True):
        flag.publish(Bool(data=value))
    recorder = ros_executor.add(
        Recorder(
            context=context,
            parameter_overrides=[
                rclpy.parameter.Parameter("output_dir", value=str(tmp_path)),
                rclpy.parameter.Parameter("bag_name", value="latched"),
            ],
        )
    )

    def received() -> int:
        stats = recorder.recorder.stats().get("/teleop/intervention")
        return stats.received if stats else 0

    wait_until(lambda: received() == 2, 10.0, "the two flags published before the recorder")
    assert recorder._recorded["/teleop/intervention"].qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    flag.publish(Bool(data=False))
    wait_until(lambda: received() == 3, 10.0, "the flag published after")
    recorder.close()
    store = tatbot_typestore()
    with Reader(tmp_path / "latched") as reader:
        conns = [c for c in reader.connections if c.topic == "/teleop/intervention"]
        assert [c.msgtype for c in conns] == ["std_msgs/msg/Bool"]
        values = [store.deserialize_cdr(raw, c.msgtype).data for c, _, raw in reader.messages(conns)]
    assert values == [False, True, False]
