"""Our interfaces over real DDS: across processes, services and actions between nodes."""

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rclpy.action import ActionClient, ActionServer, CancelResponse
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from tatbot_interfaces.action import RunPolicy
from tatbot_interfaces.msg import EpisodeEvent, PolicyStatus
from tatbot_interfaces.srv import StartEpisode
from tatbot_testing.processes import interrupt
from tatbot_testing.waiting import Collector, Timeout, wait_until

pytestmark = pytest.mark.ros


@pytest.fixture
def talker_process():
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("talker_process.py"))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        yield proc
    finally:
        interrupt(proc)


def test_pubsub_across_processes(ros_executor, talker_process):
    node = ros_executor.add(Node("listener", context=ros_executor.context))
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    episodes, statuses = Collector(), Collector()
    node.create_subscription(EpisodeEvent, "/tatbot/episode", episodes, latched)
    node.create_subscription(PolicyStatus, "/vla_policy/status", statuses, 10)

    got = episodes.wait_for(5, timeout=30, what="EpisodeEvents from the talker process")
    assert all(m.task == "from talker" and m.event == EpisodeEvent.START for m in got)
    indices = [m.index for m in got]
    assert indices == sorted(indices)
    got = statuses.wait_for(5, timeout=30, what="PolicyStatus from the talker process")
    assert all(m.state == PolicyStatus.STATE_RUNNING and m.publish_rate_hz == 50.0 for m in got)
    assert got[-1].header.stamp.sec > 0
    assert talker_process.poll() is None, talker_process.stderr.read()


def test_start_episode_service_round_trip(ros_executor):
    ctx = ros_executor.context
    server_node = ros_executor.add(Node("episode_server", context=ctx))
    client_node = ros_executor.add(Node("episode_client", context=ctx))
    seen = []

    def handle(request, response):
        seen.append(request.task)
        if request.metadata_json and not request.metadata_json.startswith("{"):
            response.error_code = StartEpisode.Response.ERROR_INVALID_METADATA
            response.error_string = "metadata_json is not a JSON object"
            return response
        response.index = len(seen) - 1
        response.bag_path = "/bags/test"
        return response

    server_node.create_service(StartEpisode, "/recorder/start_episode", handle)
    client = client_node.create_client(StartEpisode, "/recorder/start_episode")
    assert client.wait_for_service(timeout_sec=20)

    ok = client.call(StartEpisode.Request(task="first", metadata_json='{"a": 1}'), timeout_sec=10)
    assert ok.error_code == StartEpisode.Response.SUCCESS and ok.index == 0 and ok.bag_path == "/bags/test"
    bad = client.call(StartEpisode.Request(task="second", metadata_json="[1]"), timeout_sec=10)
    assert bad.error_code == StartEpisode.Response.ERROR_INVALID_METADATA
    assert "JSON object" in bad.error_string
    assert seen == ["first", "second"]


def test_run_policy_action_round_trip(ros_executor):
    ctx = ros_executor.context
    server_node = ros_executor.add(Node("policy_server", context=ctx))
    client_node = ros_executor.add(Node("policy_client", context=ctx))
    release = threading.Event()
    # rclpy's ActionClient drops feedback that it processes after the goal's result: for these
    # tasks the server paces its steps by the feedback the client has received
    receivers: dict[str, Collector] = {}

    def execute(goal_handle):
        task = goal_handle.request.task
        steps = 0
        for step in range(1, goal_handle.request.max_steps + 1):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return RunPolicy.Result(error_code=RunPolicy.Result.ERROR_CANCELED, steps=steps, message="canceled")
            goal_handle.publish_feedback(RunPolicy.Feedback(step=step, latency_ms=float(step)))
            steps = step
            if task in receivers:
                with contextlib.suppress(Timeout):
                    receivers[task].wait_for(step, timeout=1.0)
            if task == "wait":
                release.wait(timeout=0.05)
        goal_handle.succeed()
        return RunPolicy.Result(success=True, steps=steps, message=f"ran {goal_handle.request.task}")

    ActionServer(
        server_node,
        RunPolicy,
        "/vla_policy/run",
        execute_callback=execute,
        cancel_callback=lambda _: CancelResponse.ACCEPT,
    )
    client = ActionClient(client_node, RunPolicy, "/vla_policy/run")
    assert client.wait_for_server(timeout_sec=20)
    # feedback is a plain topic, and the graph can list its reader before the writer has matched
    # it (what is sent before that is lost): run 1-step goals until one's feedback arrives
    for _ in range(20):
        warm_up = receivers["warm up"] = Collector()
        send = client.send_goal_async(RunPolicy.Goal(task="warm up", max_steps=1), feedback_callback=warm_up)
        wait_until(send.done, 10, "warm-up goal acceptance")
        result_future = send.result().get_result_async()
        wait_until(result_future.done, 10, "warm-up result")
        with contextlib.suppress(Timeout):
            warm_up.wait_for(1, timeout=0.5, what="warm-up feedback")
            break
    else:
        pytest.fail("no feedback message reached the client in 20 warm-up goals")

    feedback = receivers["draw"] = Collector()
    send = client.send_goal_async(RunPolicy.Goal(task="draw", max_steps=5), feedback_callback=feedback)
    wait_until(send.done, 10, "goal acceptance")
    handle = send.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    wait_until(result_future.done, 10, "RunPolicy result")
    result = result_future.result().result
    assert result.success and result.steps == 5 and result.message == "ran draw"
    wait_until(lambda: len(feedback.messages) == 5, 5, "5 feedback messages")
    assert [f.feedback.step for f in feedback.messages] == [1, 2, 3, 4, 5]

    # cancel mid-run
    send = client.send_goal_async(RunPolicy.Goal(task="wait", max_steps=10_000), feedback_callback=Collector())
    wait_until(send.done, 10, "second goal acceptance")
    handle = send.result()
    cancel = handle.cancel_goal_async()
    wait_until(cancel.done, 10, "cancel response")
    result_future = handle.get_result_async()
    wait_until(result_future.done, 10, "canceled result")
    result = result_future.result().result
    assert result.error_code == RunPolicy.Result.ERROR_CANCELED and result.steps < 10_000
