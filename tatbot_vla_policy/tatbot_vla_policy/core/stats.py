"""Rolling statistics for the status report (thread-safe, pure)."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np


class RollingStats:
    """Last, mean and percentile of the most recent ``window`` samples."""

    def __init__(self, window: int = 100):
        self._values: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(float(value))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def summary(self, percentile: float = 95.0) -> tuple[float, float, float]:
        """(last, mean, percentile); zeros when empty."""
        with self._lock:
            if not self._values:
                return 0.0, 0.0, 0.0
            values = np.array(self._values)
        return float(values[-1]), float(values.mean()), float(np.percentile(values, percentile))


class RateMeter:
    """Event rate over the events of the last ``window`` seconds."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float) -> None:
        with self._lock:
            self._stamps.append(now)
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._stamps and self._stamps[0] < now - self.window:
            self._stamps.popleft()

    def rate(self, now: float) -> float:
        """Hz; 0 with fewer than two events in the window."""
        with self._lock:
            self._trim(now)
            if len(self._stamps) < 2:
                return 0.0
            return (len(self._stamps) - 1) / (self._stamps[-1] - self._stamps[0])

    def clear(self) -> None:
        with self._lock:
            self._stamps.clear()
