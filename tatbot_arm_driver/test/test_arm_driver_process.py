"""The arm_driver executable as a process: Ctrl-C stops it cleanly however it was started, a failed
autostart exits 1 (a bad parameter value 2: test/test_executables.py), a SIGSTOPped driver
resumes without catching up, and a frozen /joint_states subscriber does not stall the control loop."""

import signal
import subprocess
import time

import pytest

from tatbot_bringup.launch_runner import find_executable
from tatbot_testing.processes import interrupt

pytestmark = pytest.mark.ros


def test_sigint_stops_the_driver_started_with_sigint_ignored():
    # a script's background job (`arm_driver &`) starts with SIGINT ignored, and Python keeps it so
    proc = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        for line in proc.stdout:
            if "active: motion enabled" in line:
                break
        else:
            raise AssertionError(f"arm_driver exited (code {proc.wait()}) before becoming active")
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output


def test_a_failed_autostart_exits_non_zero_naming_why(tmp_path):
    missing = tmp_path / "robot.yaml"
    proc = subprocess.run(
        [str(find_executable("tatbot_arm_driver", "arm_driver")), "--ros-args", "-p", f"config:={missing}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "configure failed" in proc.stdout + proc.stderr and str(missing) in proc.stdout + proc.stderr


def test_sigint_stops_an_unconfigured_driver():
    # nothing wakes the executor of a driver that was never configured (no timers): Ctrl-C still works
    proc = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver")), "--ros-args", "-p", "autostart:=false"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3.0)  # well past start-up
        assert proc.poll() is None, proc.communicate()[0]
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
        assert time.monotonic() - sent < 2.0, "Ctrl-C took more than 2 s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output


def test_a_stalled_driver_process_resumes_without_catching_up(ros_single_executor):
    """SIGSTOP the driver for 0.3 s mid-motion: its first setpoints after SIGCONT move at most one
    control period at the velocity limit (the trajectory is re-timed, not caught up)."""
    import numpy as np
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from tatbot_arm_driver.conversions import msg_from_spec, seconds_from_time
    from tatbot_arm_driver.core.validation import TrajectorySpec
    from tatbot_bringup.qos import COMMANDS, JOINT_STATES
    from tatbot_bringup.robot_config import load_robot_config
    from tatbot_testing.waiting import Collector, wait_for_match, wait_until

    config = load_robot_config()
    ready, period = config.pose("ready"), 1.0 / config.joint_state_rate
    bound = config.velocity * config.safety.velocity_scale * period  # per control period
    node = ros_single_executor.add(Node("stall_probe", context=ros_single_executor.context))
    commanded = Collector()
    node.create_subscription(JointState, "/arm_driver/commanded", commanded, JOINT_STATES)
    trajectory = node.create_publisher(JointTrajectory, "/arm_driver/joint_trajectory", COMMANDS)
    proc = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver")), "--ros-args", "-p", "mock_initial_pose:=ready"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_match(trajectory, timeout=30)
        commanded.wait_for(20, timeout=30, what="setpoints")
        t = np.arange(1, 16) * 0.1  # a lone 1.5 s trajectory: joint 0 speeds up to 2 rad/s in 0.5 s
        q = np.tile(ready, (len(t), 1))
        q[:, 0] += np.where(t < 0.5, 2.0 * t**2, 2.0 * t - 0.5)
        trajectory.publish(msg_from_spec(TrajectorySpec(tuple(config.joint_names), 0.0, t, q)))
        wait_until(lambda: commanded.last.velocity[0] > 1.9, 10, "full speed")
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.3)
        proc.send_signal(signal.SIGCONT)
        since = len(commanded.messages)
        commanded.wait_for(since + 50, timeout=10, what="setpoints after the stall")
        msgs = commanded.messages[since - 5 : since + 50]
        stamps = np.array([seconds_from_time(m.header.stamp) for m in msgs])
        positions = np.array([m.position[0] for m in msgs])
        gap = int(np.argmax(np.diff(stamps)))
        assert np.diff(stamps)[gap] > 0.2, "the driver was not stalled"
        # per control period between two received setpoints: on a loaded machine the probe can miss
        # some (its queue keeps the last 10), and two setpoints 3 periods apart may be 3 bounds
        # apart; the first one after the stall must stay within one period's bound, whatever was lost
        periods = np.maximum(1.0, np.round(np.diff(stamps) / period))
        periods[gap] = 1.0
        steps = np.abs(np.diff(positions)) / (bound[0] * periods)
        print(f"first step after the stall: {steps[gap]:.2f} x the per-period bound; max {steps.max():.2f}")
        assert steps.max() <= 1.0 + 1e-6, steps.round(2).tolist()
    finally:
        interrupt(proc, timeout=15)


# one full Jazzy run saw a single 0.335 s gap that three reruns of this test (1.3-1.4 periods) and
# the bench never showed: a retry absorbs such a host stall; the shared-memory stall recurs
@pytest.mark.flaky(reruns=1)
def test_a_frozen_joint_states_subscriber_does_not_stall_the_control_loop(ros_single_executor):
    """Another process's /joint_states subscriber frozen (SIGSTOP 0.4 s, then 0.3 s running) 30 times:
    the driver's control loop keeps its rate. With Fast DDS's shared-memory transport a publish
    could block for the port's 1 s health check (100 control periods); the driver's own
    /diagnostics (step_gap_max: the longest gap between control steps since its previous message)
    must stay under 10 periods, a bound host noise does not reach and that stall exceeds 10 x."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node

    from tatbot_bringup.qos import STATUS
    from tatbot_bringup.robot_config import load_robot_config
    from tatbot_testing.frozen_subscriber import freeze_repeatedly, start_subscriber, wait_subscribed
    from tatbot_testing.waiting import Collector

    period = 1.0 / load_robot_config().joint_state_rate
    node = ros_single_executor.add(Node("loop_probe", context=ros_single_executor.context))
    diagnostics = Collector()
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics, STATUS)
    driver = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver"))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    subscriber = start_subscriber()
    try:
        wait_subscribed(subscriber)
        first = len(diagnostics.wait_for(1, timeout=30, what="the driver's /diagnostics"))
        # configure and activate publish a burst; measure from two timer periods of steady running
        since = len(diagnostics.wait_for(first + 2, timeout=10, what="steady /diagnostics"))
        freeze_repeatedly(subscriber, freezes=30, freeze=0.4, run=0.3)
        after = len(diagnostics.messages)  # the next two cover the last freeze's window
        diagnostics.wait_for(after + 2, timeout=10, what="/diagnostics after the freezes")
        gaps = [
            float(value.value)
            for array in diagnostics.messages[since:]
            for status in array.status
            if status.name == "arm_driver: controller"
            for value in status.values
            if value.key == "step_gap_max"
        ]
        assert len(gaps) >= 15, f"{len(gaps)} controller diagnostics over 21 s of freezes"
        print(f"longest control-step gap over 30 freezes: {max(gaps) / period:.1f} periods ({max(gaps) * 1e3:.1f} ms)")
        assert max(gaps) < 10 * period, (
            f"the control loop stalled {max(gaps):.3f} s while a subscriber was frozen: {gaps}"
        )
    finally:
        interrupt(subscriber, timeout=15)
        interrupt(driver, timeout=15)
