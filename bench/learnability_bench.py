"""How precisely can ACT learn to trace strokes? An offline study in minutes instead of a 15 min demo.

No ROS, no cameras, no recording: stroke pairs from the demo's generator are planned by inverse
kinematics (what stroke_demo streams), turned into (state, stencil, action chunk) frames the
way bag_to_lerobot turns recordings into a dataset (state and action on the same 10 Hz grid,
chunk = the next ``chunk`` setpoints), and fed to LeRobot's ACT model (same size as the demo's,
without the image backbone). Then the trained model drives a kinematic robot (the next state is
the chunk's next setpoint) over the training strokes and over held-out strokes from another
seed, and each rollout is scored with the evaluation's own criterion
(tatbot_vla_policy.core.scoring: 90 % of the stencil inked within 2 mm, p95 deviation <= 2 mm,
ink within 2 mm of every sharp corner).

Prints open-loop needle-tip error of the next setpoint, then closed-loop success, coverage and
deviation, executing the next action of every chunk or ACT's temporal ensemble, for the training
and the held-out strokes, and for the held-out strokes a table of success per stroke by family:
shape (line, arc, wave, zigzag, circle, polygon), length (0-3, 3-6, 6+ cm) and position (how far
the stroke's centre is from its arm's region centre), with 95 % Wilson intervals.

``--stencil ahead`` is the pipeline's observation.environment_state (tatbot_bringup.stencil's
StencilTracker: the stencil ahead of each needle tip along the path, relative to it);
``--stencil world`` is the whole stencil (16 points per arm) in the base frame, the pipeline's
representation until 2026-12-01, and ``--stencil needle`` the whole stencil relative to each
needle tip. ``--actions relative`` (the pipeline's, through init_relative_policy) trains on the
targets minus the observed state and adds the state back to the prediction; ``--actions
absolute`` is LeRobot's default action, the joint targets. ``--depth`` is the needle depth of
the demonstrations under the surface (stroke_demo's default). ``--tracking-noise`` records the
demonstrations on mock arms with a smooth random tracking error (arm_driver's
``mock_tracking_noise``, as ``make demo`` records): the state is off the plan, the actions stay the
plan (DART). The closed-loop rollouts run on exact arms.

    python bench/learnability_bench.py --demos 200 --steps 3000 --batch 64 --lr 2e-4 --eval 30
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy

from tatbot_arm_driver.backends.mock import MockBackend
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config
from tatbot_bringup.stencil import StencilTracker, resample_polyline
from tatbot_bringup.strokes import (
    DEFAULT_DEPTH,
    StrokePair,
    generate_stroke_pairs,
    plan_joint_path,
    stroke_space_for,
)
from tatbot_vla_policy.core.report import family_table
from tatbot_vla_policy.core.scoring import score_stroke

CONFIG = load_robot_config()
KIN = RobotKinematics.from_config(CONFIG)
SPACE = stroke_space_for(CONFIG, KIN)
STATE, ENV, ACTION = "observation.state", "observation.environment_state", "action"
WHOLE_STENCIL_POINTS = 16  # per arm, for --stencil world / needle


def episode(pair: StrokePair, args) -> np.ndarray:
    """(T, 14) setpoints at 10 Hz: ``lead_in`` frames still at the first pose, the stroke (``depth`` below
    the surface), ``hold`` frames at the end."""
    lead_in, hold = args.lead_in, args.hold
    path = plan_joint_path(pair, KIN, CONFIG.pose("ready"), args.depth)
    return np.vstack([np.repeat(path[:1], lead_in, 0), path, np.repeat(path[-1:], hold, 0)])


def stencil_features(pair: StrokePair, q: np.ndarray, frame: str, tracker: StencilTracker) -> np.ndarray:
    """``tracker``: this episode's StencilTracker (--stencil ahead), called in time order."""
    tips = KIN.needle_tips(q)
    if frame == "ahead":
        return tracker(tips)
    points = np.stack([resample_polyline(s.drawn, WHOLE_STENCIL_POINTS) for s in (pair.left, pair.right)])
    if frame == "needle":
        points = points - tips[:, None, :]
    return points.reshape(-1)


def tracking_errors(frames: int, std: float, seed: int) -> np.ndarray:
    """(frames, 14) the mock arms' tracking error (arm_driver's mock_tracking_noise) at 10 Hz."""
    clock = [0.0]
    mock = MockBackend(
        np.zeros(14), lag=0.0, latency=0.0, clock=lambda: clock[0], noise_std=std * CONFIG.revolute, seed=seed
    )
    mock.open()
    errors = []
    for k in range(10 * frames):  # read at the driver's 100 Hz, keep every 10th
        clock[0] = 0.01 * k
        error = mock.read().position
        if k % 10 == 0:
            errors.append(error)
    return np.array(errors)


def frames(pairs, args) -> dict[str, torch.Tensor]:
    """Training frames; with --tracking-noise the state is the setpoint plus the mock arms' tracking error
    while the action stays the planned setpoints, as bag_to_lerobot converts a noisy recording."""
    state, env, action = [], [], []
    for index, pair in enumerate(pairs):
        setpoints = episode(pair, args)
        measured = setpoints + tracking_errors(len(setpoints), args.tracking_noise, index)
        tracker = StencilTracker(pair.left.drawn, pair.right.drawn)
        for t in range(len(setpoints)):
            ahead = np.minimum(np.arange(t, t + args.chunk), len(setpoints) - 1)
            state.append(measured[t])
            env.append(stencil_features(pair, measured[t], args.stencil, tracker))
            action.append(setpoints[ahead] - (measured[t] if args.actions == "relative" else 0.0))
    return {
        k: torch.tensor(np.array(v), dtype=torch.float32) for k, v in ((STATE, state), (ENV, env), (ACTION, action))
    }


class Normalizer:
    """Mean/std per feature dimension, as LeRobot's MEAN_STD normalization."""

    def __init__(self, data: dict[str, torch.Tensor]):
        self.stats = {}
        for key, value in data.items():
            flat = value.reshape(-1, value.shape[-1])
            self.stats[key] = (flat.mean(0), flat.std(0) + 1e-3)

    def __call__(self, key: str, value: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats[key]
        return (value - mean) / std

    def undo(self, key: str, value: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats[key]
        return value * std + mean


def make_policy(env_dim: int, chunk: int) -> ACTPolicy:
    config = ACTConfig(
        input_features={
            STATE: PolicyFeature(FeatureType.STATE, (14,)),
            ENV: PolicyFeature(FeatureType.ENV, (env_dim,)),
        },
        output_features={ACTION: PolicyFeature(FeatureType.ACTION, (14,))},
        chunk_size=chunk,
        n_action_steps=chunk,
        dim_model=256,
        dim_feedforward=1024,
        n_encoder_layers=2,
        n_decoder_layers=1,
        use_vae=False,
        pretrained_backbone_weights=None,
        device="cpu",
    )
    return ACTPolicy(config)


def train(policy: ACTPolicy, data: dict, norm: Normalizer, args) -> float:
    optimizer = torch.optim.AdamW(policy.parameters(), lr=args.lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(args.seed)
    policy.train()
    start = time.monotonic()
    n = len(data[STATE])
    for step in range(args.steps):
        pick = torch.randint(n, (args.batch,), generator=generator)
        batch = {key: norm(key, value[pick]) for key, value in data.items()}
        batch["action_is_pad"] = torch.zeros(args.batch, args.chunk, dtype=torch.bool)
        loss, _ = policy.forward(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            print(f"  step {step:6d}  L1 {loss.item():.4f}  ({time.monotonic() - start:.0f} s)", flush=True)
    policy.eval()
    return args.steps / (time.monotonic() - start)


def predict(policy: ACTPolicy, norm: Normalizer, state: torch.Tensor, env: torch.Tensor, args) -> np.ndarray:
    """(N, chunk, 14) joint targets."""
    with torch.no_grad():
        out = norm.undo(ACTION, policy.model({STATE: norm(STATE, state), ENV: norm(ENV, env)})[0])
    if args.actions == "relative":
        out = out + state[:, None, :]
    return out.numpy().astype(np.float64)


def open_loop_error_mm(policy, norm, pairs, args) -> np.ndarray:
    data = frames(pairs, args)
    chunks = predict(policy, norm, data[STATE], data[ENV], args)
    want = (data[ACTION][:, 1] + (data[STATE] if args.actions == "relative" else 0.0)).numpy().astype(np.float64)
    return np.linalg.norm(KIN.needle_tips(chunks[:, 1]) - KIN.needle_tips(want), axis=-1).ravel() * 1e3


def rollout(policy, norm, pair: StrokePair, args, ensemble: bool) -> list:
    """Closed loop: every period the next setpoint is the chunk's next action, or with ``ensemble``
    the average of every chunk's prediction for it (ACT's temporal ensemble, as the node's
    ``blend_mode:=ensemble``: weights exp(-0.01 i), oldest prediction first)."""
    setpoints = episode(pair, args)
    q = setpoints[0].copy()
    states, chunks = [q], []
    tracker = StencilTracker(pair.left.drawn, pair.right.drawn)
    for t in range(len(setpoints)):
        env = stencil_features(pair, q, args.stencil, tracker)
        state = torch.tensor(q[None]).float()
        chunks.append((t, predict(policy, norm, state, torch.tensor(env[None]).float(), args)[0]))
        if ensemble:
            due = [chunk[t + 1 - s] for s, chunk in chunks if t + 1 - s < len(chunk)]
            weights = np.exp(-0.01 * np.arange(len(due)))
            q = np.average(due, axis=0, weights=weights)
        else:
            q = chunks[-1][1][1]
        states.append(q)
    states = np.array(states)
    # 10 samples per period, linear in joint space, as the driver interpolates
    s = np.linspace(0.0, 1.0, 10, endpoint=False)[:, None]
    fine = np.concatenate([a + (b - a) * s for a, b in itertools.pairwise(states)])
    tips = KIN.needle_tips(fine)
    return [
        score_stroke(tips[:, i], stroke.drawn, CONFIG.work_surface.z)
        for i, stroke in enumerate((pair.left, pair.right))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stencil", choices=("ahead", "world", "needle"), default="ahead", help="stencil input (see above)"
    )
    parser.add_argument(
        "--actions", choices=("absolute", "relative"), default="relative", help="action targets (see above)"
    )
    parser.add_argument(
        "--depth",
        type=float,
        default=DEFAULT_DEPTH,
        help=f"needle depth, m under the surface (default {DEFAULT_DEPTH})",
    )
    parser.add_argument(
        "--tracking-noise",
        type=float,
        default=0.003,
        help="std of the demonstrations' tracking error, rad, as make demo records (default 0.003; 0: exact)",
    )
    parser.add_argument("--demos", type=int, default=200, help="training stroke pairs (default 200, the demo's)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64, the demo's)")
    parser.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4, the demo's)")
    parser.add_argument("--chunk", type=int, default=10, help="actions per chunk (default 10, the demo's)")
    parser.add_argument("--lead-in", type=int, default=0, help="frames at the first pose before the stroke")
    parser.add_argument("--hold", type=int, default=4, help="frames at the last pose after the stroke")
    parser.add_argument("--eval", type=int, default=30, help="stroke pairs scored per set (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    start = time.monotonic()
    train_pairs = generate_stroke_pairs(args.demos, args.seed, SPACE)
    held_out = generate_stroke_pairs(args.eval, 1000 + args.seed, SPACE)
    data = frames(train_pairs, args)
    print(f"{len(data[STATE])} frames from {args.demos} planned stroke pairs in {time.monotonic() - start:.0f} s")
    norm = Normalizer(data)
    policy = make_policy(data[ENV].shape[-1], args.chunk)
    rate = train(policy, data, norm, args)
    print(f"trained {args.steps} steps at {rate:.1f} steps/s (batch {args.batch}, no images)")
    for name, pairs in (("training", train_pairs[: args.eval]), ("held-out", held_out)):
        err = open_loop_error_mm(policy, norm, pairs, args)
        print(
            f"{name}: open loop, next-setpoint tip error mean {err.mean():.2f} mm, p95 {np.percentile(err, 95):.2f} mm"
        )
        for ensemble in (False, True):
            scores = [rollout(policy, norm, pair, args, ensemble) for pair in pairs]
            arms = [s for pair in scores for s in pair]
            success = np.mean([all(s.success for s in pair) for pair in scores])
            inked = [s.deviation_p95_mm for s in arms if s.inked_samples]
            print(
                f"{name}: closed loop ({'temporal ensemble' if ensemble else 'next action'}): success {success:.0%} "
                f"of {len(pairs)} pairs, per stroke {np.mean([s.success for s in arms]):.0%}, "
                f"coverage {np.mean([s.coverage for s in arms]):.0%}, deviation p95 median "
                f"{np.median(inked) if inked else float('nan'):.2f} mm, {len(arms) - len(inked)} arm(s) never inked"
            )
            if name == "held-out":
                strokes = [
                    (stroke.families(), score.success)
                    for pair, pair_scores in zip(pairs, scores, strict=True)
                    for stroke, score in zip((pair.left, pair.right), pair_scores, strict=True)
                ]
                print("\n".join(family_table(strokes)))


if __name__ == "__main__":
    main()
