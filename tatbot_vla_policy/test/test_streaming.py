"""core.streaming: the publish tick's decisions with an injected clock, no ROS."""

from __future__ import annotations

import numpy as np
import pytest

from tatbot_arm_driver.core.validation import SafetyLimits, validate_trajectory
from tatbot_bringup.robot_config import load_robot_config
from tatbot_vla_policy.core.chunks import BlendConfig, BlendMode, ChunkScheduler, TimedChunk
from tatbot_vla_policy.core.streaming import ChunkStreamer, Fault, Pause, Publish, Run, TickHooks, TickInputs

CONFIG = load_robot_config()
LIMITS = SafetyLimits.from_config(CONFIG)
READY = CONFIG.pose("ready")
DT = 0.1


class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def streamer(clock: Clock, mode: BlendMode = BlendMode.NONE) -> ChunkStreamer:
    scheduler = ChunkScheduler(BlendConfig(mode=mode, crossfade_time=0.2, ensemble_coeff=0.01))
    return ChunkStreamer(scheduler, LIMITS, publish_lead=0.01, crossfade_time=0.2, clock=clock)


def chunk(stamp: float, n: int = 10, step: float = 0.002, start=READY, seq: int = 1) -> TimedChunk:
    actions = np.tile(start, (n, 1))
    actions[:, CONFIG.revolute] += step * np.arange(1, n + 1)[:, None]
    return TimedChunk.from_prediction(actions, stamp, DT, offset_steps=1, seq=seq)


def inputs(clock: Clock, **kw) -> TickInputs:
    return TickInputs(now=clock(), streaming=kw.pop("streaming", True), state=kw.pop("state", READY), **kw)


def test_a_fresh_chunk_is_published_from_now_on_and_validates_as_the_driver_will():
    clock = Clock()
    s = streamer(clock)
    s.scheduler.offer(chunk(clock.t - 0.05))
    decision = s.tick(run := Run("t", 0), inputs(clock))
    assert isinstance(decision, Publish)
    assert decision.plan.start >= clock.t and decision.spec.stamp == decision.plan.start
    validate_trajectory(decision.spec, LIMITS, READY, clock.t)  # the driver accepts it
    ChunkStreamer.published(run)
    assert (run.steps, run.check_start) == (1, False)


def test_a_tick_that_runs_late_is_re_trimmed_against_the_clock():
    clock = Clock()
    s = streamer(clock)
    s.scheduler.offer(chunk(clock.t - 0.05))
    readings = iter([clock.t, clock.t + 0.25, clock.t + 0.26])  # the first validation took 0.25 s
    s.clock = lambda: next(readings)
    decision = s.tick(Run("t", 0), inputs(clock))
    assert isinstance(decision, Publish) and decision.plan.start >= clock.t + 0.26
    assert decision.plan.start - clock.t == pytest.approx(0.35)  # actions due before then were dropped


@pytest.mark.parametrize(
    ("given", "waiting", "hold", "detail"),
    [
        ({"human": True}, True, False, "a human is in control"),
        ({"stale": "stale input(s): realsense1 900 ms old"}, True, True, "realsense1"),
        ({"restarting": "model process failed: restarting it"}, False, True, "restarting"),
        ({}, True, True, "waiting for the first chunk"),
    ],
)
def test_what_stops_streaming_and_whether_it_holds(given, waiting, hold, detail):
    clock = Clock()
    decision = streamer(clock).tick(Run("t", 0), inputs(clock, streaming=False, **given))
    assert isinstance(decision, Pause) and (decision.waiting, decision.hold) == (waiting, hold)
    assert detail in decision.detail


def test_reports_are_taken_only_when_the_tick_gets_to_them():
    clock = Clock()
    taken = []
    hooks = TickHooks(take_fault=lambda: taken.append("fault") or "invalid chunk: NaN")
    s = streamer(clock)
    assert isinstance(s.tick(Run("t", 0), inputs(clock, stale="stale"), hooks), Pause)
    assert taken == []  # still there for the next fresh tick
    assert s.tick(Run("t", 0), inputs(clock), hooks) == Fault("invalid chunk: NaN")
    failure = TickHooks(take_model_failure=lambda: "model process failed: killed")
    assert s.tick(Run("t", 0), inputs(clock, model_failure_ends=False), failure) == Fault(
        "model process failed: killed", end=False
    )


def test_a_run_refuses_a_far_first_action_and_ends_after_too_many_rejections():
    clock = Clock()
    s = streamer(clock)
    far = READY.copy()
    far[0] += 0.5
    s.scheduler.offer(chunk(clock.t - 0.05, start=far))
    decision = s.tick(run := Run("t", 0), inputs(clock))
    assert isinstance(decision, Fault) and decision.end and "far from the robot" in decision.reason
    run.check_start = False  # past its start: the same chunk is now a rejection by the validator
    s.scheduler.offer(chunk(clock.t - 0.05, start=far, seq=2))
    first = s.tick(run, inputs(clock, max_rejected_in_a_row=2))
    assert isinstance(first, Fault) and first.end is None and "chunk rejected: " in first.reason
    s.scheduler.offer(chunk(clock.t - 0.05, start=far, seq=3))
    second = s.tick(run, inputs(clock, max_rejected_in_a_row=2))
    assert isinstance(second, Fault) and second.end and "2 chunks rejected in a row" in second.reason
    assert s.rejected == 2


def test_an_expired_plan_while_streaming_says_inference_is_too_slow():
    clock = Clock()
    s = streamer(clock)
    s.scheduler.offer(chunk(clock.t - 5.0))  # every action long due
    decision = s.tick(Run("t", 0), inputs(clock, streaming=True))
    assert isinstance(decision, Pause) and "slower than the chunk horizon" in decision.detail


def test_the_synchronous_baseline_infers_inside_the_tick():
    clock = Clock()
    s = streamer(clock)
    hooks = TickHooks(infer=lambda: s.scheduler.offer(chunk(clock.t - 0.01)))
    assert isinstance(s.tick(Run("t", 0), inputs(clock), hooks), Publish)
