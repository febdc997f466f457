"""Benchmark of the arm driver (tatbot_arm_driver), no hardware: the mock backend over real DDS.

Prints, from one run:

* hold latency after the command timeout: from (last point + command_timeout) to the hold being
  reported on /diagnostics (received), ms; and from the last point to the last change of
  /arm_driver/commanded (the setpoint holds the last point), ms;
* tracking RMSE on a 10 Hz chunk stream (policy-like: every 0.1 s a 20-point chunk at 30 Hz,
  stamped at publish time, sampled from one smooth reference): setpoint vs reference and mock
  arm vs reference, rad;
* validator throughput: 50-point, 14-joint chunks validated per second (one thread).

Each measurement is one function returning a dict; ``MEASUREMENTS`` lists them in print order.
Run: ``python bench/driver_bench.py`` (env sourced).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from tatbot_arm_driver.arm_driver_node import ArmDriverNode
from tatbot_arm_driver.conversions import msg_from_spec, seconds_from_time
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectorySpec, validate_trajectory
from tatbot_bringup.robot_config import load_robot_config

CONFIG = load_robot_config()
NAMES = tuple(CONFIG.joint_names)
READY = CONFIG.pose("ready")
REVOLUTE = CONFIG.revolute


def reference(t: np.ndarray) -> np.ndarray:
    """(N, 14) smooth reference motion around READY: 0.5 Hz, 0.15 rad on every revolute joint."""
    t = np.asarray(t, dtype=float)
    q = np.tile(READY, (t.size, 1))
    q[:, REVOLUTE] += 0.15 * np.sin(np.pi * t)[:, None]
    return q


class _Bench:
    """The driver (MultiThreadedExecutor, as its main()) and a client (own SingleThreadedExecutor)."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.driver = ArmDriverNode(
            context=self.context, parameter_overrides=[Parameter("mock_initial_pose", value="ready")]
        )
        self.client = Node("driver_bench", context=self.context)
        self.trajectory = self.client.create_publisher(JointTrajectory, "/arm_driver/joint_trajectory", 5)
        self.commanded: list[tuple[float, np.ndarray]] = []
        self.states: list[tuple[float, np.ndarray]] = []
        self.diagnostics: list[tuple[float, DiagnosticArray]] = []
        self.client.create_subscription(JointState, "/arm_driver/commanded", self._keep(self.commanded), 100)
        self.client.create_subscription(JointState, "/joint_states", self._keep(self.states), 100)
        self.client.create_subscription(
            DiagnosticArray, "/diagnostics", lambda m: self.diagnostics.append((time.time(), m)), 100
        )
        self._executors = [MultiThreadedExecutor(context=self.context), SingleThreadedExecutor(context=self.context)]
        self._threads = []
        for executor, node in zip(self._executors, (self.driver, self.client), strict=True):
            executor.add_node(node)
            self._threads.append(threading.Thread(target=executor.spin, daemon=True))
            self._threads[-1].start()
        self._wait(lambda: self.trajectory.get_subscription_count() > 0 and len(self.states) > 10, 10.0)

    @staticmethod
    def _keep(into: list) -> Callable:
        return lambda msg: into.append((seconds_from_time(msg.header.stamp), np.array(msg.position)))

    @staticmethod
    def _wait(predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the driver did not answer in time")
            time.sleep(0.005)

    def now(self) -> float:
        return self.client.get_clock().now().nanoseconds * 1e-9

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(timeout_sec=5.0)
        self.driver.destroy_node()
        self.client.destroy_node()
        rclpy.try_shutdown(context=self.context)


def hold_latency_after_timeout() -> dict:
    """Hold after the command timeout: reported on /diagnostics, and the setpoint at the last point."""
    bench = _Bench()
    try:
        start = bench.now() + 0.05
        t = np.arange(1, 11) / 30
        bench.trajectory.publish(msg_from_spec(TrajectorySpec(NAMES, start, t, reference(t))))
        last_point = start + t[-1]
        deadline = last_point + CONFIG.safety.command_timeout

        def reported() -> float | None:
            for received, array in list(bench.diagnostics):
                for status in array.status:
                    values = {kv.key: kv.value for kv in status.values}
                    if values.get("hold_reason") == "command_timeout":
                        return received
            return None

        bench._wait(lambda: reported() is not None, 5.0)
        stamps = np.array([s for s, _ in bench.commanded])
        positions = np.array([q for _, q in bench.commanded])
        changed = stamps[1:][np.any(np.diff(positions, axis=0) != 0, axis=1)]
        return {
            "hold reported after the command timeout (ms)": 1e3 * (reported() - deadline),
            "setpoint constant after the last point (ms)": 1e3 * (changed[-1] - last_point),
        }
    finally:
        bench.close()


def tracking_rmse_10hz_stream(seconds: float = 4.0) -> dict:
    """RMSE of setpoint and mock arm vs the reference under a 10 Hz stream of 20-point chunks."""
    bench = _Bench()
    try:
        origin = bench.now() + 0.1
        dt, horizon = 1 / 30, 20
        next_publish = time.monotonic()
        while bench.now() < origin + seconds:
            stamp = bench.now()
            t = (stamp - origin) + dt * np.arange(1, horizon + 1)
            spec = TrajectorySpec(NAMES, stamp, dt * np.arange(1, horizon + 1), reference(np.maximum(t, 0.0)))
            bench.trajectory.publish(msg_from_spec(spec))
            next_publish += 0.1
            time.sleep(max(next_publish - time.monotonic(), 0.0))
        window = (origin + 1.0, origin + seconds)  # after the first second (start-up transient)

        def rmse(samples: list[tuple[float, np.ndarray]]) -> float:
            stamps = np.array([s for s, _ in samples])
            keep = (stamps >= window[0]) & (stamps <= window[1])
            q = np.array([p for _, p in samples])[keep]
            return float(np.sqrt(np.mean((q - reference(stamps[keep] - origin)) ** 2)))

        return {
            "setpoint RMSE vs reference (rad)": rmse(list(bench.commanded)),
            "mock arm RMSE vs reference (rad)": rmse(list(bench.states)),
        }
    finally:
        bench.close()


def validator_throughput(seconds: float = 1.0) -> dict:
    """50-point chunks validated per second."""
    limits = SafetyLimits.from_config(CONFIG)
    t = np.arange(1, 51) / 30
    spec = TrajectorySpec(NAMES, 0.0, t, reference(t))
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        validate_trajectory(spec, limits, READY, 100.0)
        count += 1
    return {"validator throughput (50-point trajectories/s)": count / (time.perf_counter() - start)}


def sim_camera_frames_per_second() -> dict:
    from sim_camera_bench import NEEDED_FPS, sim_camera_fps  # bench/ is on sys.path when run as a script

    core = sim_camera_fps()
    return {
        f"sim_camera frames/s at {core['resolution']} (render, one thread)": core["fps"],
        f"sim_camera ratio to the {NEEDED_FPS:.0f} frames/s of 2 cameras at 30 Hz": core["ratio_to_needed"],
    }


MEASUREMENTS: list[Callable[[], dict]] = [
    hold_latency_after_timeout,
    tracking_rmse_10hz_stream,
    validator_throughput,
    sim_camera_frames_per_second,
]


def main() -> None:
    for measure in MEASUREMENTS:
        for label, value in measure().items():
            print(f"{label}: {value:.4g}")


if __name__ == "__main__":
    main()
