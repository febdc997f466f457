"""The vla_policy node's model process, kept alive.

Every prediction is timed (the inference statistics of the status) and bounded by a timeout
(parameter ``model_timeout``, or automatic: MODEL_TIMEOUT_P95 x the recent p95). A model process
that dies or hangs (it is killed at the timeout) is restarted in a background thread, at once the
first time and with exponential backoff while it keeps failing; the failure is left for the publish
tick (``take_failure``), which ends or pauses the run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import numpy as np

from tatbot_vla_policy.core.runner import CheckpointError
from tatbot_vla_policy.core.runner_process import ModelProcessError, RunnerProcess
from tatbot_vla_policy.core.stats import RollingStats
from tatbot_vla_policy.policy_parameters import MODEL_TIMEOUT_MIN, MODEL_TIMEOUT_P95

RESTART_BACKOFF_MAX = 30.0  # s, longest wait between model process restarts (1, 2, 4, ... s)


def restart_delay(failures: int) -> float:
    """s before restarting the model process after ``failures`` failures since the last good chunk:
    at once after the first, then 1, 2, 4, ... up to RESTART_BACKOFF_MAX."""
    return 0.0 if failures <= 1 else min(RESTART_BACKOFF_MAX, 2.0 ** (failures - 2))


class ModelSupervisor:
    def __init__(
        self,
        runner: RunnerProcess,
        timeout: Callable[[], float],
        stop: threading.Event,
        logger,
        on_restarted: Callable[[], None],
    ):
        """``timeout``: the model_timeout parameter's value (0 = automatic), read at each call;
        ``stop``: set when the node's loops end (a pending restart gives up); ``on_restarted``:
        called from the restart thread once a fresh process is up."""
        self.runner = runner
        self.stats = RollingStats()  # inference time, ms
        self.restarts = 0
        self._timeout, self._stop, self._logger, self._on_restarted = timeout, stop, logger, on_restarted
        self._failures_in_a_row = 0  # since the last good chunk: the restart backoff
        self._thread: threading.Thread | None = None
        self._detail = ""
        self._failure: str | None = None

    @property
    def restarting(self) -> str:
        """What the restart is doing ('' when the model process is up)."""
        return self._detail if self._thread is not None else ""

    def take_failure(self) -> str:
        """The failure reported since the last call, cleared ('' when none)."""
        failure, self._failure = self._failure, None
        return failure or ""

    def timeout(self) -> float:
        """s the model process may take for one chunk."""
        _, _, p95 = self.stats.summary()
        return self._timeout() or max(MODEL_TIMEOUT_MIN, MODEL_TIMEOUT_P95 * p95 / 1e3)

    def budget(self) -> float:
        """Expected inference time with a margin, s (infinite before the first one: start at once)."""
        _, _, p95 = self.stats.summary()
        return math.inf if p95 == 0.0 else (1.25 * p95 + 2.0) / 1e3

    def predict(self, features: dict, task: str, *rtc) -> np.ndarray | None:
        """The model's chunk; None when the process died or hung (it is being restarted). Anything
        else the model raises propagates."""
        start = time.perf_counter()
        try:
            actions = self.runner.predict(features, task, *rtc, timeout=self.timeout())
        except ModelProcessError as exc:
            self._on_failure(str(exc))
            return None
        finally:
            self.stats.add((time.perf_counter() - start) * 1e3)
        self._failures_in_a_row = 0
        return actions

    def reset(self) -> None:
        """Forget the previous run's state (a new run); a restart under way starts fresh anyway."""
        self._failure = None  # a failure reported after the last run ended
        if self._thread is not None:
            return
        try:
            self.runner.reset(timeout=self.timeout())
        except ModelProcessError as exc:
            self._on_failure(str(exc))

    def _on_failure(self, reason: str) -> None:
        self._failures_in_a_row += 1
        self.restarts += 1
        delay = restart_delay(self._failures_in_a_row)
        self._detail = f"model process failed ({reason}): restarting it"
        self._failure = f"model process failed: {reason} (the node restarts it)"
        when = f" in {delay:g} s" if delay else ""
        self._logger.error(f"model process failed: {reason}; restarting it{when}")
        self._thread = threading.Thread(target=self._restart, args=(delay,), name="restart_model", daemon=True)
        self._thread.start()

    def _restart(self, delay: float) -> None:
        """A fresh model process with the same options, retried with backoff."""
        attempt = 1
        while not self._stop.wait(delay):
            start = time.perf_counter()
            try:
                self.runner.restart()
            except CheckpointError as exc:
                self._failures_in_a_row += 1
                delay = restart_delay(self._failures_in_a_row)
                self._detail = f"model process restart {attempt} failed ({exc}): retrying in {delay:g} s"
                self._logger.error(self._detail)
                attempt += 1
                continue
            self._logger.info(f"model process restarted (pid {self.runner.pid}) in {time.perf_counter() - start:.2f} s")
            break
        self._on_restarted()
        self._thread = None
