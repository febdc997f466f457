"""Wait for ROS events with deadlines (never a bare sleep).

A deadline here is how long a test waits before it reports that something never happened, not a
bound under test (a bound is measured and asserted). CI hosts have run the suite ~3x slower than a
development machine (53 min against 19), so every deadline is stretched by WAIT_SCALE
(``TATBOT_TEST_WAIT_SCALE``, default 3): a passing wait returns as soon as its condition holds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

WAIT_SCALE = float(os.environ.get("TATBOT_TEST_WAIT_SCALE", "3"))


class Timeout(AssertionError):
    """A waited-for condition did not happen before its deadline."""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.005) -> None:
    """Poll ``predicate`` until it is true; raise Timeout naming ``what`` after ``timeout`` s
    (times WAIT_SCALE)."""
    timeout *= WAIT_SCALE
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
        timeout *= WAIT_SCALE
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
