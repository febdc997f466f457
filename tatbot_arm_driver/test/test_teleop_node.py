"""teleop with the arm driver (mock backend): real sensor_msgs/Joy in, real trajectories out.

The probe publishes Joy at 20 Hz (joy's autorepeat rate) from its own thread and watches
/teleop/intervention, /arm_driver/commanded and /diagnostics.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Bool

from tatbot_arm_driver.arm_driver_node import ArmDriverNode
from tatbot_arm_driver.client import DriverClient
from tatbot_arm_driver.teleop_node import TeleopNode
from tatbot_bringup import qos
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config
from tatbot_testing.waiting import Collector, wait_for_match, wait_until

pytestmark = [pytest.mark.ros, pytest.mark.flaky(reruns=1)]  # real-time nodes on a shared 2-core host

CONFIG = load_robot_config()
KIN = RobotKinematics.from_config(CONFIG)
READY = CONFIG.pose("ready")
DEADMAN, DEEPER, LEFT_Y_AXIS_FOR_X = 9, 12, 1


class JoyProbe(Node):
    def __init__(self, context):
        super().__init__("teleop_probe", context=context)
        self.joy_pub = self.create_publisher(Joy, "/joy", 10)
        self.intervention, self.commanded, self.diagnostics = Collector(), Collector(), Collector()
        self.create_subscription(Bool, "/teleop/intervention", self.intervention, qos.LATCHED)
        self.create_subscription(JointState, "/arm_driver/commanded", self.commanded, 100)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics, 10)
        self.joy: Joy | None = None  # what the thread publishes; None: nothing (a silent gamepad)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._publish, daemon=True)
        self._thread.start()

    def press(self, buttons=(), axes=None) -> None:
        pressed = [0] * 15
        for b in buttons:
            pressed[b] = 1
        self.joy = Joy(axes=list(axes or [0.0] * 6), buttons=pressed)

    def _publish(self) -> None:
        while not self._stop.wait(0.05):
            if self.joy is not None:
                self.joy_pub.publish(self.joy)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def q(self) -> np.ndarray:
        return np.array(self.commanded.last.position)

    def teleop_status(self) -> dict[str, str]:
        for array in reversed(list(self.diagnostics.messages)):
            for status in array.status:
                if status.name == "teleop":
                    return {kv.key: kv.value for kv in status.values}
        return {}


@pytest.fixture
def rig(ros_context, ros_single_executor):
    probe = JoyProbe(ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(probe)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    ros_single_executor.add(
        ArmDriverNode(context=ros_context, parameter_overrides=[Parameter("mock_initial_pose", value="ready")])
    )
    teleop = ros_single_executor.add(
        TeleopNode(context=ros_context, parameter_overrides=[Parameter("depth_speed", value=0.02)])
    )
    wait_for_match(probe.joy_pub)
    probe.commanded.wait_for(5, what="commanded setpoints")
    wait_until(lambda: probe.intervention.last is not None, 10.0, "the latched intervention flag")
    assert probe.intervention.last.data is False
    try:
        yield probe, teleop
    finally:
        probe.stop()
        executor.shutdown(timeout_sec=5.0)
        thread.join(timeout=5.0)
        probe.destroy_node()


def hold_for(probe: JoyProbe, seconds: float) -> None:
    """Let ``seconds`` of commands pass (counted in the driver's 100 Hz setpoints)."""
    count = len(probe.commanded.messages)
    probe.commanded.wait_for(count + round(seconds * CONFIG.joint_state_rate), what="commanded setpoints")


def test_without_the_deadman_the_sticks_move_nothing(rig):
    probe, _ = rig
    probe.press(buttons=(DEEPER,), axes=[1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    hold_for(probe, 1.0)
    np.testing.assert_array_equal(probe.q(), READY)
    assert [m.data for m in probe.intervention.messages] == [False]


def test_the_deadman_takes_control_moves_the_tip_in_the_plane_and_hands_back(rig):
    probe, teleop = rig
    axes = [0.0] * 6
    axes[LEFT_Y_AXIS_FOR_X] = 1.0  # left stick up: the left tip along +x
    probe.press(buttons=(DEADMAN,), axes=axes)
    wait_until(lambda: probe.intervention.last.data, 5.0, "the intervention flag to rise")
    hold_for(probe, 1.0)
    probe.press()  # deadman released
    wait_until(lambda: not probe.intervention.last.data, 5.0, "the intervention flag to fall")
    hold_for(probe, 0.3)  # the last step's 0.1 s ends
    q = probe.q()
    moved = KIN.needle_tip(q, "left") - KIN.needle_tip(READY, "left")
    assert 0.004 < moved[0] < 0.02, f"the left tip moved {moved} m (0.01 m/s at full stick for ~1 s)"
    assert abs(moved[1]) < 2e-4 and abs(moved[2]) < 2e-4, moved
    np.testing.assert_allclose(KIN.needle_tip(q, "right"), KIN.needle_tip(READY, "right"), atol=1e-6)
    hold_for(probe, 0.5)
    np.testing.assert_array_equal(probe.q(), q)  # handed back: the driver holds the last step
    assert [m.data for m in probe.intervention.messages] == [False, True, False]
    assert teleop.interventions == 1


def test_a_silent_gamepad_hands_control_back(rig):
    probe, _ = rig
    axes = [0.0] * 6
    axes[LEFT_Y_AXIS_FOR_X] = 1.0
    probe.press(buttons=(DEADMAN,), axes=axes)
    wait_until(lambda: probe.intervention.last.data, 5.0, "the intervention flag to rise")
    probe.joy = None  # unplugged with the deadman held: no more Joy
    wait_until(lambda: not probe.intervention.last.data, 5.0, "joy_timeout to hand control back")
    hold_for(probe, 0.3)
    q = probe.q()
    hold_for(probe, 0.5)
    np.testing.assert_array_equal(probe.q(), q)


def test_a_correction_past_the_depth_limit_is_refused_and_named(rig):
    probe, teleop = rig
    probe.press(buttons=(DEADMAN, DEEPER))  # 0.02 m/s along the needles: 22 mm above the surface at ready
    wait_until(lambda: teleop.refused > 0, 10.0, "a refused correction")
    hold_for(probe, 0.5)
    lowest = min(KIN.needle_tips(np.array(m.position))[:, 2].min() for m in probe.commanded.messages)
    assert lowest >= CONFIG.work_surface.z - 0.002 - 1e-6, "a needle went past max_depth"
    wait_until(lambda: int(probe.teleop_status().get("refused", 0)) > 0, 5.0, "the refusal on /diagnostics")
    assert "mm below the work surface, more than max_depth" in probe.teleop_status()["last_refusal"]
    assert probe.intervention.last.data  # still in control: a refusal moves nothing and ends nothing


def test_the_first_step_starts_from_where_the_arms_are_when_it_comes(rig):
    """The arms can still move after the takeover (a policy's last chunk): the human's first step
    starts from where they are then, not from where they were when the deadman was pressed."""
    probe, _ = rig
    probe.press(buttons=(DEADMAN,))  # held, sticks still: in control, nothing commanded yet
    wait_until(lambda: probe.intervention.last.data, 5.0, "the intervention flag to rise")
    tip, axis = KIN.needle_tip(READY, "left"), KIN.needle_axis(READY, "left")
    aside = KIN.ik_needle_tip("left", tip + np.array([0.0, 0.003, 0.0]), READY, direction=axis)  # 3 mm along +y
    DriverClient(probe, CONFIG.joint_names).publish_path(aside, 0.3)  # the late chunk
    wait_until(lambda: np.allclose(probe.q(), aside, atol=1e-6), 5.0, "the arms at the late chunk's end")
    axes = [0.0] * 6
    axes[LEFT_Y_AXIS_FOR_X] = 1.0
    probe.press(buttons=(DEADMAN,), axes=axes)
    hold_for(probe, 0.5)
    moved = KIN.needle_tip(probe.q(), "left") - tip
    assert moved[0] > 0.002 and abs(moved[1] - 0.003) < 2e-4, f"the left tip moved {moved} m from ready"
