"""sim_operator: the pure operator, and the operator + teleop + driver loop on real messages."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from geometry_msgs.msg import Point
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool

from tatbot_arm_driver.arm_driver_node import ArmDriverNode
from tatbot_arm_driver.client import DriverClient
from tatbot_arm_driver.core.sim_operator import SimOperator
from tatbot_arm_driver.core.teleop import JoyMapping
from tatbot_arm_driver.sim_operator_node import SimOperatorNode
from tatbot_arm_driver.teleop_node import TeleopNode
from tatbot_bringup import qos
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config
from tatbot_interfaces.msg import PolicyStatus, Stencil
from tatbot_testing.waiting import Collector, wait_until

CONFIG = load_robot_config()
KIN = RobotKinematics.from_config(CONFIG)
Z = CONFIG.work_surface.z
MAPPING = JoyMapping(9, {"left": (1, 0), "right": (3, 2)}, 12, 11, speed=0.01, depth_speed=0.002, deadzone=0.1)
LINE = np.array([[0.13, 0.08, Z], [0.17, 0.08, Z]])  # along x at y = 8 cm


def test_the_operator_steers_a_drawing_tip_back_to_its_line_with_hysteresis():
    op = SimOperator(MAPPING, surface_z=Z)
    stencil = {"left": LINE, "right": LINE - [0, 0.16, 0]}
    on_line = {"left": np.array([0.15, 0.08, Z]), "right": np.array([0.15, -0.08, Z])}
    axes, buttons = op.joy(on_line, stencil)
    assert not op.in_control and buttons[9] == 0 and not any(axes)
    off = dict(on_line, left=np.array([0.15, 0.077, Z]))  # 3 mm to the right of its line
    axes, buttons = op.joy(off, stencil)
    assert op.in_control and buttons[9] == 1
    assert axes[0] == 1.0 and axes[1] == 0.0 and axes[2] == axes[3] == 0.0  # full stick left (+y)
    axes, _ = op.joy(dict(on_line, left=np.array([0.15, 0.079, Z])), stencil)  # 1 mm: still correcting
    assert op.in_control and axes[0] == pytest.approx(0.5)
    op.joy(dict(on_line, left=np.array([0.15, 0.0797, Z])), stencil)
    assert not op.in_control  # within hand_back_at
    hovering = dict(on_line, left=np.array([0.15, 0.07, Z + 0.01]))  # 1 cm above: not drawing
    assert op.joy(hovering, stencil)[1][9] == 0
    assert op.joy(off, stencil, streaming=False, run_active=False)[1][9] == 0  # no run: being positioned
    op.joy(off, stencil)
    assert op.joy(off, stencil, streaming=False)[1][9] == 1  # the policy paused for it: the correction goes on
    assert op.joy(off, stencil, streaming=False, run_active=False)[1][9] == 0  # the run ended: handed back
    assert not op.in_control


def test_a_needle_left_too_deep_is_taken_over_and_backed_out():
    op = SimOperator(MAPPING, surface_z=Z)
    stencil = {"left": LINE, "right": LINE - [0, 0.16, 0]}
    deep = {"left": np.array([0.15, 0.08, Z - 0.0025]), "right": np.array([0.15, -0.08, Z])}  # on its line
    _, buttons = op.joy(deep, stencil)
    assert op.in_control and buttons[9] == 1 and buttons[11] == 1 and buttons[12] == 0  # deadman + shallower
    _, buttons = op.joy(dict(deep, left=np.array([0.15, 0.08, Z - 0.0015])), stencil)  # back within max_depth
    assert not op.in_control and buttons[9] == buttons[11] == 0


@pytest.mark.ros
@pytest.mark.flaky(reruns=1)  # real-time nodes on a shared 2-core host
def test_operator_teleop_and_driver_bring_a_stray_needle_back_to_the_stencil(ros_context, ros_single_executor):
    probe = Node("sim_operator_probe", context=ros_context)
    stencil_pub = probe.create_publisher(Stencil, "/tatbot/stencil", qos.LATCHED)
    status_pub = probe.create_publisher(PolicyStatus, "/vla_policy/status", qos.STATUS)  # as the policy
    intervention, joys = Collector(), Collector()
    probe.create_subscription(Joy, "/joy", joys, qos.JOINT_STATES)
    probe.create_subscription(Bool, "/teleop/intervention", intervention, qos.LATCHED)
    driver = DriverClient(probe, CONFIG.joint_names)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        ros_single_executor.add(
            ArmDriverNode(context=ros_context, parameter_overrides=[Parameter("mock_initial_pose", value="ready")])
        )
        ros_single_executor.add(TeleopNode(context=ros_context))
        operator = ros_single_executor.add(SimOperatorNode(context=ros_context))
        # the left needle on the surface, 4 mm to the right of its line (the stencil is not out yet)
        ready = CONFIG.pose("ready")
        start = KIN.ik_needle_tip("left", [0.15, 0.076, Z], ready, direction=KIN.needle_axis(ready, "left"))
        driver.wait_ready(30.0)
        driver.move_to(start, CONFIG.goal_time_slow, 1e-4, 30.0, "the stray start")
        right = [Point(x=float(x), y=float(y) - 0.16, z=float(z)) for x, y, z in LINE]
        stencil_pub.publish(Stencil(name="line", left=[Point(x=x, y=y, z=z) for x, y, z in LINE], right=right))
        wait_until(lambda: operator.stencil, 10.0, "the stencil at the operator")
        seen = len(joys.messages)
        joys.wait_for(seen + 5, what="Joy samples")  # no policy run yet: the person only watches
        assert not any(m.buttons[9] for m in joys.messages[seen:])
        status_pub.publish(PolicyStatus(state=PolicyStatus.STATE_RUNNING))
        wait_until(lambda: intervention.last is not None and intervention.last.data, 10.0, "the operator to take over")
        wait_until(lambda: not intervention.last.data, 10.0, "the operator to hand back")
        wait_until(lambda: abs(KIN.needle_tip(driver.current(), "left")[1] - 0.08) <= 6e-4, 5.0, "the tip to settle")
        tip = KIN.needle_tip(driver.current(), "left")
        assert abs(tip[1] - 0.08) <= 0.0006, f"the left tip ended {abs(tip[1] - 0.08) * 1e3:.2f} mm from its line"
        assert abs(tip[2] - Z) < 2e-4 and abs(tip[0] - 0.15) < 5e-4, tip  # moved across the line only
        assert operator.corrections == 1

        # a run that ends mid-correction takes the person's hands off at once
        status_pub.publish(PolicyStatus(state=PolicyStatus.STATE_IDLE))
        far = KIN.ik_needle_tip("left", [0.15, 0.06, Z], ready, direction=KIN.needle_axis(ready, "left"))
        driver.move_to(far, CONFIG.goal_time_slow, 1e-4, 30.0, "2 cm from the line")  # 2 s of full stick
        status_pub.publish(PolicyStatus(state=PolicyStatus.STATE_RUNNING))
        wait_until(lambda: intervention.last.data, 10.0, "the operator to take over again")
        status_pub.publish(PolicyStatus(state=PolicyStatus.STATE_WAITING))  # the policy pauses for the person
        time.sleep(0.3)
        assert intervention.last.data, "the person let go while the run was paused for them"
        status_pub.publish(PolicyStatus(state=PolicyStatus.STATE_IDLE))
        wait_until(lambda: not intervention.last.data, 2.0, "the hand-back when the run ends")
        assert abs(KIN.needle_tip(driver.current(), "left")[1] - 0.08) > 0.01  # left mid-correction
    finally:
        executor.shutdown()
        spinner.join(timeout=5.0)
        probe.destroy_node()
