"""teleop: needle corrections from a gamepad (sensor_msgs/Joy) while a deadman button is held.

While the deadman is held (and /joy is fresh) the node is in control: it announces it on the
intervention topic (std_msgs/Bool, latched; vla_policy pauses while it is true, stroke_demo
waits, the recorder records it), starts from the measured joint positions and, every period,
moves each needle tip by its stick in the plane of the work surface and both needles along
their own axes by the depth buttons (core.teleop). Each step is solved by inverse kinematics,
checked against the work surface, the depth limit and the driver's own validator, and sent to
the driver's ~/joint_trajectory like any other command; a step that fails a check is refused,
named in the log and counted on /diagnostics, and nothing moves. Releasing the deadman (or /joy
going silent for joy_timeout) ends the intervention: the driver holds at the last step.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool

from tatbot_arm_driver.client import DriverClient
from tatbot_arm_driver.core.teleop import CorrectionRefused, JoyMapping, correction_target, is_still
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectoryRejected, TrajectorySpec, validate_trajectory
from tatbot_bringup import qos, topics
from tatbot_bringup.async_ros import spin
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.robot_config import RobotConfig, RobotConfigError, load_robot_config

CONFIG = Param("config", "", "robot.yaml path; empty = tatbot_bringup's")
# game_controller_node (SDL) numbering: LEFTSHOULDER, left stick, right stick, DPAD_DOWN/UP
DEFAULT_PLANE_AXES = ((1, 0), (3, 2))  # per arm in robot.yaml order: (axis for +x, axis for +y)


def mapping_parameters(config: RobotConfig) -> tuple[Param, ...]:
    """The gamepad mapping's parameters (its arms name the stick parameters); sim_operator
    declares the same ones, so that one parameter file configures both."""
    sticks = []
    for arm, (ax, ay) in zip(config.arms, DEFAULT_PLANE_AXES, strict=False):
        sticks += [
            Param(f"{arm.name}_x_axis", ax, f"Joy axis moving the {arm.name} needle tip along +x (-1: none)", -1, 63),
            Param(f"{arm.name}_y_axis", ay, f"Joy axis moving the {arm.name} needle tip along +y (-1: none)", -1, 63),
        ]
    return (
        Param("joy_topic", topics.JOY, "sensor_msgs/Joy topic"),
        Param("deadman_button", 9, "Joy button that must be held for any motion (LEFTSHOULDER)", 0, 63),
        *sticks,
        Param("deeper_button", 12, "Joy button pushing both needles deeper along their axes (DPAD_DOWN)", 0, 63),
        Param("shallower_button", 11, "Joy button backing both needles out (DPAD_UP)", 0, 63),
        Param("speed", 0.01, "needle-tip speed at full stick, m/s", 0.0, 0.1),
        Param("depth_speed", 0.002, "needle speed along its axis while a depth button is held, m/s", 0.0, 0.02),
        Param("deadzone", 0.1, "stick values below this count as 0", 0.0, 0.9),
    )


def mapping_from(values: dict, config: RobotConfig) -> JoyMapping:
    """The JoyMapping of declared :func:`mapping_parameters` ``values``."""
    return JoyMapping(
        deadman_button=values["deadman_button"],
        plane_axes={
            a.name: (values.get(f"{a.name}_x_axis", -1), values.get(f"{a.name}_y_axis", -1)) for a in config.arms
        },
        deeper_button=values["deeper_button"],
        shallower_button=values["shallower_button"],
        speed=values["speed"],
        depth_speed=values["depth_speed"],
        deadzone=values["deadzone"],
    )


# also the simulated person's: it backs out a needle deeper than this
MAX_DEPTH = Param("max_depth", 0.002, "deepest a needle tip may go below the work surface, m", 0.0, 0.01)


def parameters(config: RobotConfig) -> tuple[Param, ...]:
    """teleop's parameters after ``config``."""
    return (
        *mapping_parameters(config),
        Param("intervention_topic", topics.INTERVENTION, "std_msgs/Bool output: true while a human is in control"),
        MAX_DEPTH,
        Param("joy_timeout", 0.5, "s without /joy after which the deadman counts as released", 0.05, 5.0),
        Param("rate", config.policy_rate, "correction steps per second, Hz", 1.0, 100.0),
    )


class TeleopNode(Node):
    def __init__(self, **kwargs):
        super().__init__("teleop", **kwargs)
        self.in_control = False  # before anything can fail: destroy_node reads it
        self.config = load_robot_config(declare(self, [CONFIG])["config"] or None)
        v = declare(self, parameters(self.config))
        self.mapping = mapping_from(v, self.config)
        self.max_depth, self.joy_timeout, self.dt = v["max_depth"], v["joy_timeout"], 1.0 / v["rate"]
        self.kinematics = RobotKinematics.from_config(self.config)
        self.limits = SafetyLimits.from_config(self.config)
        self.driver = DriverClient(self, self.config.joint_names)
        self.intervention_pub = self.create_publisher(Bool, v["intervention_topic"], qos.LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.STATUS)
        self.create_subscription(Joy, v["joy_topic"], self._on_joy, qos.JOINT_STATES)
        self.joy: Joy | None = None
        self.joy_time = -np.inf  # monotonic receive time of self.joy
        # the last commanded pose while in control; None: the next command starts from the measured one
        self.target: np.ndarray | None = None
        self.interventions = 0
        self.refused = 0
        self.last_refusal = ""
        self._announce(False)
        self.create_timer(self.dt, self._step)
        self.create_timer(1.0, self._publish_diagnostics)

    def _on_joy(self, msg: Joy) -> None:
        self.joy, self.joy_time = msg, time.monotonic()

    def _announce(self, in_control: bool) -> None:
        self.intervention_pub.publish(Bool(data=in_control))

    def _step(self) -> None:
        joy = self.joy
        fresh = joy is not None and time.monotonic() - self.joy_time <= self.joy_timeout
        held = fresh and self.mapping.deadman(joy.buttons)
        if held and not self.in_control:
            if self.driver.current() is None:
                self.get_logger().warning("deadman held, no /joint_states: not taking over", throttle_duration_sec=5)
                return
            self.in_control, self.target = True, None
            self.interventions += 1
            self._announce(True)
            self.get_logger().info("deadman held: a human is in control")
            return  # commands start next period, once the intervention is announced
        if not held:
            if self.in_control:
                self.in_control, self.target = False, None
                self._announce(False)
                why = "released" if fresh else f"silent for more than {self.joy_timeout:g} s"
                self.get_logger().info(f"deadman {why}: control handed back (the driver holds the last step)")
            return
        command = self.mapping.command(joy.axes, joy.buttons)
        if is_still(command):
            return
        if self.target is None:  # where the arms are now: a policy's last chunk may have moved them since
            self.target = self.driver.current()
        try:
            target = correction_target(
                self.kinematics, self.config.work_surface, self.max_depth, self.target, command, self.dt
            )
            spec = TrajectorySpec(tuple(self.config.joint_names), 0.0, np.array([self.dt]), target[None])
            validate_trajectory(spec, self.limits, self.driver.current(), self.get_clock().now().nanoseconds * 1e-9)
        except (CorrectionRefused, TrajectoryRejected) as exc:
            self.refused += 1
            self.last_refusal = str(exc)
            self.get_logger().error(f"correction refused: {exc}", throttle_duration_sec=1.0)
            self.target = None  # the next step starts from where the arms are, not from a stale pose
            return
        self.driver.publish_path(target, self.dt)
        self.target = target

    def destroy_node(self) -> None:
        if self.in_control and self.context.ok():  # stopped with the deadman held: hand back
            self._announce(False)
        super().destroy_node()

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(
            name="teleop",
            hardware_id=self.config.name,
            level=DiagnosticStatus.OK,
            message="a human is in control" if self.in_control else "idle (deadman released)",
        )
        status.values = [
            KeyValue(key="in_control", value=str(self.in_control).lower()),
            KeyValue(key="interventions", value=str(self.interventions)),
            KeyValue(key="refused", value=str(self.refused)),
            KeyValue(key="last_refusal", value=self.last_refusal),
        ]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return (CONFIG, *parameters(load_robot_config()))


def main(args=None) -> int:
    exit_on_help(args, "tatbot_arm_driver teleop", __doc__, schema)
    try:
        spin(TeleopNode, args)
    except (ParameterError, RobotConfigError) as exc:
        return exit_on_error("teleop", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
