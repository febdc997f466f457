"""The policy's publish tick without ROS: what to do with the newest chunk at one tick.

Pure Python (numpy and the arm driver's validator; no rclpy). :meth:`ChunkStreamer.tick` looks
at a run and what the node knows at the tick (:class:`TickInputs`) and answers with one
decision: publish a plan (:class:`Publish`: blended, re-timed to start at or after the moment
it leaves, snapped to the limits and validated as the driver will), stop streaming
(:class:`Pause`: waiting, or a fault the model is recovering from; with or without holding the
arms) or report a fault (:class:`Fault`: ``end`` the run or not). The clock is injected, so a
tick that runs late is re-trimmed against the clock, not against the time it started.
vla_policy (the ROS shell) gathers the inputs and carries the decision out.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from tatbot_arm_driver.core.validation import SafetyLimits, TrajectoryRejected, TrajectorySpec, validate_trajectory
from tatbot_vla_policy.core.chunks import ChunkScheduler, TimedChunk, far_start, snap_to_limits


@dataclass
class Run:
    """One ~/run goal (or one streaming session)."""

    task: str
    max_steps: int  # 0 = until canceled
    steps: int = 0
    rejected_in_a_row: int = 0  # chunks the validator refused since the last published one
    check_start: bool = True  # the next plan is the first since the run started or a human handed back
    latency_ms: float = 0.0
    error_code: int = 0
    message: str = ""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class TickInputs:
    """What the node knows at a tick."""

    now: float  # s, the observation clock
    streaming: bool  # the last tick published (the run's state is RUNNING)
    human: bool = False  # a human is in control (teleop)
    stale: str = ""  # why the observation is stale ('' = fresh)
    model_failure_ends: bool = True  # on_model_failure abort: a model failure ends the run
    restarting: str = ""  # the model process is being restarted
    max_rejected_in_a_row: int = 0  # 0 = no limit
    state: np.ndarray | None = None  # (J,) newest measured joint positions


@dataclass(frozen=True)
class TickHooks:
    """What the tick takes from the node only when it gets that far (a report not taken waits for
    the next tick)."""

    take_model_failure: Callable[[], str] = str  # the model process died or hung ('' = no)
    infer: Callable[[], None] = lambda: None  # the synchronous baseline's inference
    take_fault: Callable[[], str] = str  # an invalid chunk or a failed inference ('' = no)


@dataclass(frozen=True)
class Publish:
    plan: TimedChunk
    spec: TrajectorySpec  # the plan as the driver's trajectory, validated


@dataclass(frozen=True)
class Pause:
    waiting: bool  # True: WAITING (inputs, chunks, a human); False: FAULT (the model is being restarted)
    detail: str
    hold: bool = True  # hold the arms (a human commanding them: no)


@dataclass(frozen=True)
class Fault:
    reason: str
    end: bool | None = None  # None: recover_from_fault decides


Decision = Publish | Pause | Fault | None  # None: nothing this tick


def chunk_to_spec(chunk: TimedChunk, joint_names: tuple[str, ...]) -> TrajectorySpec:
    """A timed chunk as the driver's trajectory: stamp = first action due, points at k*dt."""
    return TrajectorySpec(tuple(joint_names), chunk.start, chunk.dt * np.arange(len(chunk)), chunk.actions)


class ChunkStreamer:
    def __init__(
        self,
        scheduler: ChunkScheduler,
        limits: SafetyLimits,
        publish_lead: float,
        crossfade_time: float,
        clock: Callable[[], float],
    ):
        self.scheduler, self.limits, self.clock = scheduler, limits, clock
        self.publish_lead, self.crossfade_time = publish_lead, crossfade_time
        self.rejected = 0  # chunks the validator refused, in all runs

    def tick(self, run: Run, inputs: TickInputs, hooks: TickHooks = TickHooks()) -> Decision:
        """The decision for this tick."""
        if inputs.human:  # the teleop node commands the arms: publish nothing, hold nothing
            run.check_start = True
            return Pause(True, "paused: a human is in control (teleop)", hold=False)
        if inputs.stale:
            return Pause(True, inputs.stale)
        failure = hooks.take_model_failure()
        if failure:
            return Fault(failure, end=inputs.model_failure_ends)
        if inputs.restarting:  # FAULT until the model is back (no WAITING flicker)
            return Pause(False, inputs.restarting)
        hooks.infer()
        now = self.clock()
        fault = hooks.take_fault()
        if fault:
            return Fault(fault)
        plan = self.scheduler.next_plan(now + self.publish_lead, hold=inputs.state)
        if plan is None:
            if inputs.streaming:
                return Pause(True, "every action of the last chunk expired: inference is slower than the chunk horizon")
            return Pause(True, "waiting for the first chunk")
        if run.check_start:  # a retry from too far would fail the same way
            full = min(len(plan) - 1, math.ceil(self.crossfade_time / plan.dt))  # past the soft start
            far = far_start(plan.actions[full], inputs.state, self.limits.joint_names, self.limits.max_jump)
            if far is not None:
                return Fault(f"run refused: {far}", end=True)
        while True:  # validated and stamped at or after the moment it leaves (re-trim if the tick ran late)
            # after blending: an average of values on a limit can land one float step beyond it
            plan = replace(plan, actions=snap_to_limits(plan.actions, self.limits.lower, self.limits.upper))
            spec = chunk_to_spec(plan, self.limits.joint_names)
            try:
                validate_trajectory(spec, self.limits, inputs.state, now)
            except TrajectoryRejected as exc:
                self.rejected += 1
                run.rejected_in_a_row += 1
                limit = inputs.max_rejected_in_a_row
                if limit and run.rejected_in_a_row >= limit:
                    return Fault(f"{run.rejected_in_a_row} chunks rejected in a row, the last: {exc}", end=True)
                return Fault(f"chunk rejected: {exc}")
            now = self.clock()
            if plan.start >= now:
                return Publish(plan, spec)
            plan = plan.from_time(now + self.publish_lead)
            if plan is None:
                return None  # the next tick finds the plan expired

    @staticmethod
    def published(run: Run) -> None:
        """Count a plan the node published."""
        run.steps += 1
        run.rejected_in_a_row = 0
        run.check_start = False
