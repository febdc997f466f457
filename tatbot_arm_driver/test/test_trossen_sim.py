"""The trossen backend over the real wire protocol: two trossen-arm-sim servers, one per arm.

The driver node (real rclpy, trossen backend) connects to both simulators, goes to `ready`,
follows a trajectory, and cleanup parks both arms at `sleep`. Bounds (README): the simulated
arms (MuJoCo position actuators) follow a 0.5 Hz, 0.1 rad sine within 0.1 rad while moving and
settle within 5 mrad of the last point; `ready` and `sleep` are reached within 10 mrad.

The simulators listen on their own loopback addresses (derived from the test's ROS domain so that
parallel runs do not collide) through a copy of robot.yaml; the test is skipped only when a
simulator cannot start, with its output as the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from tatbot_arm_driver.arm_driver_node import ArmDriverNode
from tatbot_arm_driver.backends.trossen import TrossenBackend, arms_from_config
from tatbot_arm_driver.conversions import seconds_from_time
from tatbot_bringup.robot_config import default_config_path, load_robot_config
from tatbot_interfaces.srv import GoToPose
from tatbot_testing.waiting import wait_until

pytestmark = pytest.mark.ros

SIM_START_TIMEOUT = 20.0  # s, until both simulators accept connections
CONTROLLER_TCP_PORT = 50001  # the arm controller's (and the simulator's) TCP port


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def sim_config(tmp_path):
    """robot.yaml with the arms' sim hosts moved to free loopback addresses; both simulators running."""
    executable = shutil.which("trossen-arm-sim")
    if executable is None:
        pytest.skip("trossen-arm-sim is not installed (pip install trossen-arm-sim)")
    domain = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    data = yaml.safe_load(default_config_path().read_text())
    for i, arm in enumerate(data["arms"]):
        arm["sim"] = {"host": f"127.0.{100 + domain}.{2 + i}", "ws_port": 51000 + 10 * domain + i}
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    processes = []
    try:
        for arm in data["arms"]:
            host, port = arm["sim"]["host"], arm["sim"]["ws_port"]
            if _accepts(host, CONTROLLER_TCP_PORT):
                pytest.skip(f"something already listens on {host}:{CONTROLLER_TCP_PORT}")
            log = tmp_path / f"sim-{arm['name']}.log"
            with open(log, "w") as out:
                processes.append(
                    (
                        subprocess.Popen([executable, "--host", host, "--ws-port", str(port)], stdout=out, stderr=out),
                        host,
                        log,
                    )
                )
        deadline = time.monotonic() + SIM_START_TIMEOUT
        for process, host, log in processes:
            while not _accepts(host, CONTROLLER_TCP_PORT):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"trossen-arm-sim on {host} did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)  # polling a subprocess's port, not waiting on ROS
        yield path
    finally:
        for process, _, _ in processes:
            process.terminate()
        for process, _, _ in processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def test_trossen_backend_against_two_simulators(sim_config, ros_executor):
    from test_arm_driver_node import PERIOD, Probe, send, wave_chunk

    config = load_robot_config(sim_config)
    ready, sleep = config.pose("ready"), config.pose("sleep")
    node = ros_executor.add(
        ArmDriverNode(
            context=ros_executor.context,
            parameter_overrides=[
                Parameter("backend", value="trossen"),
                Parameter("trossen_use_sim", value=True),
                Parameter("config", value=str(sim_config)),
            ],
        )
    )
    probe = Probe(ros_executor.context)
    executor = SingleThreadedExecutor(context=ros_executor.context)
    executor.add_node(probe)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        probe.states.wait_for(5, what="joint states from the simulators")
        response = probe.call(probe.go_to_pose, GoToPose.Request(pose_name="ready"))
        assert response.error_code == GoToPose.Response.SUCCESS, response.error_string
        wait_until(lambda: np.max(np.abs(np.asarray(probe.states.last.position) - ready)) < 0.01, 10, "the ready pose")

        stamp = probe.now() + 0.05
        spec = wave_chunk(60, 1 / 30, amplitude=0.1, stamp=stamp)
        send(probe, spec)
        end = stamp + spec.time_from_start[-1]
        wait_until(lambda: seconds_from_time(probe.states.last.header.stamp) > end + 0.5, 10, "the end")
        # the simulated motors settle on the last point (a loaded host's simulator lags: wait for it)
        final = spec.positions[-1]
        wait_until(lambda: np.max(np.abs(np.asarray(probe.states.last.position) - final)) < 0.005, 10, "settled")
        stamps, desired = probe.stream(probe.commanded, stamp)
        state_stamps, actual = probe.stream(probe.states, stamp)
        common, i_desired, i_actual = np.intersect1d(
            np.round(stamps, 6), np.round(state_stamps, 6), return_indices=True
        )
        assert common.size > 0.8 * (end - stamp) / PERIOD
        moving = common <= end
        error = np.abs(desired[i_desired] - actual[i_actual])
        print(
            f"trossen-arm-sim tracking: max {error[moving].max():.4f} rad, "
            f"rms {np.sqrt(np.mean(error[moving] ** 2)):.4f} rad while moving; "
            f"final {error[-1].max() * 1e3:.2f} mrad"
        )
        assert error[moving].max() < 0.1

        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS  # parks at sleep, then idles
    finally:
        executor.shutdown(timeout_sec=5.0)
        probe.destroy_node()
        thread.join(timeout=5.0)
    # a fresh connection reads where the arms stopped
    backend = TrossenBackend(arms_from_config(config, use_sim=True), "wxai_v0", goal_time=0.02, connect_timeout=5.0)
    backend.open()
    try:
        np.testing.assert_allclose(backend.read().position, sleep, atol=0.01)
    finally:
        backend.close()
