"""The one small interface every arm backend implements (pure Python, no rclpy)."""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass

import numpy as np


class BackendFault(RuntimeError):
    """The hardware (or its simulator) failed: connection, read, command or controller error.

    The driver holds and reports it; it never substitutes a default pose for a failed read.
    """


@dataclass(frozen=True)
class Feedback:
    """One measured state of all joints, canonical order."""

    position: np.ndarray  # (J,) rad (m for carriages)
    velocity: np.ndarray  # (J,) rad/s (m/s)
    sequence: tuple[int, ...]  # per source (arm controller): changes with every new sample


class ArmBackend(abc.ABC):
    """Both arms as one 14-joint device in canonical order.

    Life cycle: ``open`` (connect, enable position control) -> ``read`` / ``command`` at the
    control rate -> ``close`` (idle the joints, disconnect). Every method raises
    :class:`BackendFault` on failure.
    """

    name: str = ""

    @abc.abstractmethod
    def open(self) -> None:
        """Connect and put every joint in position mode (does not move)."""

    @abc.abstractmethod
    def read(self) -> Feedback:
        """The newest measured state."""

    @abc.abstractmethod
    def command(self, position: np.ndarray, velocity: np.ndarray) -> None:
        """Stream one setpoint (called once per control period); returns without waiting."""

    @abc.abstractmethod
    def close(self) -> None:
        """Idle the joints and disconnect; safe to call when not open."""


FEEDBACK_START_TIMEOUT = 2.0  # s the driver's configure waits for the joint state to update after connecting


def flowing_feedback(backend: ArmBackend, period: float, within: float = FEEDBACK_START_TIMEOUT) -> Feedback:
    """The first feedback with a new sample from every source since the first read: the stale
    watchdog starts from samples that flow (a controller or simulator still starting up would
    otherwise fault the first control tick). BackendFault when they do not flow ``within`` s."""
    first = backend.read()
    deadline = time.monotonic() + within
    while True:
        feedback = backend.read()
        if all(new != old for new, old in zip(feedback.sequence, first.sequence, strict=True)):
            return feedback
        if time.monotonic() > deadline:
            raise BackendFault(f"the joint state is not updating: no new sample from every arm within {within:g} s")
        time.sleep(period)
