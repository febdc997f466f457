"""DriverClient: what a node needs to command the arm driver.

Used by nodes that drive the arms from a worker thread (stroke_demo, evaluate):
the newest joint positions in canonical order, paths streamed as trajectories on
the driver's topic (zero stamp = "from now"), and slow moves sent as
``~/execute_trajectory`` goals (a lone trajectory, never part of a stream: the
driver's stream watchdog does not stop them) that wait until the pose is reached. A move waits
while a human is in control (the teleop node's intervention flag): their next step would replace
it. Blocking calls must not run in an executor callback.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from tatbot_arm_driver.conversions import msg_from_spec
from tatbot_arm_driver.core.interpolation import smooth_move
from tatbot_arm_driver.core.validation import TrajectorySpec
from tatbot_bringup import topics
from tatbot_bringup.async_ros import send_goal
from tatbot_bringup.qos import COMMANDS, JOINT_STATES, LATCHED
from tatbot_interfaces.action import ExecuteTrajectory

MOVE_STEP = 0.05  # s between the points of a move_to path


class DriverError(RuntimeError):
    """The driver refused a command or did not do it."""


class DriverTimeout(DriverError):
    """The driver did not answer or the arms did not reach a pose in time."""


def wait_until(predicate, timeout: float, what: str, node: Node) -> None:
    """Poll ``predicate`` until true; DriverTimeout naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise DriverTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        if not node.context.ok():
            raise DriverTimeout(f"shut down while waiting for {what}")
        time.sleep(0.01)


class DriverClient:
    def __init__(
        self,
        node: Node,
        joint_names: list[str],
        trajectory_topic: str = topics.JOINT_TRAJECTORY,
        joint_states_topic: str = topics.JOINT_STATES,
        execute_action: str = topics.EXECUTE_TRAJECTORY,
        intervention_topic: str = topics.INTERVENTION,
    ):
        self.node = node
        self.names = list(joint_names)
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._human = False
        node.create_subscription(JointState, joint_states_topic, self._on_joint_states, JOINT_STATES)
        node.create_subscription(Bool, intervention_topic, self._on_intervention, LATCHED)
        self.publisher = node.create_publisher(JointTrajectory, trajectory_topic, COMMANDS)
        self.action = ActionClient(node, ExecuteTrajectory, execute_action)

    def _on_joint_states(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if all(n in index for n in self.names):
            q = np.array([msg.position[index[n]] for n in self.names])
            with self._lock:
                self._q = q

    def _on_intervention(self, msg: Bool) -> None:
        self._human = msg.data

    @property
    def human_in_control(self) -> bool:
        """The teleop node says a human holds the deadman (false without a teleop node)."""
        return self._human

    def wait_for_human(self) -> None:
        """Until no human is in control (at once without one): they may take all the time they need."""
        if self._human:
            self.node.get_logger().info("a human is in control: waiting for them to release the deadman")
            wait_until(lambda: not self._human, math.inf, "the human to release the deadman", self.node)

    def current(self) -> np.ndarray | None:
        """Newest measured joint positions (canonical order), None before the first message."""
        with self._lock:
            return None if self._q is None else self._q.copy()

    def wait_ready(self, timeout: float) -> None:
        """Until /joint_states carries every joint and the driver subscribes to our trajectories."""
        wait_until(lambda: self.current() is not None, timeout, "/joint_states with every joint", self.node)
        wait_until(
            lambda: self.publisher.get_subscription_count() > 0,
            timeout,
            f"a subscriber (the driver) on {self.publisher.topic_name}",
            self.node,
        )
        wait_until(self.action.server_is_ready, timeout, "the driver's ~/execute_trajectory action", self.node)

    def publish_path(self, path: np.ndarray, dt: float) -> None:
        """Points at dt, 2 dt, ... from the driver's time of reception (zero stamp)."""
        path = np.atleast_2d(path)
        times = dt * np.arange(1, len(path) + 1)
        self.publisher.publish(msg_from_spec(TrajectorySpec(tuple(self.names), 0.0, times, path)))

    def move_to(self, target: np.ndarray, goal_time: float, tolerance: float, timeout: float, what: str) -> None:
        """A smooth rest-to-rest move from the measured position, ``goal_time`` long (the driver rejects
        a lone far point as first_point_jump), as an ~/execute_trajectory goal; returns once the goal
        succeeded and every joint is within ``tolerance``. DriverError when the driver refuses it.
        While a human is in control it waits for their hand-back first, then moves from where they
        left the arms."""
        self.wait_for_human()
        spec = smooth_move(self.names, self.current(), target, goal_time, MOVE_STEP)
        sent = send_goal(self.node, self.action, ExecuteTrajectory.Goal(trajectory=msg_from_spec(spec)))
        wait_until(sent.done, timeout, f"the driver to answer the move to {what}", self.node)
        handle = sent.result()
        if not handle.accepted:
            raise DriverError(f"the driver refused the move to {what} (goal rejected: is it active?)")
        result = handle.get_result_async()
        wait_until(result.done, goal_time + timeout, f"the move to {what} to end", self.node)
        outcome = result.result().result
        if outcome.error_code != ExecuteTrajectory.Result.SUCCESS:
            raise DriverError(f"the move to {what} failed: {outcome.error_string}")
        wait_until(
            lambda: np.max(np.abs(self.current() - target)) <= tolerance,
            timeout,
            f"the arms to reach {what} (tolerance {tolerance})",
            self.node,
        )
