"""A simulated person at the gamepad: corrects a needle that strays from its stencil line.

Pure Python (numpy). :meth:`SimOperator.joy` looks at the needle tips and the stencil and
answers with the gamepad sample (axes, buttons) a careful person would give, in the
mapping the teleop node reads: while the policy streams (not while the robot is being positioned
between strokes), when a tip that is drawing (at most ``contact`` above the
work surface) is more than ``take_over_at`` from its arm's stencil line in the surface plane,
hold the deadman and push that arm's stick toward the nearest point of the line,
proportionally (full stick at ``full_stick_at``); hand back once every drawing tip is within
``hand_back_at`` (hysteresis, so that it does not chatter at the threshold). A needle deeper
than ``max_depth`` below the surface (the teleop's limit) is also taken over, and backed out
(the shallower button) until none is. When the run ends, it hands back at once, whatever it was
correcting: the policy's needle retract (which waits for the hand-back) and the next stroke's
move are not the person's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tatbot_arm_driver.core.teleop import JoyMapping
from tatbot_bringup.stencil import closest_point


@dataclass
class SimOperator:
    mapping: JoyMapping
    surface_z: float  # m, the work surface's height
    take_over_at: float = 0.002  # m, in-plane distance of a drawing tip from its line
    hand_back_at: float = 0.0005  # m
    full_stick_at: float = 0.002  # m of error for a full stick
    contact: float = 0.002  # m, a tip at most this high above the surface is drawing
    max_depth: float = 0.002  # m below the surface: deeper needles are backed out
    in_control: bool = False

    def __post_init__(self):
        if not 0 < self.hand_back_at < self.take_over_at:
            raise ValueError(f"need 0 < hand_back_at < take_over_at, got {self.hand_back_at}, {self.take_over_at}")
        if self.mapping.deadzone * self.full_stick_at >= self.hand_back_at:
            raise ValueError("the stick's deadzone would stop corrections short of hand_back_at: lower full_stick_at")

    def errors(self, tips: dict[str, np.ndarray], stencil: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """In-plane vector (2,) from each drawing tip to its stencil line (zero when not drawing)."""
        out = {}
        for arm, tip in tips.items():
            path = stencil.get(arm)
            drawing = path is not None and len(path) > 0 and tip[2] - self.surface_z <= self.contact
            out[arm] = (closest_point(path, tip) - tip)[:2] if drawing else np.zeros(2)
        return out

    def joy(
        self,
        tips: dict[str, np.ndarray],
        stencil: dict[str, np.ndarray],
        streaming: bool = True,
        run_active: bool = True,
    ) -> tuple[list[float], list[int]]:
        """The Joy sample (axes, buttons) for these tips (3,) per arm and stencil lines (N, 3) per arm.
        ``streaming``: the policy streams (a takeover may start); ``run_active``: a run is under way,
        streaming or paused for this person (a correction goes on only while it is)."""
        errors = self.errors(tips, stencil)
        worst = max((float(np.linalg.norm(e)) for e in errors.values()), default=0.0)
        too_deep = any(self.surface_z - tip[2] > self.max_depth for tip in tips.values())
        if self.in_control:
            self.in_control = run_active and (too_deep or worst > self.hand_back_at)
        else:
            self.in_control = streaming and (too_deep or worst > self.take_over_at)
        m = self.mapping
        axes = [0.0] * (1 + max([i for pair in m.plane_axes.values() for i in pair], default=0))
        buttons = [0] * (1 + max(m.deadman_button, m.deeper_button, m.shallower_button))
        if self.in_control:
            buttons[m.deadman_button] = 1
            buttons[m.shallower_button] = int(too_deep)
            for arm, error in errors.items():
                stick = np.clip(error / self.full_stick_at, -1.0, 1.0)
                for index, value in zip(m.plane_axes.get(arm, ()), stick, strict=False):
                    if index >= 0:
                        axes[index] = float(value)
        return axes, buttons
