"""The robot side's view of a two-machine run, and what it shows (test_two_hosts, two_hosts_bench).

``python -m tatbot_testing.two_hosts_probe HOSTS PHASES`` runs in the robot namespace of a
:class:`tatbot_testing.netns.TwoHosts` (HOSTS: its JSON). It starts a ``~/run`` of the policy on the
other machine, then steps through PHASES (JSON ``[[action, seconds], ...]``; action: ``stream``
(nothing), ``cap:<rate>``, ``uncap``, ``cut`` or ``plug``), cancels the run and prints one JSON line:
the phases' start times, the arrival time of every chunk at the robot, the driver's setpoints
(stamp, positions) and the policy's status. :func:`analyse` turns that into figures (pure);
:func:`run_two_machines` is the test's and the benches' whole run (machines, nodes, probe).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from tatbot_testing.netns import TwoHosts

ROOT = Path(__file__).resolve().parents[2]
# the processes a phase can signal (``kill:<name>``, ``stop:<name>``, ``cont:<name>``), by command line
PROCESSES = {
    "policy": "lib/tatbot_vla_policy/vla_policy",  # the vla_policy node
    "model": "tatbot_vla_policy.core.runner_process",  # its model process
    "cameras": "lib/tatbot_arm_driver/sim_camera",
}
FAULTS = ("cut", "kill:", "stop:")  # phases after which the arms must stop; the next phase is the recovery


def is_fault(action: str) -> bool:
    return action.startswith(FAULTS)


def _stream(chunks: np.ndarray, t0: float, t1: float) -> dict:
    inside = chunks[(chunks >= t0) & (chunks < t1)]
    gaps = np.diff(inside)
    return {
        "rate_hz": len(inside) / (t1 - t0),
        "p99_gap_ms": float(np.percentile(gaps, 99) * 1e3) if gaps.size else float("inf"),
        "max_gap_ms": float(gaps.max() * 1e3) if gaps.size else float("inf"),
    }


def analyse(timeline: dict) -> list[dict]:
    """One row per phase: the stream the robot received (rate, p99 and longest gap), what the
    policy's status said most often, and, for a fault (FAULTS), when the arms stopped after the
    fault and after the last chunk (s) and how far they moved after the fault (rad), and for the
    phase after it, how long until the first chunk came back (s)."""
    chunks = np.asarray(timeline["chunks"])
    stamps = np.asarray([s for s, _ in timeline["commanded"]])
    q = np.asarray([p for _, p in timeline["commanded"]])
    phases = timeline["phases"] + [["end", timeline["end"]]]
    rows = []
    for (action, t0), (_, t1) in itertools.pairwise(phases):
        row = {"phase": action, "seconds": t1 - t0, **_stream(chunks, t0, t1)}
        said = [detail or "streaming" for t, _, detail in timeline["status"] if t0 <= t < t1]
        row["policy"] = max(set(said), key=said.count) if said else "no status (link down)"
        if is_fault(action):
            before = chunks[chunks < t1]  # a fault may let chunks through for a while (a stale gate's age)
            last = float(before[-1]) if before.size else t0
            window = (stamps >= last - 0.2) & (stamps < t1)
            s, p = stamps[window], q[window]
            moving = np.flatnonzero(np.any(np.abs(np.diff(p, axis=0)) > 1e-9, axis=1))
            stopped = float(s[moving[-1] + 1]) if moving.size else last
            at_cut = p[min(np.searchsorted(s, t0), len(s) - 1)]
            recent = (s >= last - 0.1) & (s <= last)
            velocity = np.abs(np.diff(p[recent], axis=0)) / np.diff(s[recent])[:, None]
            row["speed_at_fault_rad_s"] = float(velocity.max()) if velocity.size else 0.0
            row["stop_after_last_chunk_s"] = stopped - last
            row["stop_after_fault_s"] = stopped - t0
            row["motion_after_fault_rad"] = float(np.max(np.abs(p[s <= stopped][-1] - at_cut)))
            row["stopped_before_the_end"] = bool(stopped < t1 - 0.05)
        if rows and is_fault(rows[-1]["phase"]):
            after = chunks[chunks >= t0]
            row["recovery_s"] = float(after[0] - t0) if after.size else float("inf")
        rows.append(row)
    return rows


def start_machines(
    hosts: TwoHosts, checkpoint: Path, logs: Path, camera_size: tuple[int, int] = (64, 48)
) -> tuple[subprocess.Popen, subprocess.Popen]:
    """``./tatbot launch infer`` on each machine: host:=robot (mock arms, simulated cameras) and
    host:=gpu (the policy on ``checkpoint``, CPU); their output goes to ``logs``/{robot,gpu}.log."""
    launch = [str(ROOT / "tatbot"), "launch", "infer"]
    width, height = camera_size
    robot_args = ["host:=robot", "backend:=mock", "cameras:=sim", f"camera_width:={width}", f"camera_height:={height}"]
    with open(logs / "robot.log", "w") as robot_log, open(logs / "gpu.log", "w") as gpu_log:
        robot = hosts.popen("robot", [*launch, *robot_args], stdout=robot_log, stderr=subprocess.STDOUT)
        gpu = hosts.popen(
            "gpu",
            [*launch, "host:=gpu", f"checkpoint:={checkpoint}", "device:=cpu", "torch_threads:=1"],
            stdout=gpu_log,
            stderr=subprocess.STDOUT,
        )
    return robot, gpu


def run_probe(hosts: TwoHosts, phases: list) -> dict:
    """This module's main() in the robot namespace: the timeline of ``phases``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "test"), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-m", "tatbot_testing.two_hosts_probe", json.dumps(hosts.describe()), json.dumps(phases)]
    command, env = hosts.command("robot", argv), hosts.env("robot", env)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    if done.returncode != 0:
        raise RuntimeError(f"two_hosts_probe failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_two_machines(
    checkpoint: Path, phases: list, logs: Path, camera_size: tuple[int, int] = (64, 48)
) -> tuple[dict, tuple[int, int]]:
    """Make the two machines, start their nodes, run the probe through ``phases`` and Ctrl-C the
    nodes: the timeline and the robot's and the GPU box's exit codes."""
    from tatbot_testing.processes import interrupt

    with TwoHosts() as hosts:
        robot, gpu = start_machines(hosts, checkpoint, logs, camera_size)
        try:
            timeline = run_probe(hosts, phases)
        finally:
            interrupt(gpu)
            interrupt(robot)
    return timeline, (robot.returncode, gpu.returncode)


def main(argv: list[str]) -> int:
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from tatbot_bringup import qos
    from tatbot_bringup.robot_config import load_robot_config
    from tatbot_interfaces.action import RunPolicy
    from tatbot_interfaces.msg import PolicyStatus
    from tatbot_interfaces.srv import GoToPose

    hosts = TwoHosts.attach(json.loads(argv[0]))
    phases = json.loads(argv[1])
    rclpy.init()
    node = Node("two_hosts_probe")
    clock = node.get_clock()
    now = lambda: clock.now().nanoseconds * 1e-9  # noqa: E731  (the driver's stamps are on this clock)
    lock = threading.Lock()
    chunks, commanded, status = [], [], []

    def on_chunk(_msg):
        with lock:
            chunks.append(now())

    def on_commanded(msg):
        with lock:
            commanded.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, list(msg.position)))

    def on_status(msg):
        with lock:
            status.append((now(), msg.state, msg.detail))

    node.create_subscription(JointTrajectory, "/arm_driver/joint_trajectory", on_chunk, qos.COMMANDS)
    node.create_subscription(JointState, "/arm_driver/commanded", on_commanded, qos.JOINT_STATES)
    node.create_subscription(PolicyStatus, "/vla_policy/status", on_status, qos.STATUS)
    client = ActionClient(node, RunPolicy, "/vla_policy/run")
    go_to_pose = node.create_client(GoToPose, "/arm_driver/go_to_pose")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()

    def wait(predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                said = status[-1][1:] if status else "nothing"
                raise SystemExit(f"two_hosts_probe: no {what} within {timeout:g} s (the policy's status: {said})")
            time.sleep(0.01)

    wait(lambda: client.server_is_ready(), 120, "/vla_policy/run action server across the link")
    wait(lambda: len(commanded) > 0, 60, "driver setpoints")
    wait(go_to_pose.service_is_ready, 30, "/arm_driver/go_to_pose")
    moved = go_to_pose.call_async(GoToPose.Request(pose_name="ready"))  # where the demonstrations start
    wait(moved.done, 30, "answer to go_to_pose")
    ready = load_robot_config().pose("ready")
    wait(lambda: np.max(np.abs(np.asarray(commanded[-1][1]) - ready)) < 1e-3, 30, "the arms at ready")

    def start_run():
        sent = client.send_goal_async(RunPolicy.Goal(task="two hosts", max_steps=0))
        wait(sent.done, 30, "answer to the run goal")
        return sent.result()

    def signal_process(signal_name, name):
        subprocess.run(["pkill", f"-{signal_name}", "-f", PROCESSES[name]], check=True)

    run = start_run()
    wait(lambda: len(chunks) >= 3, 60, "chunks across the link")
    marks = []
    for action, seconds in phases:
        marks.append([action, now()])
        if action == "cut":
            hosts.link(up=False)
        elif action == "plug":
            hosts.link(up=True)
        elif action.startswith("cap:"):
            hosts.cap(action[4:])
        elif action == "uncap":
            hosts.cap(None)
        elif action.startswith(("kill:", "stop:", "cont:")):
            verb, name = action.split(":")
            signal_process(verb.upper(), name)
        elif action == "run":  # after the previous run ended (a fault that aborts it)
            deadline = time.monotonic() + seconds
            wait(lambda: status and status[-1][1] == PolicyStatus.STATE_IDLE, seconds, "an idle policy")
            run = start_run()
            seconds = max(0.0, deadline - time.monotonic())
        time.sleep(seconds)
    end = now()
    hosts.link(up=True)
    hosts.cap(None)
    run.cancel_goal_async()
    time.sleep(1.0)
    with lock:
        print(json.dumps({"phases": marks, "end": end, "chunks": chunks, "commanded": commanded, "status": status}))
    executor.shutdown(timeout_sec=2.0)
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
