"""Rolling statistics for the status report (thread-safe, pure)."""

from __future__ import annotations

import statistics
import threading
from collections import deque


class RollingStats:
    """Last, mean and 95th percentile of the most recent ``window`` samples.

    Plain Python on at most ``window`` floats: the inference worker asks for the p95 before every
    inference, and numpy's per-call overhead (~40 us, ~0.3 ms under the node's interpreter lock
    contention) was part of the node's turnaround between two chunks."""

    def __init__(self, window: int = 100):
        self._values: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(float(value))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def summary(self) -> tuple[float, float, float]:
        """(last, mean, p95), p95 interpolated linearly as numpy's default; zeros when empty."""
        with self._lock:
            values = list(self._values)
        if not values:
            return 0.0, 0.0, 0.0
        p95 = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
        return values[-1], sum(values) / len(values), p95


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
