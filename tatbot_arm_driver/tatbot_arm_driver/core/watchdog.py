"""Stale-feedback detection and control-loop timing (pure Python)."""

from __future__ import annotations

from collections.abc import Sequence


class FeedbackWatchdog:
    """Feedback is stale when any source's sample counter has not moved for more than ``timeout`` s.

    Backends number the samples of each source (one counter per arm controller); a read that
    returns the same sample again is not fresh feedback, and one silent arm is enough to be stale.
    """

    def __init__(self, timeout: float):
        if timeout <= 0:
            raise ValueError(f"feedback timeout must be > 0 s, got {timeout}")
        self.timeout = float(timeout)
        self._sequence: tuple[int, ...] = ()
        self._fresh_at: list[float] = []

    def update(self, sequence: Sequence[int], now: float) -> None:
        sequence = tuple(sequence)
        if len(sequence) != len(self._sequence):
            self._sequence = sequence
            self._fresh_at = [now] * len(sequence)
            return
        for i, (old, new) in enumerate(zip(self._sequence, sequence, strict=True)):
            if new != old:
                self._fresh_at[i] = now
        self._sequence = sequence

    def age(self, now: float) -> float:
        """Seconds since the oldest source last produced a new sample (infinite before any)."""
        return float("inf") if not self._fresh_at else now - min(self._fresh_at)

    def stale(self, now: float) -> bool:
        return self.age(now) > self.timeout

    def reset(self) -> None:
        self._sequence = ()
        self._fresh_at = []


class LoopTiming:
    """Gaps between the control loop's steps: the longest since the last report, the longest
    overall, and how many steps came more than ``late_periods`` control periods after the previous
    one (the follower re-times those instead of catching up)."""

    def __init__(self, period: float, late_periods: float):
        self.late_gap = late_periods * period
        self.last: float | None = None
        self.longest = 0.0
        self.late = 0
        self._window = 0.0

    def step(self, now: float) -> None:
        if self.last is not None:
            gap = now - self.last
            self._window = max(self._window, gap)
            self.longest = max(self.longest, gap)
            self.late += gap > self.late_gap
        self.last = now

    def take_window(self) -> float:
        """The longest gap since the previous call (0 before two steps)."""
        window, self._window = self._window, 0.0
        return window
