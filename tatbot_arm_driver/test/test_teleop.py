"""core.teleop: Joy samples to needle-tip velocities, and one period of them to a joint pose."""

from __future__ import annotations

import numpy as np
import pytest

from tatbot_arm_driver.core.teleop import ArmCommand, CorrectionRefused, JoyMapping, correction_target, is_still
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config

CONFIG = load_robot_config()
KIN = RobotKinematics.from_config(CONFIG)
READY = CONFIG.pose("ready")
MAPPING = JoyMapping(
    deadman_button=9,
    plane_axes={"left": (1, 0), "right": (3, 2)},
    deeper_button=12,
    shallower_button=11,
    speed=0.01,
    depth_speed=0.002,
    deadzone=0.1,
)


def buttons(*pressed: int) -> list[int]:
    out = [0] * 15
    for b in pressed:
        out[b] = 1
    return out


def test_the_mapping_reads_sticks_buttons_and_deadzone():
    assert MAPPING.deadman(buttons(9)) and not MAPPING.deadman(buttons(10)) and not MAPPING.deadman([])
    cmd = MAPPING.command([0.05, 1.0, -0.5, 0.0], buttons(12))
    np.testing.assert_allclose(cmd["left"].plane, [0.01, 0.0])  # 0.05 is inside the deadzone
    np.testing.assert_allclose(cmd["right"].plane, [0.0, -0.005])
    assert cmd["left"].depth == cmd["right"].depth == 0.002
    assert MAPPING.command([], buttons(11, 12))["left"].depth == 0.0  # both depth buttons cancel
    assert is_still(MAPPING.command([0.0] * 6, buttons(9))) and not is_still(cmd)


def test_a_step_moves_the_tip_by_its_velocity_and_keeps_the_needle_direction():
    cmd = MAPPING.command([0.0, 1.0, 1.0, 0.0], buttons())
    q = correction_target(KIN, CONFIG.work_surface, 0.002, READY, cmd, 0.1)
    for arm, delta in (("left", [0.001, 0.0, 0.0]), ("right", [0.0, 0.001, 0.0])):
        np.testing.assert_allclose(KIN.needle_tip(q, arm) - KIN.needle_tip(READY, arm), delta, atol=2e-5)
        np.testing.assert_allclose(KIN.needle_axis(q, arm), KIN.needle_axis(READY, arm), atol=2e-3)


def test_depth_moves_along_the_needle_and_stops_at_max_depth():
    cmd = MAPPING.command([], buttons(12))
    q = correction_target(KIN, CONFIG.work_surface, 0.002, READY, cmd, 0.1)
    moved = KIN.needle_tip(q, "left") - KIN.needle_tip(READY, "left")
    np.testing.assert_allclose(moved, KIN.needle_axis(READY, "left") * 0.0002, atol=2e-5)
    above = KIN.needle_tip(READY, "left")[2] - CONFIG.work_surface.z  # 22 mm at ready
    along = (above + 0.003) / -KIN.needle_axis(READY, "left")[2]  # the needle is ~46 deg off vertical
    fast = {arm: ArmCommand(plane=c.plane, depth=along / 0.1) for arm, c in cmd.items()}
    with pytest.raises(CorrectionRefused, match=r"left needle tip would be \S+ mm below the work surface"):
        correction_target(KIN, CONFIG.work_surface, 0.002, READY, fast, 0.1)


def test_a_needle_left_too_deep_may_only_be_backed_out():
    """A policy can leave a needle deeper than max_depth: the human may back it out (shallower),
    even while steering, but not drag it sideways at that depth nor push it deeper."""
    above = KIN.needle_tip(READY, "left")[2] - CONFIG.work_surface.z
    along = (above + 0.0025) / -KIN.needle_axis(READY, "left")[2]  # 2.5 mm deep, past max_depth 2 mm
    deep = correction_target(KIN, CONFIG.work_surface, 0.01, READY, {"left": ArmCommand(np.zeros(2), along)}, 1.0)
    assert CONFIG.work_surface.z - KIN.needle_tip(deep, "left")[2] == pytest.approx(0.0025, abs=2e-5)
    back = MAPPING.command([0.0, 1.0], buttons(11))  # shallower, and the stick: 0.2 mm up, 1 mm aside
    q = correction_target(KIN, CONFIG.work_surface, 0.002, deep, back, 0.1)
    assert CONFIG.work_surface.z - KIN.needle_tip(q, "left")[2] < 0.0025  # still past 2 mm, but coming up
    for cmd in (MAPPING.command([0.0, 1.0], buttons()), MAPPING.command([], buttons(12))):  # aside; deeper
        with pytest.raises(CorrectionRefused, match=r"left needle tip would be 2\.\d\d mm below"):
            correction_target(KIN, CONFIG.work_surface, 0.002, deep, cmd, 0.1)


def test_leaving_the_work_surface_or_the_reach_is_refused_and_named():
    far = {"left": ArmCommand(plane=np.array([1.0, 0.0]), depth=0.0)}
    with pytest.raises(CorrectionRefused, match="left needle tip would leave the work surface"):
        correction_target(KIN, CONFIG.work_surface, 0.002, READY, far, 1.0)
    # inside the surface's rectangle, but right under its own base: out of its reach
    reach = {"left": ArmCommand(plane=np.array([-0.146, 0.118]), depth=0.0)}
    with pytest.raises(CorrectionRefused, match="out of reach: left needle tip cannot reach"):
        correction_target(KIN, CONFIG.work_surface, 0.002, READY, reach, 1.0)
