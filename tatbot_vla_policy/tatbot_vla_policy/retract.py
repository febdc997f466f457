"""When a run ends: back both needles out of the skin along their axes, then hold or go to ready.

The retract is one lone trajectory (RobotKinematics.retract_path) sent to the driver's
``~/execute_trajectory`` action: the driver starts it from its current setpoint and velocity, so
it replaces whatever the policy streamed without a jump, runs it to its end (a lone trajectory
is not a stream: the stream watchdog does not cut it) and holds at the end. Everything here is
asynchronous (futures and their callbacks): the caller, a policy tick or ``~/run``'s coroutine,
never waits. When the retract cannot be sent (no fresh joint state, no action server, a pose out
of reach, the driver refusing it), ``hold`` is called instead: the arms stop where they are.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
from rclpy.action import ActionClient
from rclpy.node import Node
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from tatbot_arm_driver.conversions import time_from_seconds
from tatbot_bringup.async_ros import send_goal
from tatbot_bringup.kinematics import IKError, RobotKinematics
from tatbot_interfaces.action import ExecuteTrajectory
from tatbot_interfaces.srv import GoToPose

AFTER_RUN = ("hold", "ready")


def retract_trajectory(
    kinematics: RobotKinematics, joint_names: list[str], q: np.ndarray, distance: float, speed: float, rate: float
) -> JointTrajectory:
    """The retract from ``q`` as a JointTrajectory: ``distance`` (m) at ``speed`` (m/s), one point
    per 1/``rate`` s (at least two), starting now (zero stamp)."""
    points = max(2, math.ceil(distance / speed * rate))
    path = kinematics.retract_path(q, distance, points)
    msg = JointTrajectory(joint_names=list(joint_names))
    for k, row in enumerate(path):
        msg.points.append(
            JointTrajectoryPoint(positions=row.tolist(), time_from_start=time_from_seconds((k + 1) / rate))
        )
    return msg


class NeedleRetract:
    """Sends the retract (and the move to ready after it) for a node; see the module docstring."""

    def __init__(
        self,
        node: Node,
        kinematics: RobotKinematics | None,
        joint_names: list[str],
        action: str,
        go_to_pose_service: str,
        hold: Callable[[], None],
        callback_group=None,
    ):
        self._node, self._kinematics, self._joint_names, self._hold = node, kinematics, joint_names, hold
        self._action = action
        self._client = ActionClient(node, ExecuteTrajectory, action, callback_group=callback_group)
        self._pose_client = node.create_client(GoToPose, go_to_pose_service, callback_group=callback_group)
        self.retracts = 0  # sent and accepted
        self.last = ""  # what happened to the last one, for /diagnostics and logs
        self._busy = 0  # goals and requests in flight (started from the publish thread, ended in callbacks)
        self._busy_lock = threading.Lock()

    def _count(self, change: int) -> None:
        with self._busy_lock:
            self._busy += change

    @property
    def busy(self) -> bool:
        """A retract (or the GoToPose request after it) has been sent and not answered yet."""
        return self._busy > 0

    def destroy(self) -> None:
        self._client.destroy()
        self._node.destroy_client(self._pose_client)

    def start(self, q: np.ndarray | None, distance: float, speed: float, rate: float, after: str) -> None:
        """Retract from ``q`` (the newest joint state, None when it is stale) then ``after``
        ("hold": stay there; "ready": GoToPose ready); hold at once if it cannot be sent."""
        if distance <= 0:
            return self._fallback("retract_distance is 0", after)
        if q is None:
            return self._fallback("no fresh joint state to retract from", after=None)
        if self._kinematics is None:
            return self._fallback("no arm model", after=None)
        if not self._client.server_is_ready():
            return self._fallback(f"{self._action} is not available", after=None)
        try:
            msg = retract_trajectory(self._kinematics, self._joint_names, q, distance, speed, rate)
        except IKError as exc:
            return self._fallback(f"cannot retract: {exc}", after=None)
        self._count(+1)
        try:
            future = send_goal(self._node, self._client, ExecuteTrajectory.Goal(trajectory=msg))
        except BaseException:
            self._count(-1)
            raise
        future.add_done_callback(lambda f: self._on_goal(f, after))

    def _fallback(self, reason: str, after: str | None) -> None:
        self.last = f"held in place ({reason})"
        if reason != "retract_distance is 0":
            self._node.get_logger().warning(f"needles not retracted: {self.last}")
        self._hold()
        if after == "ready":
            self._go_to_ready()

    def _on_goal(self, future, after: str) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            self._count(-1)
            return self._fallback("the driver refused the retract goal", after=None)
        self.retracts += 1
        handle.get_result_async().add_done_callback(lambda f: self._on_result(f, after))

    def _on_result(self, future, after: str) -> None:
        try:
            self._finish(future.result().result, after)
        finally:
            self._count(-1)

    def _finish(self, result, after: str) -> None:
        if result.error_code == ExecuteTrajectory.Result.ERROR_INVALID_TRAJECTORY:
            self.last = f"retract refused by the driver: {result.error_string}"
            self._node.get_logger().warning(self.last)
            return self._hold()  # the driver still follows the last stream: stop it
        if result.error_code != ExecuteTrajectory.Result.SUCCESS:
            # preempted by a newer command (the next move), canceled or faulted (the driver holds)
            self.last = f"retract ended early: {result.error_string or result.error_code}"
            return
        self.last = "retracted"
        if after == "ready":
            self._go_to_ready()

    def _go_to_ready(self) -> None:
        if not self._pose_client.service_is_ready():
            self._node.get_logger().warning(f"cannot go to ready: {self._pose_client.srv_name} is not available")
            return
        self._count(+1)
        future = self._pose_client.call_async(GoToPose.Request(pose_name="ready"))
        future.add_done_callback(lambda _f: self._count(-1))
