"""``./tatbot topic|param|service|action|lifecycle``: the ros2 verbs the READMEs use, without a
distro, against a real arm_driver process (mock arms)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tatbot_bringup.launch_runner import find_executable
from tatbot_bringup.robot_config import load_robot_config
from tatbot_testing.processes import interrupt
from tatbot_testing.waiting import wait_until

pytestmark = pytest.mark.ros

CONFIG = load_robot_config()


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tatbot_bringup.ros_cli", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def driver():
    proc = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver")), "--ros-args", "-p", "autostart:=false"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # a just-started process may be discovered before it answers (a request sent while DDS is still
    # matching the reply route is lost, as with ros2cli): the first verbs wait for its first answer
    deadline = time.monotonic() + 90
    while cli("lifecycle", "get", "/arm_driver").returncode != 0:
        assert time.monotonic() < deadline and proc.poll() is None, "the driver never answered lifecycle get"
    yield proc
    interrupt(proc)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_lifecycle_param_service_topic_and_action_verbs(driver):
    assert ok(cli("lifecycle", "get", "/arm_driver")).strip() == "unconfigured [1]"
    refused = cli("lifecycle", "set", "/arm_driver", "activate")
    assert refused.returncode == 1 and "cannot 'activate' now; available: ['configure', 'shutdown']" in refused.stderr
    # a parameter read at configure may change while unconfigured; a bad choice is refused, named
    assert "set mock_lag = 0.01" in ok(cli("param", "set", "/arm_driver", "mock_lag", "0.01"))
    assert "set config = ''" in ok(cli("param", "set", "/arm_driver", "config", ""))  # "" stays a string
    bad = cli("param", "set", "/arm_driver", "backend", "robot")
    assert bad.returncode == 1 and "use one of mock, trossen" in bad.stderr
    for transition in ("configure", "activate"):
        assert "Transitioning successful" in ok(cli("lifecycle", "set", "/arm_driver", transition))
    assert ok(cli("lifecycle", "get", "/arm_driver")).strip() == "active [3]"
    assert ok(cli("param", "get", "/arm_driver", "mock_lag")).strip() == "mock_lag: 0.01"

    echo = ok(cli("topic", "echo", "/joint_states", "--once"))
    assert "name: [left/joint_0," in echo and "position: [" in echo
    assert "average rate: " in ok(cli("topic", "hz", "/joint_states", "--once"))
    # topic list shows what discovery found within its 2 s: on a loaded host a fresh process can
    # need longer to see the driver, which is not what this checks
    wait_until(lambda: "/joint_states" in ok(cli("topic", "list")).split(), 10, "/joint_states in topic list")

    # nested YAML (a JointTrajectory with points) through an action: 1 s to the ready pose and back
    ready, sleep = CONFIG.pose("ready").tolist(), CONFIG.pose("sleep").tolist()
    points = [
        {"positions": sleep, "time_from_start": {"sec": 0, "nanosec": 100_000_000}},
        {"positions": ready, "time_from_start": {"sec": 4}},
    ]
    goal = json.dumps({"trajectory": {"joint_names": CONFIG.joint_names, "points": points}})
    out = ok(
        cli("action", "send_goal", "/arm_driver/execute_trajectory", "tatbot_interfaces/action/ExecuteTrajectory", goal)
    )
    assert "goal accepted" in out and "error_code: 0" in out, out

    held = ok(cli("service", "call", "/arm_driver/hold", "std_srvs/srv/Trigger"))
    assert "success: true" in held
    typo = cli("service", "call", "/arm_driver/go_to_pose", "tatbot_interfaces/srv/GoToPose", "{name: ready}")
    assert typo.returncode == 1 and "has no field 'name'; its fields: ['duration', 'pose_name']" in typo.stderr


def test_a_missing_service_or_type_is_one_line():
    gone = cli("service", "call", "/nobody/here", "std_srvs/srv/Trigger")
    assert gone.returncode == 1 and gone.stderr.strip().endswith(
        "service /nobody/here is not available (is the node running? ./tatbot run ...)"
    )
    typo = cli("service", "call", "/x", "std_srvs/Triggr")
    assert typo.returncode == 1 and "unknown srv type 'std_srvs/Triggr'" in typo.stderr


def test_echo_receives_a_latched_message_published_before_it_started(ros_context):
    from rclpy.node import Node
    from std_msgs.msg import String

    from tatbot_bringup.qos import LATCHED

    node = Node("latched_source", context=ros_context)
    node.create_publisher(String, "/cli_test/latched", LATCHED).publish(String(data="the stencil"))
    try:
        assert "data: the stencil" in ok(cli("topic", "echo", "/cli_test/latched", "--once"))
    finally:
        node.destroy_node()
