"""vla_policy's inference worker: the newest observation -> the model -> a timed chunk.

It runs in its own thread (``loop``), or inside the publish tick with inference_mode=sync (the
baseline: ``infer_once``). Each observation is used once. It starts an inference just in time for
the publish tick that will take its chunk (core.chunks.inference_start), gives RTC models the
prefix they must continue (core.chunks.rtc_guidance), and offers the chunk to the scheduler
(core.chunks.ChunkScheduler), which the publish tick reads. While a human is in control (teleop's
intervention flag) it predicts nothing, and observations taken before the hand-back are stale: the
arms have moved since.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from tatbot_vla_policy.core.chunks import (
    ChunkScheduler,
    InvalidChunk,
    TimedChunk,
    check_chunk,
    first_tick_at_or_after,
    inference_start,
    rtc_guidance,
)
from tatbot_vla_policy.core.observation import ObservationBuffer, ObservationError
from tatbot_vla_policy.core.streaming import Run
from tatbot_vla_policy.model_supervisor import ModelSupervisor


class InferenceWorker:
    def __init__(
        self,
        model: ModelSupervisor,
        buffer: ObservationBuffer,
        scheduler: ChunkScheduler,
        action_dim: int,
        dt: float,
        offset_steps: int,
        chunk_points: int,
        period: float,
        publish_lead: float,
        max_age: float,
        now: Callable[[], float],
    ):
        """``dt``: the checkpoint's action period; ``period``: the publish loop's; ``chunk_points``:
        actions kept of each chunk (0: all); ``now``: the node's clock, s."""
        self.model, self.buffer, self.scheduler = model, buffer, scheduler
        self._action_dim, self._dt, self._offset_steps, self._chunk_points = action_dim, dt, offset_steps, chunk_points
        self._period, self._publish_lead, self._max_age, self._now = period, publish_lead, max_age, now
        self.next_tick = 0.0  # monotonic time of the publish loop's next tick (the loop sets it)
        self.human = False  # a human is in control (teleop's intervention topic)
        self._handed_back = -math.inf  # when the human last handed control back
        self._last_obs_stamp = -math.inf  # newest observation the model has seen in this run
        self._seq = 0  # chunks predicted in this run
        self._fault: str | None = None

    def start_run(self) -> None:
        self._last_obs_stamp = -math.inf
        self._seq = 0
        self._fault = None

    def forget_seen(self) -> None:
        """A fresh model process may start from the newest observation again."""
        self._last_obs_stamp = -math.inf

    def intervention(self, human: bool) -> None:
        if self.human and not human:
            self._handed_back = self._now()
        self.human = human

    def take_fault(self) -> str:
        """The fault left since the last call (an invalid chunk, a model's exception), cleared."""
        fault, self._fault = self._fault, None
        return fault or ""

    def loop(self, current_run: Callable[[], Run | None], stop: threading.Event) -> None:
        """Thread target: infer for the current run until ``stop``."""
        while not stop.is_set():
            run = current_run()
            if run is None or self.model.restarting:
                stop.wait(0.05)
                continue
            now = time.monotonic()
            start = inference_start(now, self.next_tick, self._period, self.scheduler.pending, self.model.budget())
            if start > now:
                self.scheduler.wait_for_change(min(start - now, self._period))
                continue
            if not self.infer_once(run):
                stop.wait(self._period / 10)

    def infer_once(self, run: Run) -> bool:
        """Predict one chunk from the newest observation; False when there is nothing new to use."""
        try:
            obs = self.buffer.snapshot(self._now(), self._max_age)
        except ObservationError:
            return False  # the publish tick reports it
        if obs.stamp <= max(self._last_obs_stamp, self._handed_back) or self.human:
            return False  # seen, or taken while a human was in control (the arms have moved since)
        self._last_obs_stamp = obs.stamp
        rtc = self._rtc_guidance(obs.stamp) if self.model.runner.rtc else ()
        try:
            actions = self.model.predict(obs.features, run.task, *rtc)
            if actions is None:
                return True  # the model process failed: being restarted, the publish tick reports it
            actions = check_chunk(actions, self._action_dim)
        except InvalidChunk as exc:
            self._fault = f"invalid chunk: {exc}"
            return True
        except Exception as exc:  # a model may raise anything; report it instead of killing the worker
            self._fault = f"inference failed: {type(exc).__name__}: {exc}"
            return True
        if self._chunk_points:
            actions = actions[: self._chunk_points]
        self._seq += 1
        self.scheduler.offer(TimedChunk.from_prediction(actions, obs.stamp, self._dt, self._offset_steps, self._seq))
        return True

    def _rtc_guidance(self, obs_stamp: float) -> tuple:
        """RTC's prefix and inference delay for a chunk from ``obs_stamp`` (core.chunks.rtc_guidance):
        the chunk is expected to be taken by the first tick after the inference's expected duration."""
        budget = self.model.budget()
        now = self._now()
        ready = now + (budget if math.isfinite(budget) else self._period)
        tick = first_tick_at_or_after(ready, now + (self.next_tick - time.monotonic()), self._period)
        steps = self._chunk_points or self.model.runner.n_action_steps or len(self.scheduler.plan or ())
        plan = self.scheduler.plan
        return rtc_guidance(plan, obs_stamp + self._offset_steps * self._dt, self._dt, steps, tick + self._publish_lead)
