"""Benchmark: bag_to_lerobot throughput against a naive converter, and recorder drops at full load.

    python bench/convert_bench.py [--seconds 8] [--record-seconds 8] [--vcodec libsvtav1]

1. Writes a synthetic bag: 2 cameras 640x480 rgb8 @ 30 Hz + joint states and
   setpoints @ 100 Hz (tatbot_recorder.synthetic), one episode.
2. Converts it into a 10 fps dataset with tatbot_recorder's pipeline (only the
   used camera frames are decoded, streaming video encoding) and with a naive
   baseline (deserialize every message, then add_frame per grid frame into a
   default LeRobotDataset: PNG frames, encoded at save_episode). Prints
   throughput in source-seconds per wall-second and the ratio.
3. Runs the recorder node (subprocess) while this process publishes the same
   load over DDS, and prints per-topic published / recorded / dropped.

Needs the workspace environment (source env.sh). CPU only; default run < 3 min.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# an isolated ROS graph: the load must not mix with other nodes on this host (tests use domains 1..101)
os.environ["ROS_DOMAIN_ID"] = str(102 + os.getpid() % 100)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
FPS = 10


def make_bag(root: Path, seconds: float) -> tuple[Path, object]:
    from tatbot_bringup.robot_config import load_robot_config
    from tatbot_recorder.synthetic import SyntheticBag, SyntheticEpisode, write_bag

    config = load_robot_config()
    spec = SyntheticBag(
        config.joint_names,
        [(c.name, c.topic) for c in config.cameras],
        duration_s=seconds,
        size=(480, 640),
        stencil=False,
        episodes=[SyntheticEpisode(0.2, seconds - 0.3, "bench")],
    )
    return write_bag(root / "bag", spec), config


def ours(bag: Path, out: Path, config, vcodec: str) -> float:
    from tatbot_recorder.core.bag_types import tatbot_typestore
    from tatbot_recorder.core.convert import WriteOptions, plan_bag, write_dataset
    from tatbot_recorder.core.schema import CameraSpec, ConversionSpec

    spec = ConversionSpec(
        fps=FPS,
        joint_names=tuple(config.joint_names),
        lerobot_names=tuple(config.lerobot_names),
        cameras=tuple(CameraSpec(c.name, c.topic) for c in config.cameras),
    )
    store = tatbot_typestore()
    t0 = time.monotonic()
    plans = plan_bag(bag, spec, store).episodes
    options = WriteOptions(repo_id="tatbot/bench", vcodec=vcodec)
    write_dataset(plans, spec, out, options, store)  # validated by reloading before it is published
    return time.monotonic() - t0


def naive(bag: Path, out: Path, config, vcodec: str) -> float:
    """Deserialize everything, then add_frame per grid frame (what a straightforward port script does)."""
    from lerobot.configs import RGBEncoderConfig
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    from rosbags.rosbag2 import Reader

    from tatbot_recorder.core.bag_types import tatbot_typestore

    store = tatbot_typestore()
    t0 = time.monotonic()
    msgs: dict[str, list] = {}
    with Reader(bag) as reader:
        for conn, _, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            msgs.setdefault(conn.topic, []).append(msg)

    def stamps(topic):
        return np.array([m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs[topic]])

    names = config.joint_names
    events = {m.event: m for m in msgs["/tatbot/episode"]}
    start = events[0].header.stamp.sec * 10**9 + events[0].header.stamp.nanosec
    stop = events[1].header.stamp.sec * 10**9 + events[1].header.stamp.nanosec
    features = {
        "observation.state": {"dtype": "float32", "shape": (14,), "names": config.lerobot_names},
        "action": {"dtype": "float32", "shape": (14,), "names": config.lerobot_names},
        **{
            f"observation.images.{c.name}": {"dtype": "video", "shape": (480, 640, 3), "names": ["h", "w", "c"]}
            for c in config.cameras
        },
    }
    ds = LeRobotDataset.create(
        "tatbot/naive", FPS, features, root=out, robot_type="tatbot", rgb_encoder=RGBEncoderConfig(vcodec=vcodec)
    )
    try:
        js, cmd = stamps("/joint_states"), stamps("/arm_driver/commanded")
        cams = {c.name: stamps(c.topic) for c in config.cameras}
        for t in range(start, stop + 1, 10**9 // FPS):

            def joints(msg):
                return np.array([msg.position[list(msg.name).index(n)] for n in names], dtype=np.float32)

            frame = {
                "observation.state": joints(msgs["/joint_states"][np.searchsorted(js, t, "right") - 1]),
                "action": joints(msgs["/arm_driver/commanded"][np.searchsorted(cmd, t + 10**9 // FPS, "right") - 1]),
                "task": "bench",
            }
            for c in config.cameras:
                m = msgs[c.topic][np.searchsorted(cams[c.name], t, "right") - 1]
                frame[f"observation.images.{c.name}"] = np.asarray(m.data).reshape(m.height, m.width, 3)
            ds.add_frame(frame)
        ds.save_episode()
    finally:
        ds.finalize()
    return time.monotonic() - t0


def recorder_drops(root: Path, seconds: float, camera_qos: str) -> dict:
    """Recorder subprocess + this process publishing 2 x 640x480 @ 30 Hz and 2 x JointState @ 100 Hz."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rosbags.rosbag2 import Reader
    from sensor_msgs.msg import Image, JointState

    from tatbot_bringup.qos import JOINT_STATES, SENSOR_DATA
    from tatbot_bringup.robot_config import load_robot_config

    config = load_robot_config()
    rclpy.init()
    node = Node("bench_load")
    pubs = {t: node.create_publisher(JointState, t, JOINT_STATES) for t in ("/joint_states", "/arm_driver/commanded")}
    qos = SENSOR_DATA if camera_qos == "sensor" else JOINT_STATES
    cams = {c.topic: node.create_publisher(Image, c.topic, qos) for c in config.cameras}
    sent = dict.fromkeys([*pubs, *cams], 0)
    active = [False]
    pixels = np.random.default_rng(0).integers(0, 255, 480 * 640 * 3, dtype=np.uint8).tobytes()

    def joints():
        if active[0]:
            msg = JointState(name=list(config.joint_names), position=[0.1] * 14)
            msg.header.stamp = node.get_clock().now().to_msg()
            for topic, pub in pubs.items():
                pub.publish(msg)
                sent[topic] += 1

    def cameras():
        if active[0]:
            for topic, pub in cams.items():
                msg = Image(height=480, width=640, encoding="rgb8", step=1920, data=pixels)
                msg.header.stamp = node.get_clock().now().to_msg()
                pub.publish(msg)
                sent[topic] += 1

    node.create_timer(0.01, joints)
    node.create_timer(1 / 30, cameras)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tatbot_recorder.recorder_node",
            "--ros-args",
            "-p",
            f"output_dir:={root}",
            "-p",
            "bag_name:=load",
            "-p",
            "topics:=" + json.dumps([*pubs, *cams]),
            "-p",
            "required_topics:=" + json.dumps([*pubs, *cams]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # publish only once the recorder subscribed to everything (its log says so), then for `seconds`
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(node.count_subscribers(t) > 0 for t in sent) < len(sent):
            executor.spin_once(timeout_sec=0.1)
        active[0] = True
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        active[0] = False
        proc.send_signal(signal.SIGINT)
        log, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    match = re.search(r"per topic: (\{.*\})", log)
    queue_stats = json.loads(match.group(1)) if match else {}
    with Reader(root / "load") as reader:
        recorded = {c.topic: c.msgcount for c in reader.connections}
    return {
        t: {
            "published": sent[t],
            "recorded": recorded.get(t, 0),
            "queue_dropped": queue_stats.get(t, {}).get("dropped", 0),
        }
        for t in sent
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="source seconds of the converted bag")
    parser.add_argument("--record-seconds", type=float, default=8.0, help="seconds of recording under load")
    parser.add_argument("--vcodec", default="libsvtav1", help="video codec for both converters")
    parser.add_argument(
        "--camera-qos",
        choices=("sensor", "reliable"),
        default="sensor",
        help="QoS of the published camera load: sensor data (realsense2_camera's) or reliable",
    )
    args = parser.parse_args()
    # import everything both converters use before timing either of them
    import lerobot.datasets.lerobot_dataset  # noqa: F401
    import rosbags.rosbag2  # noqa: F401

    import tatbot_recorder.core.convert  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="convert_bench_") as tmp:
        root = Path(tmp)
        t0 = time.monotonic()
        bag, config = make_bag(root, args.seconds)
        print(
            f"bag: {args.seconds:.0f} s, 2 x 640x480 rgb8 @ 30 Hz + joints @ 100 Hz, written in "
            f"{time.monotonic() - t0:.1f} s",
            flush=True,
        )
        source = args.seconds - 0.5  # the episode
        ours_s = ours(bag, root / "ours", config, args.vcodec)
        print(f"tatbot bag_to_lerobot: {ours_s:.1f} s -> {source / ours_s:.2f} source-s per wall-s", flush=True)
        naive_s = naive(bag, root / "naive", config, args.vcodec)
        print(f"naive baseline:        {naive_s:.1f} s -> {source / naive_s:.2f} source-s per wall-s", flush=True)
        print(f"ratio (ours / naive throughput): {naive_s / ours_s:.2f}x ({os.cpu_count()} cores, {args.vcodec})")
        drops = recorder_drops(root, args.record_seconds, args.camera_qos)
        print(f"recorder under that load for {args.record_seconds:.0f} s (cameras {args.camera_qos} QoS):")
        for topic, d in drops.items():
            lost = d["published"] - d["recorded"]
            print(
                f"  {topic:32s} published {d['published']:5d} recorded {d['recorded']:5d} "
                f"lost {lost:4d} (queue drops {d['queue_dropped']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
