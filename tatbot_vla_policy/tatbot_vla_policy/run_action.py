"""vla_policy's ``~/run`` action (tatbot_interfaces/RunPolicy): one goal at a time.

A goal starts a run (core.streaming.Run) and, with ``record_eval``, a recorder episode around it
(the recorder's start/stop services); it sends feedback at publish_rate, ends the run on cancel,
and returns its result once the needles are out (the retract), so that a client's next command
cannot be overtaken by the end of this run. The streaming itself is the node's.

The execute callback is a coroutine: while a run streams it awaits timers and holds no executor
thread, so the node's inference and publish threads keep the interpreter (a blocking loop here
starved them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from tatbot_bringup.async_ros import sleep
from tatbot_interfaces.action import RunPolicy
from tatbot_interfaces.srv import StartEpisode, StopEpisode
from tatbot_vla_policy.core.streaming import Run

RETRACT_MARGIN = 3.0  # s beyond the retract's own duration that a run's result waits for it to finish


@dataclass(frozen=True)
class RunHooks:
    """What the action needs of the node."""

    loaded: Callable[[], str]  # the model's name when the node is active with a model, else ''
    running: Callable[[], bool]  # a run is in progress
    start: Callable[[Run], None]
    end: Callable[[Run, int, str], None]  # end with (code, message): hold, by the needle retract
    retracting: Callable[[], bool]
    awaiting_human: Callable[[], bool]  # the run ended under a human's hands: the arms stop once they hand back
    inference_ms: Callable[[], float]  # the last inference time, for the feedback


class RunAction:
    def __init__(self, node: Node, hooks: RunHooks, group):
        self._node, self._hooks, self._group = node, hooks, group
        self._start_client = node.create_client(
            StartEpisode, self._param("recorder_start_service"), callback_group=group
        )
        self._stop_client = node.create_client(StopEpisode, self._param("recorder_stop_service"), callback_group=group)
        self._server = ActionServer(
            node,
            RunPolicy,
            "~/run",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )

    def destroy(self) -> None:
        self._server.destroy()

    def _param(self, name: str):
        return self._node.get_parameter(name).value

    def _on_goal(self, goal) -> GoalResponse:
        if self._hooks.running():
            self._node.get_logger().warning("~/run goal rejected: a run is in progress (cancel it first)")
            return GoalResponse.REJECT
        if self._hooks.awaiting_human():
            self._node.get_logger().warning(
                "~/run goal rejected: the last run ended under a human's hands; its arms stop once they hand back"
            )
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _sleep(self, seconds: float) -> None:
        await sleep(self._node, seconds, self._group)

    async def _call(self, client, request):
        """Service call with the recorder timeout; None when the service is missing or silent."""
        deadline = time.monotonic() + self._param("recorder_timeout")
        while not client.service_is_ready():
            if time.monotonic() > deadline:
                return None
            await self._sleep(0.05)
        future = client.call_async(request)
        while not future.done():
            if time.monotonic() > deadline:
                client.remove_pending_request(future)
                return None
            await self._sleep(0.01)
        return future.result()

    @staticmethod
    def _refuse(goal_handle, code: int, reason: str) -> RunPolicy.Result:
        result = RunPolicy.Result(error_code=code, error_string=reason, message=reason)
        goal_handle.abort()
        return result

    async def _execute(self, goal_handle) -> RunPolicy.Result:
        goal, hooks = goal_handle.request, self._hooks
        model = hooks.loaded()
        if not model:
            reason = "vla_policy is not active: configure and activate it first"
            return self._refuse(goal_handle, RunPolicy.Result.ERROR_NOT_ACTIVE, reason)
        run = Run(task=goal.task or self._param("task"), max_steps=goal.max_steps)
        bag_path = ""
        if goal.record_eval:
            meta = json.dumps({"policy": model, "max_steps": goal.max_steps, "evaluation": True})
            started = await self._call(self._start_client, StartEpisode.Request(task=run.task, metadata_json=meta))
            if started is None or started.error_code != StartEpisode.Response.SUCCESS:
                reason = "no answer" if started is None else started.error_string
                return self._refuse(
                    goal_handle, RunPolicy.Result.ERROR_RECORDER, f"{self._start_client.srv_name}: {reason}"
                )
            bag_path = started.bag_path
        hooks.start(run)
        period = 1.0 / self._param("publish_rate")
        while not run.done.is_set():
            await self._sleep(period)
            if run.done.is_set():
                break
            if goal_handle.is_cancel_requested:
                hooks.end(run, RunPolicy.Result.ERROR_CANCELED, "canceled by the client")
                break
            feedback = RunPolicy.Feedback(step=run.steps, latency_ms=run.latency_ms, inference_ms=hooks.inference_ms())
            goal_handle.publish_feedback(feedback)
        success = run.error_code == RunPolicy.Result.SUCCESS
        if goal.record_eval:
            stopped = await self._call(self._stop_client, StopEpisode.Request(success=success, discard=False))
            if stopped is None or stopped.error_code != StopEpisode.Response.SUCCESS:
                self._node.get_logger().error(
                    f"{self._stop_client.srv_name} failed: the evaluation episode may be open"
                )
        # nor by the human's hand-back, which starts that retract (canceled or not: a client moving
        # the arms once the human lets go would race it)
        while hooks.awaiting_human() and hooks.loaded():
            await self._sleep(0.02)
        deadline = time.monotonic() + self._param("retract_distance") / self._param("retract_speed") + RETRACT_MARGIN
        while hooks.retracting() and time.monotonic() < deadline:
            await self._sleep(0.02)
        result = RunPolicy.Result(
            error_code=run.error_code,
            error_string="" if success else run.message,
            success=success,
            steps=run.steps,
            message=run.message,
            bag_path=bag_path,
        )
        if run.error_code == RunPolicy.Result.ERROR_CANCELED:
            goal_handle.canceled()
        elif success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return result
