"""Chunk splices of one slow flow-matching model under none / crossfade / ensemble / rtc blending.

One tiny SmolVLA (trained here with lerobot-train on a prompted tiny dataset, ~80 s, or
``--checkpoint``) is run in closed loop on a virtual clock with the node's own core: the
inference worker starts back to back, each chunk becomes usable ``--latency`` s after its
observation (slower than the 0.1 s publish period), the 10 Hz publish ticks take it through
``ChunkScheduler.next_plan`` (``core.chunks``), and the robot follows every published plan
exactly from the tick on, as the driver splices. For rtc the worker asks
``core.chunks.rtc_guidance`` for the prefix and the inference delay, as the node does. Every
mode gets the same model, observations, noise seeds and schedule. Printed per mode: the max
position jump at a splice (new plan minus the old one at the tick, rad, any joint), and the max
second difference of the executed path on the 10 Hz action grid (rad)::

    python bench/rtc_bench.py                 # trains the tiny SmolVLA first
    python bench/rtc_bench.py --checkpoint outputs/train/smolvla/checkpoints/last/pretrained_model
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tatbot_bringup.robot_config import load_robot_config
from tatbot_vla_policy.core.chunks import (
    BlendConfig,
    BlendMode,
    ChunkScheduler,
    TimedChunk,
    first_tick_at_or_after,
    rtc_guidance,
)
from tatbot_vla_policy.core.runner import PolicyRunner
from tatbot_vla_policy.tiny_policy import PROMPTS, demo_image, home_pose, make_tiny_dataset, train_tiny_checkpoint

PERIOD = 0.1  # s, publish period (10 Hz)
LEAD = 0.01  # s, publish_lead
OFFSET = 1  # action_offset_steps (bag_to_lerobot)


def simulate(runner: PolicyRunner, mode: BlendMode, latency: float, ticks: int, seed: int) -> tuple[float, float]:
    """(max splice jump, max second difference) of one closed-loop run."""
    config = load_robot_config()
    dt = PERIOD
    torch.manual_seed(seed)
    scheduler = ChunkScheduler(BlendConfig(mode=mode, crossfade_time=0.2, ensemble_coeff=0.01))
    images = {
        f"observation.images.{cam}": (demo_image(48, 64, 0.5, i).transpose(2, 0, 1) / 255).astype(np.float32)
        for i, cam in enumerate(("realsense1", "realsense2"))
    }
    hold = home_pose(config)
    executing: TimedChunk | None = None  # what the robot follows
    jumps, path = [], []
    obs_time, ready = 0.0, None
    pending: TimedChunk | None = None
    steps = runner.n_action_steps
    for n in range(ticks):
        tick = n * PERIOD
        position = executing.sample(np.array([tick]))[0][0] if executing else hold
        path.append(position)
        if ready is None:  # the worker starts the next inference now (back to back)
            obs_time, ready = tick, tick + latency
            features = {"observation.state": position.astype(np.float32), **images}
            rtc = ()
            if mode is BlendMode.RTC:
                usable = first_tick_at_or_after(ready, tick, PERIOD) + LEAD
                rtc = rtc_guidance(scheduler.plan, obs_time + OFFSET * dt, dt, steps, usable)
            actions = runner.predict(features, PROMPTS[0], *rtc)
            pending = TimedChunk.from_prediction(actions, obs_time, dt, OFFSET)
        if ready is not None and tick >= ready - 1e-9:
            scheduler.offer(pending)
            ready = None
        plan = scheduler.next_plan(tick + LEAD, hold=position)
        if plan is None:
            continue
        if executing is not None and plan is not executing:
            old = executing.sample(np.array([plan.start]))
            if old[2][0]:
                jumps.append(np.abs(plan.actions[0] - old[0][0]).max())
        executing = plan
    q = np.array(path)
    second = np.abs(q[2:] - 2 * q[1:-1] + q[:-2]).max() if len(q) > 2 else math.nan
    return (max(jumps) if jumps else math.nan), float(second)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="a SmolVLA/pi0 checkpoint (default: train a tiny SmolVLA)")
    parser.add_argument("--latency", type=float, default=0.25, help="s from observation to a usable chunk")
    parser.add_argument("--ticks", type=int, default=80, help="publish ticks per run (default 80 = 8 s)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per mode (default 3)")
    parser.add_argument("--horizon", type=int, default=8, help="RTC execution horizon (default 8)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint
        if checkpoint is None:
            print("training a tiny SmolVLA (lerobot-train, 800 steps on CPU) ...", flush=True)
            dataset = make_tiny_dataset(Path(tmp) / "dataset", prompts=PROMPTS, episodes=4)
            checkpoint = train_tiny_checkpoint(dataset, Path(tmp) / "train", "smolvla", steps=800, batch_size=8)
        runner = PolicyRunner(checkpoint, device="cpu", rtc_execution_horizon=args.horizon)
        print(
            f"rtc_bench {time.strftime('%Y-%m-%d %H:%M')}: {runner}, chunk {runner.n_action_steps} x 0.1 s, "
            f"latency {args.latency:.2f} s (publish period {PERIOD} s), {args.ticks} ticks x {args.seeds} seeds\n"
        )
        print("| blend_mode | max splice jump (rad) | max 2nd difference (rad) |\n|---|---|---|")
        for mode in (BlendMode.NONE, BlendMode.CROSSFADE, BlendMode.ENSEMBLE, BlendMode.RTC):
            runs = [simulate(runner, mode, args.latency, args.ticks, seed) for seed in range(args.seeds)]
            jump = max(r[0] for r in runs)
            second = max(r[1] for r in runs)
            print(f"| {mode.value} | {jump:.4f} | {second:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
