"""Wait for ROS events with deadlines (never a bare sleep)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Timeout(AssertionError):
    """A waited-for condition did not happen before its deadline."""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.005) -> None:
    """Poll ``predicate`` until it is true; raise Timeout naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise Timeout(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(poll)


class Collector:
    """Subscription callback that keeps every message with its receive time."""

    def __init__(self):
        self.messages: list = []
        self.stamps: list[float] = []
        self._cond = threading.Condition()

    def __call__(self, msg) -> None:
        with self._cond:
            self.messages.append(msg)
            self.stamps.append(time.monotonic())
            self._cond.notify_all()

    def wait_for(self, count: int = 1, timeout: float = 10.0, what: str = "messages") -> list:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            if not ok:
                raise Timeout(f"timed out after {timeout:.1f} s: got {len(self.messages)}/{count} {what}")
            return list(self.messages)

    @property
    def last(self):
        with self._cond:
            return self.messages[-1] if self.messages else None


def wait_for_match(entity, count: int = 1, timeout: float = 10.0) -> None:
    """Wait until a publisher has ``count`` subscribers (or a subscription publishers)."""
    getter = getattr(entity, "get_subscription_count", None) or entity.get_publisher_count
    wait_until(lambda: getter() >= count, timeout, f"{count} matched endpoint(s) on {entity.topic_name}")
