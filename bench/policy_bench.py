"""Benchmark of the vla_policy node (tatbot_vla_policy) on its own tiny checkpoint, no hardware.

Prints, from one run (CPU by default; ``--device cuda --dtype bfloat16`` on a GPU):

* raw ``predict_action_chunk`` rate: PolicyRunner.predict (pre/post-processors included)
  called back to back on one observation, Hz and ms, in this process with the driver and cameras
  paused (SIGSTOP): the model alone; and the node's model process called from here beside the
  running driver and cameras (what a small shared CPU leaves to the model);
* node end-to-end chunk rate: chunks per second the vla_policy node computes from its live
  observations, fed by the real arm driver (mock backend) and sim cameras, each in its own process
  as deployed, over DDS on a private domain, publishing at 10 Hz, with its worker running the
  model back to back (just-in-time pacing off) so that the model is the bottleneck;
  overhead ratio = raw rate / node rate (target <= 1.10), round by round: each round measures the
  model alone, the model beside the driver and cameras and the node, one window after the other,
  so that host drift (up to 2x within an hour on these machines) cancels;
* node turnaround per chunk: the chunk period less the worker's call into the model process, i.e.
  the node's own work between the model's answer and its next request;
* observation-to-publish latency of fresh chunks, p50 / p95 ms, as deployed (10 Hz, just-in-time
  pacing on), and the publish-period jitter there: p99 and max of |period - 100 ms| between the
  node's publish calls;
* achieved publish rate with a slow model (250 ms per chunk), async worker vs the synchronous
  baseline (inference inside the publish loop), target 10 Hz; and its fresh chunks per second
  against the model's own 4 Hz (the overhead ratio when the model, like one on a GPU, leaves the
  CPU to the node).

Each measurement is one function returning a dict. Run: ``python bench/policy_bench.py``
(``--torch-threads 1`` on a small CPU shared with the driver and cameras).
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
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rclpy
import torch
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from trajectory_msgs.msg import JointTrajectory

from tatbot_bringup.robot_config import load_robot_config
from tatbot_interfaces.action import RunPolicy
from tatbot_vla_policy import inference_worker
from tatbot_vla_policy.core.chunks import inference_start
from tatbot_vla_policy.core.runner import PolicyRunner
from tatbot_vla_policy.core.runner_process import RunnerProcess
from tatbot_vla_policy.tiny_policy import make_tiny_dataset, slow_down, train_tiny_checkpoint
from tatbot_vla_policy.vla_policy_node import GIL_SWITCH_INTERVAL, NODE_TORCH_THREADS, VlaPolicyNode

CONFIG = load_robot_config()
SLOW_MODEL_S = 0.25


def raw_rate(runner: PolicyRunner | RunnerProcess, features: dict, calls: int = 50) -> dict:
    """``runner.predict`` back to back on one observation (its result is on the CPU: synchronised)."""
    for _ in range(3):
        runner.predict(features, "draw")
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        runner.predict(features, "draw")
        times.append(time.perf_counter() - start)
    times = np.array(times)
    return {
        "raw_hz": 1.0 / times.mean(),
        "raw_ms_p50": np.median(times) * 1e3,
        "raw_ms_p95": np.percentile(times, 95) * 1e3,
    }


SUBPROCESSES = {  # node module -> --ros-args parameters
    "tatbot_arm_driver.arm_driver_node": ["-p", "mock_initial_pose:=ready"],
    # the cameras render at the tiny checkpoint's 64x48, as the demo deploys (no resizing in the node)
    "tatbot_arm_driver.sim_camera_node": ["-p", "width:=64", "-p", "height:=48", "-p", "fps:=15.0"],
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
        try:
            self._start_nodes(checkpoint, policy_params)
        except BaseException:
            self._stop_processes()  # no orphan driver or cameras when the node fails to start
            raise

    def _start_nodes(self, checkpoint: Path, policy_params: dict) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)  # as vla_policy main() spins
        params = {"checkpoint": str(checkpoint), "publish_markers": False, "autostart": False, **policy_params}
        self.policy = VlaPolicyNode(
            context=self.context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()]
        )
        # bench machinery beside the node in its executor: no parameter services to wait on
        self.client = Node("policy_bench", context=self.context, start_parameter_services=False)
        self.received: list[float] = []
        self.client.create_subscription(
            JointTrajectory, "/arm_driver/joint_trajectory", lambda _m: self.received.append(time.monotonic()), 10
        )
        self.run_client = ActionClient(self.client, RunPolicy, "/vla_policy/run")
        for node in (self.policy, self.client):
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        if self.policy.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError(f"vla_policy did not configure: {self.policy._detail}")
        self.policy.trigger_activate()

    def run(self, seconds: float) -> int:
        """Stream for ``seconds`` after the first chunk; returns the fresh chunks offered meanwhile."""
        assert self.run_client.wait_for_server(timeout_sec=10), "no /vla_policy/run action server"
        goal = self.run_client.send_goal_async(RunPolicy.Goal(task="draw", max_steps=0))
        deadline = time.monotonic() + 30
        while not self.received and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert self.received, "the policy node published nothing in 30 s"
        offered = self.policy._scheduler.offered
        threading.Event().wait(seconds)
        offered = self.policy._scheduler.offered - offered
        handle = goal.result()
        handle.cancel_goal_async()
        result = handle.get_result_async()
        deadline = time.monotonic() + 10
        while not result.done() and time.monotonic() < deadline:  # the run has ended: a next one may start
            threading.Event().wait(0.01)
        return offered

    def close(self) -> None:
        self.policy.trigger_shutdown()
        self.executor.shutdown(timeout_sec=5)
        self.thread.join(timeout=5)  # out of its wait set before the nodes' handles go
        for node in (self.policy, self.client):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._stop_processes()

    def _stop_processes(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def paused(processes: list[subprocess.Popen]):
    """The driver and cameras stopped (SIGSTOP) for a model-alone window, then resumed."""
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGCONT)


def node_rate(
    runner: PolicyRunner,
    model_threads: int,
    remote: RunnerProcess,
    features: dict,
    model: dict,
    rounds: int = 5,
    seconds: float = 3.0,
) -> dict:
    """The node as deployed (10 Hz), then ``rounds`` times, one window after the other: the model
    alone (``runner`` in this process, the driver and cameras paused, the node idle), the node's
    model process called back to back from here beside the running driver and cameras, and the
    node with its worker running the model back to back."""
    rig = Rig(remote.checkpoint, **model)
    scheduler = rig.policy._scheduler
    next_plan, offer = scheduler.next_plan, scheduler.offer
    fresh: list[tuple[float, float]] = []  # (ROS time the plan was taken for publishing, its observation stamp)
    offers: list[float] = []  # monotonic times the worker handed over a chunk

    def record_plan(now, hold=None):
        plan = next_plan(now, hold)
        if plan is not None and (not fresh or plan.obs_stamp > fresh[-1][1]):
            fresh.append((rig.policy.get_clock().now().nanoseconds * 1e-9, plan.obs_stamp))
        return plan

    def record_offer(chunk):
        offers.append(time.monotonic())
        offer(chunk)

    model_process = rig.policy.runner
    predict = model_process.predict
    round_trips: list[float] = []  # s, the worker's predict calls: observation out, chunk back

    def timed_predict(*args, **options):
        start = time.perf_counter()
        try:
            return predict(*args, **options)
        finally:
            round_trips.append(time.perf_counter() - start)

    published: list[float] = []  # monotonic times of the node's publish calls
    publish = rig.policy._traj_pub.publish

    def timed_publish(msg):
        published.append(time.monotonic())
        publish(msg)

    scheduler.next_plan, scheduler.offer = record_plan, record_offer
    model_process.predict = timed_predict
    rig.policy._traj_pub.publish = timed_publish
    alone, beside_rig, node_hz, turnaround = [], [], [], []
    try:
        rig.run(2 * seconds)  # as deployed: the worker starts each inference just in time for a tick
        _, paced_ms, _ = rig.policy._model.stats.summary()
        latency = np.array([t - obs for t, obs in fresh]) * 1e3
        jitter = np.abs(np.diff(published) - 1.0 / CONFIG.policy_rate) * 1e3
        # back to back: the worker starts the next inference as soon as one ends (the publisher
        # still takes the newest chunk at 10 Hz): the chunk rate the node sustains
        inference_worker.inference_start = lambda now, *_args: now
        for _ in range(rounds):
            with paused(rig.processes):  # nothing reaches the node: its threads idle
                torch.set_num_threads(model_threads)
                alone.append(raw_rate(runner, features, calls=50))
                torch.set_num_threads(NODE_TORCH_THREADS)
            # the model process while the driver and cameras run (the node active, not streaming)
            beside_rig.append(raw_rate(remote, features, calls=50)["raw_hz"])
            offers.clear()
            round_trips.clear()
            rig.run(seconds)
            times = np.array(offers[1:])
            node_hz.append((len(times) - 1) / (times[-1] - times[0]))
            # the node's own work per chunk: the period less the model process's round trip
            turnaround.append((times[-1] - times[0]) / (len(times) - 1) - np.mean(round_trips[2:]))
        _, inference_ms, _ = rig.policy._model.stats.summary()
    finally:
        inference_worker.inference_start = inference_start
        rig.close()
    return {
        "raw_alone": alone,
        "node_chunk_hz": np.array(node_hz),
        "raw_beside_rig_hz": np.array(beside_rig),
        "turnaround_s": np.array(turnaround),
        "node_inference_ms": inference_ms,
        "paced_inference_ms": paced_ms,
        "latency_ms_p50": np.median(latency),
        "latency_ms_p95": np.percentile(latency, 95),
        "jitter_ms_p99": np.percentile(jitter, 99),
        "jitter_ms_max": jitter.max(),
        "periods": len(jitter),
    }


def slow_model_rate(checkpoint: Path, model: dict, mode: str, seconds: float = 5.0) -> dict:
    rig = Rig(checkpoint, **model, inference_mode=mode)
    slow_down(rig.policy.runner, SLOW_MODEL_S)
    try:
        start = len(rig.received)
        fresh = rig.run(seconds)
        stamps = np.array(rig.received[start:])
    finally:
        rig.close()
    stamps = stamps[stamps <= stamps[0] + seconds]
    return {f"{mode}_hz": (len(stamps) - 1) / (stamps[-1] - stamps[0]), f"{mode}_fresh_hz": fresh / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch CPU threads of the model, raw and in the node's model process (0: torch's default)",
    )
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # as the node's main() does
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(150, 230)))  # keep off other graphs
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        dataset = make_tiny_dataset(Path(tmp) / "dataset")
        checkpoint = train_tiny_checkpoint(dataset, Path(tmp) / "train", "act")
        print(f"tiny ACT checkpoint trained in {time.monotonic() - start:.1f} s")
        runner = PolicyRunner(checkpoint, device=args.device, dtype=args.dtype)
        features = runner.example_features()
        model_threads = torch.get_num_threads()
        torch.set_num_threads(NODE_TORCH_THREADS)  # while this process hosts the node, as its main() sets
        model = {"device": args.device, "dtype": args.dtype, "torch_threads": args.torch_threads}
        remote = RunnerProcess(checkpoint, **model)
        try:
            node = node_rate(runner, model_threads, remote, features, model)
        finally:
            remote.close()
        slow = {**slow_model_rate(checkpoint, model, "async"), **slow_model_rate(checkpoint, model, "sync")}
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    alone = np.array([r["raw_hz"] for r in node["raw_alone"]])
    p50, p95 = (np.median([r[f"raw_ms_{q}"] for r in node["raw_alone"]]) for q in ("p50", "p95"))
    node_hz, beside = node["node_chunk_hz"], node["raw_beside_rig_hz"]
    # each round's model windows against the node window after them
    alone_ratios, beside_ratios = alone / node_hz, beside / node_hz
    turnaround_ms = node["turnaround_s"] * 1e3

    def spread(values: np.ndarray, fmt: str) -> str:
        return f"{np.median(values):{fmt}} ({values.min():{fmt}}-{values.max():{fmt}})"

    lines = [
        f"device {device}, dtype {args.dtype}, model torch threads {model_threads}, {len(node_hz)} rounds "
        "(median (min-max))",
        f"raw predict_action_chunk   {spread(alone, '.1f')} Hz alone (driver and cameras paused; "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms); {spread(beside, '.1f')} Hz in the node's model process "
        "beside the running driver and cameras",
        f"node end-to-end chunks     {spread(node_hz, '.1f')} Hz; overhead ratio {spread(alone_ratios, '.2f')} "
        f"against the model alone (target <= 1.10), {spread(beside_ratios, '.2f')} against the model "
        "beside the driver and cameras",
        f"node turnaround per chunk  {spread(turnaround_ms, '.2f')} ms between the model process's answer "
        f"and the next request: {spread(turnaround_ms / (1e3 / node_hz), '.1%')} of a chunk period (the node's "
        "own work; the rest of the overhead ratio is the model computing slower on the shared CPU)",
        f"inference in the node      {node['node_inference_ms']:.1f} ms mean back to back, "
        f"{node['paced_inference_ms']:.1f} ms mean as deployed (model process)",
        f"observation -> publish     p50 {node['latency_ms_p50']:.1f} ms, p95 {node['latency_ms_p95']:.1f} ms",
        f"publish period jitter      p99 {node['jitter_ms_p99']:.2f} ms, max {node['jitter_ms_max']:.2f} ms: "
        f"|period - {1e3 / CONFIG.policy_rate:.0f} ms| between the node's publish calls, as deployed, "
        f"{node['periods']} periods (goal p99 <= 5 ms)",
        f"slow model ({SLOW_MODEL_S * 1e3:.0f} ms/chunk)  async {slow['async_hz']:.2f} Hz, "
        f"sync {slow['sync_hz']:.2f} Hz (target {CONFIG.policy_rate:.0f} Hz)",
        f"slow model fresh chunks    {slow['async_fresh_hz']:.2f} Hz vs {1 / SLOW_MODEL_S:.2f} Hz raw: overhead ratio "
        f"{1 / SLOW_MODEL_S / slow['async_fresh_hz']:.2f} (the model waits like on a GPU, leaving the CPU free)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
