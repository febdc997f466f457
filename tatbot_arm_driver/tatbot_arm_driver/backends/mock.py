"""Kinematic mock arms: first-order lag behind the commanded setpoint, plus a fixed latency,
and optionally a smooth random tracking error.

Deterministic: the state is a closed-form function of the commands and the clock it is given
(and of the seed of the tracking error).

The tracking error (off by default) is an Ornstein-Uhlenbeck process per joint smoothed by a
first-order filter of the same time constant ``noise_time`` (so it has no jitter at the control
rate), scaled to the standard deviation ``noise_std``, and added to the measured position. Real
arms never follow their setpoints exactly; demonstrations recorded with such errors (the labels
stay the commanded setpoints) teach a policy to steer back to the path from where it really is
(DART, Laskey et al. 2017), which demonstrations on an exact robot cannot.
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
        noise_std: np.ndarray | float = 0.0,
        noise_time: float = 0.4,
        seed: int = 0,
        limits: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        """limits: (lower, upper) joint limits; the tracking error never takes a joint beyond them
        (a real joint stops at its end stop)."""
        if lag < 0 or latency < 0:
            raise ValueError(f"mock lag and latency must be >= 0 s, got lag={lag}, latency={latency}")
        self._noise_std = np.broadcast_to(np.asarray(noise_std, dtype=float), np.shape(initial)).copy()
        if np.any(self._noise_std < 0) or not np.all(np.isfinite(self._noise_std)):
            raise ValueError(f"mock tracking noise std must be finite and >= 0, got {noise_std}")
        if not noise_time > 0:
            raise ValueError(f"mock tracking noise time must be > 0 s, got {noise_time}")
        self._noise_time = float(noise_time)
        self._seed = seed
        self._limits = (np.full(len(initial), -np.inf), np.full(len(initial), np.inf)) if limits is None else limits
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
        self._rng = np.random.default_rng(self._seed)
        self._drive = self._rng.standard_normal(self._noise_std.shape)  # OU, unit variance
        self._noise = self._drive.copy()  # its low-pass, variance 1/2 in steady state
        self._open = True

    def read(self) -> Feedback:
        self._require_open()
        previous = self._time
        self._advance(self._clock())
        self._sequence += 1
        velocity = np.zeros_like(self._position) if self._lag == 0 else (self._target - self._position) / self._lag
        position = self._position.copy()
        if np.any(self._noise_std):
            decay = np.exp(-(self._time - previous) / self._noise_time)
            kick = np.sqrt(1.0 - decay * decay) * self._rng.standard_normal(self._drive.shape)
            self._drive = decay * self._drive + kick
            self._noise = self._drive + (self._noise - self._drive) * decay
            position = np.clip(position + self._noise_std * np.sqrt(2.0) * self._noise, *self._limits)
        return Feedback(position, velocity, (self._sequence,))

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
