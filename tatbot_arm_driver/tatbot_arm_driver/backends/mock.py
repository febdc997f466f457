"""Kinematic mock arms: first-order lag behind the commanded setpoint, plus a fixed latency.

Deterministic: the state is a closed-form function of the commands and the clock it is given.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np

from tatbot_arm_driver.backends.base import ArmBackend, BackendFault, Feedback


class MockBackend(ArmBackend):
    """Each joint follows ``x' = (target - x) / lag`` where target is the setpoint ``latency`` s ago."""

    name = "mock"

    def __init__(
        self,
        initial: np.ndarray,
        lag: float,
        latency: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        if lag < 0 or latency < 0:
            raise ValueError(f"mock lag and latency must be >= 0 s, got lag={lag}, latency={latency}")
        self._initial = np.array(initial, dtype=float)
        self._lag = float(lag)
        self._latency = float(latency)
        self._clock = clock
        self._open = False
        self._position = self._initial.copy()
        self._target = self._initial.copy()
        self._pending: deque[tuple[float, np.ndarray]] = deque()
        self._time = 0.0
        self._sequence = 0

    def open(self) -> None:
        self._position = self._initial.copy()
        self._target = self._initial.copy()
        self._pending.clear()
        self._time = self._clock()
        self._open = True

    def read(self) -> Feedback:
        self._require_open()
        self._advance(self._clock())
        self._sequence += 1
        velocity = np.zeros_like(self._position) if self._lag == 0 else (self._target - self._position) / self._lag
        return Feedback(self._position.copy(), velocity, (self._sequence,))

    def command(self, position: np.ndarray, velocity: np.ndarray) -> None:
        self._require_open()
        self._pending.append((self._clock() + self._latency, np.array(position, dtype=float)))

    def close(self) -> None:
        self._open = False
        self._pending.clear()

    def _require_open(self) -> None:
        if not self._open:
            raise BackendFault("mock backend is not open (call open() first)")

    def _advance(self, now: float) -> None:
        while self._pending and self._pending[0][0] <= now:
            effective, target = self._pending.popleft()
            self._relax(effective)
            self._target = target
        self._relax(now)

    def _relax(self, until: float) -> None:
        dt = until - self._time
        if dt <= 0:
            return
        if self._lag == 0:
            self._position = self._target.copy()
        else:
            self._position = self._target + (self._position - self._target) * np.exp(-dt / self._lag)
        self._time = until
