"""sim_operator: a simulated person at the gamepad, for corrections in simulation (DAgger).

Publishes sensor_msgs/Joy at a gamepad's rate, in the teleop node's mapping (the same
parameters): idle while the needles follow the stencil, deadman held and the stick toward
the line while a drawing needle tip strays from it during a policy run (a takeover starts while
the policy's status is RUNNING, goes on while it is WAITING for the person, and ends with the
run; core.sim_operator). Run it with the
teleop node, the driver and a stencil source (stroke_demo, evaluate).
"""

from __future__ import annotations

import sys

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy

from tatbot_arm_driver.core.sim_operator import SimOperator
from tatbot_arm_driver.teleop_node import MAX_DEPTH, mapping_from, mapping_parameters
from tatbot_bringup import qos, topics
from tatbot_bringup.async_ros import spin
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.robot_config import RobotConfig, RobotConfigError, load_robot_config
from tatbot_interfaces.msg import PolicyStatus, Stencil

CONFIG = Param("config", "", "robot.yaml path; empty = tatbot_bringup's")


def parameters(config: RobotConfig) -> tuple[Param, ...]:
    return (
        *mapping_parameters(config),
        Param("stencil_topic", topics.STENCIL, "tatbot_interfaces/Stencil input (latched)"),
        Param(
            "policy_status_topic",
            topics.POLICY_STATUS,
            "PolicyStatus input: a correction starts while RUNNING, ends with the run",
        ),
        Param(
            "take_over_at", 0.002, "a drawing tip this far from its stencil line (in plane) is corrected, m", 1e-4, 0.05
        ),
        Param("hand_back_at", 0.0005, "control goes back once every drawing tip is this close, m", 1e-5, 0.05),
        Param("full_stick_at", 0.002, "error giving a full stick, m", 1e-4, 0.05),
        Param("contact", 0.002, "a tip at most this high above the work surface is drawing, m", 0.0, 0.05),
        MAX_DEPTH,
        Param("rate", 20.0, "Joy samples per second (game_controller_node's autorepeat rate)", 1.0, 200.0),
    )


class SimOperatorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("sim_operator", **kwargs)
        self.config = load_robot_config(declare(self, [CONFIG])["config"] or None)
        v = declare(self, parameters(self.config))
        try:
            self.operator = SimOperator(
                mapping_from(v, self.config),
                surface_z=self.config.work_surface.z,
                take_over_at=v["take_over_at"],
                hand_back_at=v["hand_back_at"],
                full_stick_at=v["full_stick_at"],
                contact=v["contact"],
                max_depth=v["max_depth"],
            )
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
        self.kinematics = RobotKinematics.from_config(self.config)
        self.names = self.config.joint_names
        self.q: np.ndarray | None = None
        self.stencil: dict[str, np.ndarray] = {}
        self.corrections = 0  # times it took over
        self.joy_pub = self.create_publisher(Joy, v["joy_topic"], qos.JOINT_STATES)
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joint_states, qos.JOINT_STATES)
        self.create_subscription(Stencil, v["stencil_topic"], self._on_stencil, qos.LATCHED)
        self.policy_state = PolicyStatus.STATE_UNCONFIGURED
        self.create_subscription(PolicyStatus, v["policy_status_topic"], self._on_status, qos.STATUS)
        self.create_timer(1.0 / v["rate"], self._publish)

    def _on_joint_states(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if all(n in index for n in self.names):
            self.q = np.array([msg.position[index[n]] for n in self.names])

    def _on_status(self, msg: PolicyStatus) -> None:
        self.policy_state = msg.state

    def _on_stencil(self, msg: Stencil) -> None:
        self.stencil = {
            arm.name: np.array([[p.x, p.y, p.z] for p in getattr(msg, arm.name)]).reshape(-1, 3)
            for arm in self.config.arms
        }

    def _publish(self) -> None:
        if self.q is None:
            return
        tips = dict(zip((a.name for a in self.config.arms), self.kinematics.needle_tips(self.q), strict=True))
        was = self.operator.in_control
        streaming = self.policy_state == PolicyStatus.STATE_RUNNING
        run_active = streaming or self.policy_state == PolicyStatus.STATE_WAITING  # paused for the person
        axes, buttons = self.operator.joy(tips, self.stencil, streaming, run_active)
        if self.operator.in_control and not was:
            self.corrections += 1
            self.get_logger().info("a needle strayed from the stencil: correcting")
        msg = Joy(axes=axes, buttons=buttons)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.joy_pub.publish(msg)


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return (CONFIG, *parameters(load_robot_config()))


def main(args=None) -> int:
    exit_on_help(args, "tatbot_arm_driver sim_operator", __doc__, schema)
    try:
        spin(SimOperatorNode, args)
    except (ParameterError, RobotConfigError) as exc:
        return exit_on_error("sim_operator", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
