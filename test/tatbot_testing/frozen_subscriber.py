"""A /joint_states subscriber in its own process that a test or bench freezes (SIGSTOP) again and
again: what a hung rviz2, recorder or camera node does to the driver's publisher
(test_arm_driver_process, bench/frozen_subscriber_bench.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

SUBSCRIBER = textwrap.dedent(
    """
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from tatbot_bringup import qos
    rclpy.init()
    node = Node("frozen_subscriber")
    node.create_subscription(JointState, "/joint_states", lambda m: None, qos.JOINT_STATES)
    print("subscribed", flush=True)
    rclpy.spin(node)
    """
)


def start_subscriber(env: dict | None = None) -> subprocess.Popen:
    """The bare subscriber process; it prints one line once its subscription exists."""
    return subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_subscribed(proc: subprocess.Popen) -> None:
    """Read the process's output up to its "subscribed" line (log lines may come first)."""
    for line in proc.stdout:
        if line.strip() == "subscribed":
            return
    raise RuntimeError(f"the subscriber process ended (exit {proc.wait()}) before it subscribed")


def freeze_repeatedly(proc: subprocess.Popen, freezes: int, freeze: float, run: float, after_each=None) -> None:
    """SIGSTOP ``proc`` for ``freeze`` s, then let it run ``run`` s, ``freezes`` times;
    ``after_each()`` is called after each run."""
    for _ in range(freezes):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(freeze)
        proc.send_signal(signal.SIGCONT)
        time.sleep(run)
        if after_each is not None:
            after_each()
