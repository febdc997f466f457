"""model_supervisor: a failing model process is reported once and restarted with backoff (a fake
runner stands in for core.runner_process.RunnerProcess; the node tests use real ones)."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from tatbot_vla_policy.core.runner import CheckpointError
from tatbot_vla_policy.core.runner_process import ModelProcessError
from tatbot_vla_policy.model_supervisor import RESTART_BACKOFF_MAX, ModelSupervisor, restart_delay
from tatbot_vla_policy.policy_parameters import MODEL_TIMEOUT_MIN


class FakeRunner:
    pid = 1

    def __init__(self, restarts_failing: int = 0):
        self.fail_next = False
        self.restarts_failing = restarts_failing
        self.restarted = threading.Event()
        self.timeouts: list[float] = []

    def predict(self, features, task, timeout=None):
        self.timeouts.append(timeout)
        if self.fail_next:
            self.fail_next = False
            raise ModelProcessError("the model process died (exit -9)")
        return np.zeros((10, 14))

    def restart(self):
        if self.restarts_failing:
            self.restarts_failing -= 1
            raise CheckpointError("cannot load")
        self.pid += 1
        self.restarted.set()


def test_restart_delay_backs_off_exponentially_up_to_its_cap():
    assert [restart_delay(n) for n in range(1, 6)] == [0.0, 1.0, 2.0, 4.0, 8.0]
    assert restart_delay(40) == RESTART_BACKOFF_MAX


def test_a_dead_model_process_is_reported_once_and_restarted():
    runner, restarted, stop = FakeRunner(), threading.Event(), threading.Event()
    model = ModelSupervisor(runner, lambda: 0.0, stop, logging.getLogger("test"), restarted.set)
    assert model.predict({}, "t").shape == (10, 14) and model.take_failure() == ""
    assert runner.timeouts[-1] == MODEL_TIMEOUT_MIN  # automatic: at least the minimum
    runner.fail_next = True
    assert model.predict({}, "t") is None
    assert "the model process died" in model.take_failure() and model.take_failure() == ""
    assert restarted.wait(5.0) and runner.pid == 2 and model.restarts == 1
    for _ in range(100):  # the thread clears its flag right after the callback
        if not model.restarting:
            break
        stop.wait(0.01)
    assert model.restarting == ""


def test_a_restart_that_fails_is_retried_and_a_stop_ends_it():
    runner, stop = FakeRunner(restarts_failing=100), threading.Event()
    model = ModelSupervisor(runner, lambda: 2.5, stop, logging.getLogger("test"), lambda: None)
    runner.fail_next = True
    model.predict({}, "t")
    assert runner.timeouts == [2.5]  # the parameter's value when set
    for _ in range(200):
        if "retrying in" in model.restarting:
            break
        stop.wait(0.01)
    assert "model process restart 1 failed (cannot load): retrying in 1 s" in model.restarting
    stop.set()
    for _ in range(300):
        if not model.restarting:
            break
        threading.Event().wait(0.01)
    assert model.restarting == "" and runner.pid == 1


@pytest.mark.parametrize("p95_ms, expected", [(0.0, MODEL_TIMEOUT_MIN), (2000.0, 20.0)])
def test_the_automatic_timeout_follows_the_recent_p95(p95_ms, expected):
    model = ModelSupervisor(FakeRunner(), lambda: 0.0, threading.Event(), logging.getLogger("test"), lambda: None)
    if p95_ms:
        model.stats.add(p95_ms)
    assert model.timeout() == pytest.approx(expected)
