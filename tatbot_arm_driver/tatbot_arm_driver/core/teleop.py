"""Gamepad corrections as needle motions: the pure part of the teleop node.

Pure Python (numpy and the kinematics, no rclpy). A ``sensor_msgs/Joy`` sample becomes a
needle-tip velocity per arm (:meth:`JoyMapping.command`): a stick moves a needle tip in the
plane of the work surface, two buttons push both needles deeper along their own axes or back
them out. :func:`correction_target` integrates one period of it from the last commanded pose,
checks the tips against the work surface and solves the joint pose by inverse kinematics; a
target it cannot reach safely raises :class:`CorrectionRefused` naming the arm and the bound
(nothing is sent then).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tatbot_bringup.kinematics import IKError, RobotKinematics
from tatbot_bringup.robot_config import WorkSurface


class CorrectionRefused(ValueError):
    """A correction would take a needle somewhere it must not go; the message names where."""


@dataclass(frozen=True)
class ArmCommand:
    """One arm's commanded needle-tip velocity."""

    plane: np.ndarray  # (2,) m/s along the base frame's x and y (the work surface is horizontal)
    depth: float  # m/s along the needle axis, + deeper


@dataclass(frozen=True)
class JoyMapping:
    """Which Joy axes and buttons command what, and how fast.

    Indices follow the ROS 2 ``joy`` package's game_controller_node (SDL numbering, the same on
    every common gamepad). Joy axes are +1 for a stick pushed left or up; left is +y and up
    (away from the arms' bases) is +x in the base frame (REP 103).
    """

    deadman_button: int
    plane_axes: dict[str, tuple[int, int]]  # arm -> (axis driving +x, axis driving +y)
    deeper_button: int
    shallower_button: int
    speed: float  # m/s of a tip at full stick
    depth_speed: float  # m/s along the needle while a depth button is held
    deadzone: float  # stick values below this are 0

    def deadman(self, buttons) -> bool:
        return _pressed(buttons, self.deadman_button)

    def command(self, axes, buttons) -> dict[str, ArmCommand]:
        """Needle-tip velocity per arm from one Joy sample (missing axes and buttons read 0)."""
        depth = self.depth_speed * (_pressed(buttons, self.deeper_button) - _pressed(buttons, self.shallower_button))
        out = {}
        for arm, (ax, ay) in self.plane_axes.items():
            stick = np.array([_axis(axes, ax), _axis(axes, ay)])
            stick[np.abs(stick) < self.deadzone] = 0.0
            out[arm] = ArmCommand(plane=self.speed * np.clip(stick, -1.0, 1.0), depth=depth)
        return out


def _pressed(buttons, index: int) -> int:
    return int(0 <= index < len(buttons) and buttons[index] != 0)


def _axis(axes, index: int) -> float:
    return float(axes[index]) if 0 <= index < len(axes) else 0.0


def is_still(command: dict[str, ArmCommand]) -> bool:
    return all(not c.depth and not np.any(c.plane) for c in command.values())


def correction_target(
    kinematics: RobotKinematics,
    surface: WorkSurface,
    max_depth: float,
    q: np.ndarray,
    command: dict[str, ArmCommand],
    dt: float,
) -> np.ndarray:
    """Joint pose (14,) one period ``dt`` of ``command`` on from ``q``: each tip moves by its
    velocity, each needle keeps its direction. Raises CorrectionRefused when a tip would leave
    the work surface's rectangle, be more than ``max_depth`` below the surface without coming
    up (a needle left too deep, by a policy, may only be backed out), or is out of the arm's
    reach (joint limits included)."""
    target = np.array(q, dtype=float)
    (cx, cy), (sx, sy) = surface.center_xy, surface.size_xy
    for arm, c in command.items():
        tip = kinematics.needle_tip(target, arm)
        axis = kinematics.needle_axis(target, arm)
        goal = tip + np.array([c.plane[0], c.plane[1], 0.0]) * dt + axis * c.depth * dt
        if abs(goal[0] - cx) > sx / 2 or abs(goal[1] - cy) > sy / 2:
            raise CorrectionRefused(
                f"{arm} needle tip would leave the work surface at x={goal[0]:.4f}, y={goal[1]:.4f} m "
                f"(it spans x {cx - sx / 2:.3f}..{cx + sx / 2:.3f}, y {cy - sy / 2:.3f}..{cy + sy / 2:.3f}): "
                "steer back"
            )
        below = surface.z - goal[2]
        if below > max_depth and goal[2] <= tip[2]:
            raise CorrectionRefused(
                f"{arm} needle tip would be {below * 1e3:.2f} mm below the work surface, more than max_depth "
                f"{max_depth * 1e3:.2f} mm: back it out (shallower button)"
            )
        try:
            target = kinematics.ik_needle_tip(arm, goal, target, direction=axis)
        except IKError as exc:
            raise CorrectionRefused(f"out of reach: {exc}") from exc
    return target
