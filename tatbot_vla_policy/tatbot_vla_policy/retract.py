"""When a run ends: back both needles out of the skin along their axes, then hold or go to ready.

The retract is one lone trajectory (RobotKinematics.retract_path) sent to the driver's
``~/execute_trajectory`` action: the driver starts it from its current setpoint and velocity, so
it replaces whatever the policy streamed without a jump, runs it to its end (a lone trajectory
is not a stream: the stream watchdog does not cut it) and holds at the end. When the driver is
following a chunk, the retract continues that chunk for a short lead and backs out from its
point (:func:`retract_spec`): a retract from the joints measured when the run ended would start
behind the moving needles, and the driver would drag them back along the skin to it. Everything here is
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

from tatbot_arm_driver.conversions import msg_from_spec
from tatbot_arm_driver.core.validation import TrajectorySpec
from tatbot_bringup.async_ros import send_goal
from tatbot_bringup.kinematics import IKError, RobotKinematics
from tatbot_interfaces.action import ExecuteTrajectory
from tatbot_interfaces.srv import GoToPose

AFTER_RUN = ("hold", "ready")
PLAN_LEAD = 0.3  # s: a retract from the plan starts this far ahead of its sending (the goal's latency, with margin)
PLAN_TOLERANCE = 0.02  # rad (m for carriages): the measured joints this near the plan's pose say the driver follows it


def retract_spec(
    kinematics: RobotKinematics,
    joint_names: list[str],
    q: np.ndarray,
    distance: float,
    speed: float,
    rate: float,
    plan: TrajectorySpec | None = None,
    now: float = 0.0,
    lead: float = PLAN_LEAD,
    tolerance: float = PLAN_TOLERANCE,
) -> TrajectorySpec:
    """The retract: ``distance`` (m) back along each needle at ``speed`` (m/s), one point per
    1/``rate`` s (at least two).

    ``plan``: the chunk the driver is following (the last one published; absolute stamp), or None
    when the arms hold or a human moved them: then from ``q`` (the measured joints), starting at
    the goal's arrival (zero stamp). With a plan, the retract starts from the plan's first point
    due at least ``lead`` s after ``now`` (ROS time), and keeps the plan's points before it: the
    driver goes on along the plan until then, however long the goal takes to arrive (within
    ``lead``), and backs out from exactly where the plan put the needles. A plan that ends sooner
    ends it; one already over leaves the arms at its last point. A plan ``q`` is not within
    ``tolerance`` of at ``now`` is not being followed (the driver held: a stream timeout, a fault,
    a refused chunk) and is ignored."""
    dt = 1.0 / rate
    points = max(2, math.ceil(distance / speed * rate))
    names = tuple(joint_names)
    if plan is not None and np.max(np.abs(plan_pose(plan, now) - q)) > tolerance:
        plan = None
    if plan is None:
        path = kinematics.retract_path(q, distance, points)
        return TrajectorySpec(names, 0.0, dt * np.arange(1, points + 1), path)
    due = plan.stamp + np.asarray(plan.time_from_start, dtype=float)
    ahead = np.flatnonzero(due >= now + lead)
    k = int(ahead[0]) if len(ahead) else len(due) - 1
    start = max(float(due[k]), now)
    keep = due[: k + 1] > now  # the points still ahead of the driver, the start point included
    path = kinematics.retract_path(plan.positions[k], distance, points)
    times = np.concatenate((due[: k + 1][keep], start + dt * np.arange(1, points + 1)))
    positions = np.vstack((plan.positions[: k + 1][keep], path))
    return TrajectorySpec(names, now, times - now, positions)


def plan_pose(plan: TrajectorySpec, t: float) -> np.ndarray:
    """The plan's joints at ROS time ``t``, linear between its points (held before and after them)."""
    due = plan.stamp + np.asarray(plan.time_from_start, dtype=float)
    return np.array([np.interp(t, due, column) for column in np.asarray(plan.positions).T])


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

    def start(
        self,
        q: np.ndarray | None,
        distance: float,
        speed: float,
        rate: float,
        after: str,
        plan: TrajectorySpec | None = None,
        now: float = 0.0,
    ) -> None:
        """Retract (:func:`retract_spec`: along ``plan``, the chunk the driver follows, else from
        ``q``, the newest joint state) then ``after`` ("hold": stay there; "ready": GoToPose ready);
        hold at once if it cannot be sent (``q`` None: the joint state is stale)."""
        if distance <= 0:
            return self._fallback("retract_distance is 0", after)
        if q is None:
            return self._fallback("no fresh joint state to retract from", after=None)
        if self._kinematics is None:
            return self._fallback("no arm model", after=None)
        if not self._client.server_is_ready():
            return self._fallback(f"{self._action} is not available", after=None)
        try:
            spec = retract_spec(self._kinematics, self._joint_names, q, distance, speed, rate, plan, now)
        except IKError as exc:
            return self._fallback(f"cannot retract: {exc}", after=None)
        self._count(+1)
        try:
            future = send_goal(self._node, self._client, ExecuteTrajectory.Goal(trajectory=msg_from_spec(spec)))
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
