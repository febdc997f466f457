"""arm_driver: a lifecycle node that makes both tatbot arms follow validated joint trajectories.

configure opens the backend (mock or trossen) and starts publishing the measured state;
activate enables motion; deactivate holds; cleanup and shutdown move to the park pose
(``sleep``) slowly and idle the joints. The trajectory logic is the pure core
(:mod:`tatbot_arm_driver.core`); this file converts messages and calls it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time
from collections import Counter

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from tatbot_arm_driver.backends import ArmBackend, BackendFault, Feedback, flowing_feedback
from tatbot_arm_driver.conversions import joint_state_msg, spec_from_msg, time_from_seconds, trajectory_point
from tatbot_arm_driver.core.follower import STALL_PERIODS, FollowerState, HoldReason, Outcome, TrajectoryFollower
from tatbot_arm_driver.core.interpolation import minimum_move_duration, smooth_move
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectoryRejected
from tatbot_arm_driver.core.watchdog import FeedbackWatchdog, LoopTiming
from tatbot_arm_driver.driver_parameters import PARAMETERS, make_backend
from tatbot_bringup import topics
from tatbot_bringup.async_ros import sleep
from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.qos import COMMANDS, JOINT_STATES, STATUS, use_process_transports
from tatbot_bringup.robot_config import RobotConfigError, load_robot_config
from tatbot_interfaces.action import ExecuteTrajectory
from tatbot_interfaces.srv import GoToPose

SIGNAL_CHECK_PERIOD = 0.1  # s, longest the executor waits before Python handles a pending Ctrl-C
_HISTORY = 32  # trajectories whose max tracking error is remembered for action results

# how an action goal ends when its trajectory was held before its end
_HELD_RESULT = {
    HoldReason.FAULT: (ExecuteTrajectory.Result.ERROR_FAULT, "hardware fault or stale feedback; holding"),
    HoldReason.DISABLED: (ExecuteTrajectory.Result.ERROR_NOT_ACTIVE, "driver deactivated or disabled"),
    HoldReason.CANCELED: (ExecuteTrajectory.Result.ERROR_CANCELED, "canceled by the client; holding"),
    HoldReason.REQUESTED: (ExecuteTrajectory.Result.ERROR_CANCELED, "stopped by ~/hold; holding"),
}


class ArmDriverNode(LifecycleNode):
    """Lifecycle driver of both arms (see the package README for the interface)."""

    def __init__(self, **kwargs):
        super().__init__("arm_driver", **kwargs)
        self._lock = threading.Lock()
        self._config = None
        self._backend: ArmBackend | None = None
        self._follower: TrajectoryFollower | None = None
        self._watchdog: FeedbackWatchdog | None = None
        self._loop_timing: LoopTiming | None = None
        self._feedback: Feedback | None = None
        self._period = 0.01
        self._active = False
        self._enabled = True
        self._fault: str | None = None
        self._state_report = ""
        self._clamped_steps = 0
        self._accepted = 0
        self._rejections: Counter[str] = Counter()
        self._last_rejection = ""
        self._last_command_rejected = False
        self._tracking_error: dict[int, float] = {}
        self._publishers_: list = []
        self._subscriptions_: list = []
        self._services_: list = []
        self._timers_: list = []
        self._action: ActionServer | None = None

        declare(self, PARAMETERS, configurable=lambda: self._backend is None)
        self.autostart_failed = False  # autostart's configure failed (main then exits 1)
        if self.get_parameter("autostart").value:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()
            else:
                self.autostart_failed = True

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        param = self.get_parameter
        try:
            config = load_robot_config(param("config").value or None)
            rate = param("rate").value or config.joint_state_rate
            limits = dataclasses.replace(SafetyLimits.from_config(config), control_period=1.0 / rate)
            config.pose(param("park_pose").value)
            backend = self._make_backend(config, 1.0 / rate)
            backend.open()
        except (RobotConfigError, BackendFault, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        try:
            feedback = flowing_feedback(backend, 1.0 / rate)
        except BackendFault as exc:
            self.get_logger().error(f"configure failed: first reads of the joint state: {exc}")
            self._close(backend)
            return TransitionCallbackReturn.FAILURE
        now = self._now()
        with self._lock:
            self._config, self._backend, self._period = config, backend, 1.0 / rate
            self._follower = TrajectoryFollower(
                limits,
                feedback.position,
                config.safety.command_timeout,
                stream_timeout=param("stream_timeout").value or config.stream_timeout,
            )
            self._watchdog = FeedbackWatchdog(config.safety.feedback_timeout)
            self._watchdog.update(feedback.sequence, now)
            self._loop_timing = LoopTiming(1.0 / rate, STALL_PERIODS)
            self._feedback = feedback
            self._fault = None
            self._enabled = True
        self._create_entities()
        self.get_logger().info(
            f"configured: {backend.name} backend, {len(config.joint_names)} joints, {rate:g} Hz control"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            try:
                feedback = self._backend.read()
            except BackendFault as exc:
                self.get_logger().error(f"activate failed: {exc}")
                return TransitionCallbackReturn.FAILURE
            self._follower.reset(feedback.position, HoldReason.STARTUP)
            self._active = True
        self.get_logger().info("active: motion enabled")
        self._publish_diagnostics()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            self._active = False
            self._follower.hold(HoldReason.DISABLED)
        self.get_logger().info("inactive: holding")
        self._publish_diagnostics()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._park_and_close()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._backend is not None:
            self._park_and_close()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._lock:
            if self._follower is not None:
                self._follower.hold(HoldReason.FAULT)
        if self._backend is not None:
            self._close(self._backend)
        self._destroy_entities()
        with self._lock:  # unconfigured again: its configure parameters may change (declare's check)
            self._backend = self._follower = self._watchdog = self._feedback = None
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ set-up

    def _make_backend(self, config, period: float) -> ArmBackend:
        return make_backend(lambda name: self.get_parameter(name).value, config, period)

    def _create_entities(self) -> None:
        self._joint_states = self.create_publisher(JointState, topics.JOINT_STATES, JOINT_STATES)
        self._commanded = self.create_publisher(JointState, "~/commanded", JOINT_STATES)
        self._diagnostics = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, STATUS)
        self._publishers_ = [self._joint_states, self._commanded, self._diagnostics]
        self._subscriptions_ = [
            self.create_subscription(JointTrajectory, "~/joint_trajectory", self._on_trajectory, COMMANDS)
        ]
        self._services_ = [
            self.create_service(Trigger, "~/hold", self._on_hold),
            self.create_service(SetBool, "~/enable", self._on_enable),
            self.create_service(GoToPose, "~/go_to_pose", self._on_go_to_pose),
        ]
        self._action = ActionServer(
            self,
            ExecuteTrajectory,
            "~/execute_trajectory",
            execute_callback=self._execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda goal: CancelResponse.ACCEPT,
        )
        self._timers_ = [
            self.create_timer(self._period, self._on_control_timer),
            self.create_timer(self.get_parameter("diagnostics_period").value, self._publish_diagnostics),
        ]

    def _destroy_entities(self) -> None:
        if self._action is not None:
            self._action.destroy()
            self._action = None
        for entities, destroy in (
            (self._timers_, self.destroy_timer),
            (self._services_, self.destroy_service),
            (self._subscriptions_, self.destroy_subscription),
            (self._publishers_, self.destroy_publisher),
        ):
            for entity in entities:
                destroy(entity)
            entities.clear()

    def _park_and_close(self) -> None:
        """Move to the park pose at the slow goal time (never faster than the velocity limits), let the
        arms settle there for the command timeout, then idle them."""
        for timer in self._timers_:
            timer.cancel()
        config, follower = self._config, self._follower
        with self._lock:
            self._active = False
            fault = self._fault
            goal = config.pose(self.get_parameter("park_pose").value)
            start = follower.current(self._now())[0]
            if fault is None and np.max(np.abs(goal - start)) > 0:
                limits = SafetyLimits.from_config(config)
                duration = max(config.goal_time_slow, minimum_move_duration(start, goal, limits.max_velocity))
                spec = smooth_move(config.joint_names, start, goal, duration, self._period)
                try:
                    follower.submit(spec, self._now())
                except TrajectoryRejected as exc:
                    fault = f"park move rejected: {exc}"
        if fault is None and follower.state == FollowerState.TRACKING:
            self.get_logger().info(f"moving to {self.get_parameter('park_pose').value!r} before idling")
            deadline = time.monotonic()
            while True:
                with self._lock:
                    self._control_step(self._now(), command=True)
                    # keep holding the park pose until the command timeout: the arms settle there
                    if follower.state == FollowerState.HOLDING:
                        break
                deadline += self._period
                time.sleep(max(deadline - time.monotonic(), 0.0))
        elif fault is not None:
            self.get_logger().error(f"not moving to the park pose ({fault}); idling where the arms are")
        self._close(self._backend)
        self._destroy_entities()
        with self._lock:
            self._backend = self._follower = self._watchdog = self._feedback = None

    def _close(self, backend: ArmBackend) -> None:
        try:
            backend.close()
        except BackendFault as exc:
            self.get_logger().error(f"closing the backend: {exc}")

    # ------------------------------------------------------------------ control loop

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_control_timer(self) -> None:
        with self._lock:
            if self._follower is not None:
                self._loop_timing.step(time.monotonic())
                self._control_step(self._now(), command=self._motion_allowed())

    def _motion_allowed(self) -> bool:
        return self._active and self._enabled and self._fault is None

    def _control_step(self, now: float, command: bool) -> None:
        """Read, step the follower, command, publish (lock held)."""
        feedback = None
        try:
            feedback = self._backend.read()
        except BackendFault as exc:
            self._set_fault(f"read failed: {exc}")
        if feedback is not None:
            self._watchdog.update(feedback.sequence, now)
            self._feedback = feedback
        if self._fault is None and self._watchdog.stale(now):
            self._set_fault(
                f"stale feedback: no new joint state for {self._watchdog.age(now):.3f} s "
                f"(limit {self._watchdog.timeout} s)"
            )
        follower = self._follower
        setpoint = follower.step(now)
        self._clamped_steps += setpoint.clamped
        if command and self._fault is None:
            try:
                self._backend.command(setpoint.position, setpoint.velocity)
            except BackendFault as exc:
                self._set_fault(f"command failed: {exc}")
        if feedback is not None and setpoint.state != FollowerState.HOLDING:
            error = float(np.max(np.abs(setpoint.position - feedback.position)))
            key = follower.trajectory_id
            self._tracking_error[key] = max(self._tracking_error.get(key, 0.0), error)
            self._tracking_error.pop(key - _HISTORY, None)
        if self.context.ok():
            stamp = time_from_seconds(now)
            names = self._config.joint_names
            if feedback is not None:  # never publish a made-up state for a failed read
                self._joint_states.publish(joint_state_msg(stamp, names, feedback.position, feedback.velocity))
            self._commanded.publish(joint_state_msg(stamp, names, setpoint.position, setpoint.velocity))
        report = self._state_text()
        if report != self._state_report:
            self._state_report = report
            self.get_logger().info(f"state: {report}")
            self._publish_diagnostics_locked()

    def _state_text(self) -> str:
        follower = self._follower
        if follower.state == FollowerState.HOLDING:
            return f"holding ({follower.hold_reason})"
        return str(follower.state)

    def _set_fault(self, message: str) -> None:
        if self._fault is None:
            self.get_logger().error(f"fault, holding: {message}; call ~/enable true to clear once fixed")
        self._fault = message
        self._follower.hold(HoldReason.FAULT)
        self._publish_diagnostics_locked()

    # ------------------------------------------------------------------ commands

    def _submit(self, msg: JointTrajectory, source: str, streamed: bool = False) -> int:
        """Validate and start a trajectory (lock held); raise TrajectoryRejected after reporting it."""
        try:
            trajectory_id = self._follower.submit(spec_from_msg(msg), self._now(), streamed=streamed)
        except TrajectoryRejected as exc:
            self._last_command_rejected = True
            self._rejections[exc.reason.value] += 1
            self._last_rejection = f"{source}: {exc}"
            self.get_logger().warning(f"rejected trajectory from {source}: {exc}", throttle_duration_sec=1.0)
            self._publish_diagnostics_locked()
            raise
        self._accepted += 1
        self._last_command_rejected = False
        self._tracking_error[trajectory_id] = 0.0
        return trajectory_id

    def _not_active_reason(self) -> str:
        if self._follower is None or not self._active:
            return "driver is not active (lifecycle); activate it first"
        if self._fault is not None:
            return f"driver is faulted ({self._fault}); call ~/enable true to clear"
        return "driver is disabled; call ~/enable true"

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        with self._lock:
            if not self._motion_allowed():
                self.get_logger().warning(
                    f"ignoring trajectory on ~/joint_trajectory: {self._not_active_reason()}",
                    throttle_duration_sec=1.0,
                )
                return
            with contextlib.suppress(TrajectoryRejected):  # reported by _submit; nothing moves
                self._submit(msg, "~/joint_trajectory", streamed=True)

    def _on_hold(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            if self._follower is None:
                response.success, response.message = False, "driver is not configured"
                return response
            self._follower.hold(HoldReason.REQUESTED)
            position = self._follower.position
        response.success = True
        response.message = f"holding at {np.round(position, 4).tolist()}"
        return response

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            if self._follower is None or not self._active:
                response.success, response.message = (
                    False,
                    "driver is not active (lifecycle); activate it first",
                )
                return response
            if not request.data:
                self._enabled = False
                self._follower.hold(HoldReason.DISABLED)
                response.success, response.message = True, "disabled: holding"
                return response
            try:
                feedback = self._backend.read()
            except BackendFault as exc:
                response.success, response.message = False, f"cannot enable: {exc}"
                return response
            cleared = self._fault
            self._fault = None
            self._watchdog.reset()
            self._watchdog.update(feedback.sequence, self._now())
            if cleared is not None or not self._enabled:
                self._follower.reset(feedback.position, HoldReason.STARTUP)
            self._enabled = True
            response.success = True
            response.message = "enabled" + (f" (cleared fault: {cleared})" if cleared else "")
        self._publish_diagnostics()
        return response

    def _on_go_to_pose(self, request: GoToPose.Request, response: GoToPose.Response) -> GoToPose.Response:
        with self._lock:
            if not self._motion_allowed():
                response.error_code, response.error_string = (
                    GoToPose.Response.ERROR_NOT_ACTIVE,
                    self._not_active_reason(),
                )
                return response
            config = self._config
            if request.pose_name not in config.poses:
                response.error_code = GoToPose.Response.ERROR_UNKNOWN_POSE
                response.error_string = f"unknown pose {request.pose_name!r}; poses: {sorted(config.poses)}"
                return response
            if not (np.isfinite(request.duration) and request.duration >= 0):
                response.error_code = GoToPose.Response.ERROR_REJECTED
                response.error_string = f"duration must be >= 0 s (0: automatic), got {request.duration}"
                return response
            now = self._now()
            start = self._follower.current(now)[0]
            goal = config.pose(request.pose_name)
            duration = request.duration or max(
                config.goal_time_slow,
                minimum_move_duration(start, goal, SafetyLimits.from_config(config).max_velocity),
            )
            spec = smooth_move(config.joint_names, start, goal, duration, self._period)
            try:
                self._follower.submit(spec, now)
            except TrajectoryRejected as exc:
                response.error_code = GoToPose.Response.ERROR_REJECTED
                response.error_string = f"{exc} (a longer duration or 0 for automatic may fit)"
                return response
            self._accepted += 1
        response.error_code = GoToPose.Response.SUCCESS
        self.get_logger().info(f"moving to {request.pose_name!r} in {duration:.2f} s")
        return response

    async def _execute(self, goal_handle) -> ExecuteTrajectory.Result:
        # a coroutine: it awaits timers between polls and holds no executor thread (the node spins
        # single-threaded; a MultiThreadedExecutor busy-waits and stalls the 100 Hz control timer)
        result = ExecuteTrajectory.Result()
        with self._lock:
            if not self._motion_allowed():
                result.error_code, result.error_string = (
                    ExecuteTrajectory.Result.ERROR_NOT_ACTIVE,
                    self._not_active_reason(),
                )
                goal_handle.abort()
                return result
            try:
                trajectory_id = self._submit(goal_handle.request.trajectory, "~/execute_trajectory")
            except TrajectoryRejected as exc:
                result.error_code, result.error_string = (
                    ExecuteTrajectory.Result.ERROR_INVALID_TRAJECTORY,
                    str(exc),
                )
                goal_handle.abort()
                return result
        feedback_period = self.get_parameter("feedback_period").value
        next_feedback = time.monotonic() + feedback_period
        while True:
            # poll once per control period: the result leaves within one period of the outcome
            await sleep(self, self._period)
            with self._lock:
                if self._follower is None:
                    result.error_code = ExecuteTrajectory.Result.ERROR_NOT_ACTIVE
                    result.error_string = "driver was cleaned up"
                    goal_handle.abort()
                    return result
                outcome, reason = self._follower.outcome(trajectory_id)
                result.max_tracking_error = self._tracking_error.get(trajectory_id, 0.0)
                if goal_handle.is_cancel_requested and outcome == Outcome.RUNNING:
                    self._follower.hold(HoldReason.CANCELED)
                    outcome, reason = Outcome.HELD, HoldReason.CANCELED
                feedback = None
                if outcome == Outcome.RUNNING and time.monotonic() >= next_feedback:
                    feedback, next_feedback = self._action_feedback(), next_feedback + feedback_period
            if outcome == Outcome.RUNNING:
                if feedback is not None:
                    goal_handle.publish_feedback(feedback)
                continue
            if outcome == Outcome.REACHED:
                result.error_code = ExecuteTrajectory.Result.SUCCESS
                goal_handle.succeed()
            elif outcome == Outcome.PREEMPTED:
                result.error_code = ExecuteTrajectory.Result.ERROR_PREEMPTED
                result.error_string = "replaced by a newer trajectory"
                goal_handle.abort()
            else:
                result.error_code, result.error_string = _HELD_RESULT[reason]
                if reason == HoldReason.CANCELED and goal_handle.is_cancel_requested:
                    goal_handle.canceled()
                else:
                    goal_handle.abort()
            return result

    def _finished(self, trajectory_id: int) -> bool:
        return self._follower is None or self._follower.outcome(trajectory_id)[0] != Outcome.RUNNING

    def _action_feedback(self) -> ExecuteTrajectory.Feedback:
        now = self._now()
        desired, velocity = self._follower.current(now)
        feedback = ExecuteTrajectory.Feedback()
        feedback.header.stamp = time_from_seconds(now)
        feedback.joint_names = list(self._config.joint_names)
        feedback.desired = trajectory_point(desired, velocity)
        if self._feedback is not None:
            actual = self._feedback
            feedback.actual = trajectory_point(actual.position, actual.velocity)
            feedback.error = trajectory_point(desired - actual.position, velocity - actual.velocity)
        return feedback

    # ------------------------------------------------------------------ diagnostics

    def _publish_diagnostics(self) -> None:
        with self._lock:
            self._publish_diagnostics_locked()

    def _publish_diagnostics_locked(self) -> None:
        if self._follower is None or not self.context.ok():
            return
        name = self.get_name()
        backend = self._backend.name
        follower = self._follower
        if self._fault is not None:
            level, message = DiagnosticStatus.ERROR, f"fault, holding: {self._fault}"
        elif not self._active:
            level, message = DiagnosticStatus.WARN, "inactive: holding"
        elif not self._enabled:
            level, message = DiagnosticStatus.WARN, "disabled: holding"
        else:
            level, message = DiagnosticStatus.OK, self._state_text()
        now = self._now()
        values = {
            "lifecycle": "active" if self._active else "inactive",
            "enabled": str(self._enabled),
            "state": str(follower.state),
            "hold_reason": str(follower.hold_reason or ""),
            "trajectory_id": str(follower.trajectory_id),
            "max_tracking_error": f"{self._tracking_error.get(follower.trajectory_id, 0.0):.6f}",
            "clamped_steps": str(self._clamped_steps),
            "feedback_age": f"{self._watchdog.age(now):.4f}",
            "step_gap_max": f"{self._loop_timing.take_window():.4f}",
            "step_gap_max_since_configure": f"{self._loop_timing.longest:.4f}",
            "late_steps": str(self._loop_timing.late),
        }
        controller = DiagnosticStatus(
            level=level,
            name=f"{name}: controller",
            message=message,
            hardware_id=backend,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        counts = {"accepted": str(self._accepted), "rejected": str(sum(self._rejections.values()))}
        counts.update({f"rejected_{reason}": str(n) for reason, n in sorted(self._rejections.items())})
        validation = DiagnosticStatus(
            level=DiagnosticStatus.WARN if self._last_command_rejected else DiagnosticStatus.OK,
            name=f"{name}: validation",
            message=f"rejected {self._last_rejection}" if self._last_command_rejected else "last command accepted",
            hardware_id=backend,
            values=[KeyValue(key=k, value=v) for k, v in counts.items()],
        )
        array = DiagnosticArray(status=[controller, validation])
        array.header.stamp = time_from_seconds(now)
        self._diagnostics.publish(array)


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return PARAMETERS


def main(args=None) -> int:
    exit_on_help(args, "tatbot_arm_driver arm_driver", __doc__, schema)
    # no rclpy signal handler: Ctrl-C must leave the context up so that shutdown can park the arms.
    # Python's own KeyboardInterrupt does it, also when this process inherited SIGINT ignored (a
    # script's background job, `arm_driver &`), where Python would leave it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # the 100 Hz loop publishes /joint_states: a frozen subscriber must not block it (qos.py)
    use_process_transports()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = ArmDriverNode()
        if node.autostart_failed:  # logged by configure; exit so that launch (and the user) notice
            code = 1
        else:
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                # spin_once with a timeout, not spin(): Python handles SIGINT between the waits even
                # when nothing wakes the executor (no timers run before configure)
                while rclpy.ok():
                    executor.spin_once(timeout_sec=SIGNAL_CHECK_PERIOD)
            finally:
                node.trigger_shutdown()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ParameterError as exc:
        code = exit_on_error("arm_driver", exc)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
