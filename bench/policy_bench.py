"""Benchmark of the vla_policy node (tatbot_vla_policy) on its own tiny checkpoint, no hardware.

Prints, from one run (CPU by default; ``--device cuda --dtype bfloat16`` on a GPU):

* raw ``predict_action_chunk`` rate: PolicyRunner.predict (pre/post-processors included)
  called back to back on one observation, Hz and ms;
* node end-to-end chunk rate: fresh chunks published per second by the vla_policy node fed by
  the real arm driver (mock backend) and sim cameras, each in its own process as deployed, over
  DDS on a private domain, publishing at 50 Hz so that the model is the bottleneck;
  overhead ratio = raw rate / node rate (target <= 1.10);
* observation-to-publish latency of fresh chunks, p50 / p95 ms;
* achieved publish rate with a slow model (250 ms per chunk), async worker vs the synchronous
  baseline (inference inside the publish loop), target 10 Hz.

Each measurement is one function returning a dict. Run: ``python bench/policy_bench.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
import torch
from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from trajectory_msgs.msg import JointTrajectory

from tatbot_bringup.robot_config import load_robot_config
from tatbot_interfaces.action import RunPolicy
from tatbot_vla_policy.core.runner import PolicyRunner
from tatbot_vla_policy.tiny_policy import make_tiny_dataset, slow_down, train_tiny_checkpoint
from tatbot_vla_policy.vla_policy_node import GIL_SWITCH_INTERVAL, VlaPolicyNode

CONFIG = load_robot_config()
SLOW_MODEL_S = 0.25


def raw_rate(checkpoint: Path, device: str, dtype: str, calls: int = 50) -> dict:
    runner = PolicyRunner(checkpoint, device=device, dtype=dtype)
    features = runner.example_features()
    runner.warm_up(3)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        runner.predict(features, "draw")
        if runner.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times = np.array(times)
    return {
        "raw_hz": 1.0 / times.mean(),
        "raw_ms_p50": np.median(times) * 1e3,
        "raw_ms_p95": np.percentile(times, 95) * 1e3,
    }


SUBPROCESSES = {  # node module -> --ros-args parameters
    "tatbot_arm_driver.arm_driver_node": ["-p", "mock_initial_pose:=ready"],
    "tatbot_arm_driver.sim_camera_node": ["-p", "width:=128", "-p", "height:=96", "-p", "fps:=15.0"],
}


class Rig:
    """arm_driver (mock) and sim_camera as subprocesses; vla_policy and a client node here."""

    def __init__(self, checkpoint: Path, **policy_params):
        self.processes = [
            subprocess.Popen(
                [sys.executable, "-c", f"from {module} import main; main()", "--ros-args", *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for module, args in SUBPROCESSES.items()
        ]
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        params = {"checkpoint": str(checkpoint), "publish_markers": False, "autostart": False, **policy_params}
        self.policy = VlaPolicyNode(
            context=self.context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]
        )
        self.client = Node("policy_bench", context=self.context)
        self.received: list[float] = []
        self.client.create_subscription(
            JointTrajectory, "/arm_driver/joint_trajectory", lambda _m: self.received.append(time.monotonic()), 10
        )
        self.run_client = ActionClient(self.client, RunPolicy, "/vla_policy/run")
        for node in (self.policy, self.client):
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.policy.trigger_configure()
        self.policy.trigger_activate()

    def run(self, seconds: float) -> None:
        """Stream for ``seconds`` after the first chunk."""
        assert self.run_client.wait_for_server(timeout_sec=10), "no /vla_policy/run action server"
        goal = self.run_client.send_goal_async(RunPolicy.Goal(task="draw", max_steps=0))
        deadline = time.monotonic() + 30
        while not self.received and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert self.received, "the policy node published nothing in 30 s"
        threading.Event().wait(seconds)
        goal.result().cancel_goal_async()

    def close(self) -> None:
        self.policy.trigger_shutdown()
        self.executor.shutdown(timeout_sec=5)
        for node in (self.policy, self.client):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        for process in self.processes:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def node_rate(checkpoint: Path, device: str, dtype: str, seconds: float = 8.0) -> dict:
    rig = Rig(checkpoint, device=device, dtype=dtype, publish_rate=50.0)
    fresh: list[tuple[float, float]] = []  # (ROS time the plan was taken for publishing, its observation stamp)
    scheduler = rig.policy._scheduler
    next_plan = scheduler.next_plan
    seen = set()

    def record(now):
        plan = next_plan(now)
        if plan is not None and plan.seq not in seen:
            seen.add(plan.seq)
            fresh.append((rig.policy.get_clock().now().nanoseconds * 1e-9, plan.obs_stamp))
        return plan

    scheduler.next_plan = record
    try:
        rig.run(seconds)
    finally:
        rig.close()
    times = np.array([t for t, _ in fresh])
    latency = np.array([t - obs for t, obs in fresh]) * 1e3
    return {
        "node_chunk_hz": (len(times) - 1) / (times[-1] - times[0]),
        "latency_ms_p50": np.median(latency),
        "latency_ms_p95": np.percentile(latency, 95),
    }


def slow_model_rate(checkpoint: Path, mode: str, seconds: float = 5.0) -> dict:
    rig = Rig(checkpoint, device="cpu", inference_mode=mode)
    slow_down(rig.policy.runner, SLOW_MODEL_S)
    try:
        start = len(rig.received)
        rig.run(seconds)
        stamps = np.array(rig.received[start:])
    finally:
        rig.close()
    stamps = stamps[stamps <= stamps[0] + seconds]
    return {f"{mode}_hz": (len(stamps) - 1) / (stamps[-1] - stamps[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # as the node's main() does
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(150, 230)))  # keep off other graphs
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        dataset = make_tiny_dataset(Path(tmp) / "dataset")
        checkpoint = train_tiny_checkpoint(dataset, Path(tmp) / "train", "act")
        print(f"tiny ACT checkpoint trained in {time.monotonic() - start:.1f} s")
        raw = raw_rate(checkpoint, args.device, args.dtype)
        node = node_rate(checkpoint, args.device, args.dtype)
        slow = {**slow_model_rate(checkpoint, "async"), **slow_model_rate(checkpoint, "sync")}
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    ratio = raw["raw_hz"] / node["node_chunk_hz"]
    lines = [
        f"device {device}, dtype {args.dtype}, torch threads {torch.get_num_threads()}",
        f"raw predict_action_chunk   {raw['raw_hz']:7.1f} Hz"
        f"  (p50 {raw['raw_ms_p50']:.1f} ms, p95 {raw['raw_ms_p95']:.1f} ms)",
        f"node end-to-end chunks     {node['node_chunk_hz']:7.1f} Hz  overhead ratio {ratio:.2f} (target <= 1.10)",
        f"observation -> publish     p50 {node['latency_ms_p50']:.1f} ms, p95 {node['latency_ms_p95']:.1f} ms",
        f"slow model ({SLOW_MODEL_S * 1e3:.0f} ms/chunk)  async {slow['async_hz']:.2f} Hz, "
        f"sync {slow['sync_hz']:.2f} Hz (target {CONFIG.policy_rate:.0f} Hz)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
