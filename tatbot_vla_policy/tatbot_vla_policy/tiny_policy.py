"""Tiny LeRobot datasets and checkpoints for tests, benchmarks and smoke checks (offline).

``make_tiny_dataset`` writes a LeRobotDataset v3 with tatbot's features
(14-joint state/action in the robot config's LeRobot names, small PNG camera
images, optionally the stencil environment state); ``train_tiny_checkpoint``
runs ``lerobot-train`` for a few steps on it with a tiny ACT or diffusion
network (no pretrained backbone, no hub, no wandb) and returns the real
``pretrained_model`` directory it wrote; ``random_checkpoint`` saves an untrained pi0/pi0.5 at
its published size (LeRobot fixes their backbone sizes) with LeRobot's own ``save_pretrained``
and processors, for the GPU tests and benches::

    python -m tatbot_vla_policy.tiny_policy /tmp/tiny --policy act
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import RobotConfig, load_robot_config
from tatbot_bringup.stencil import StencilTracker, stencil_state_names
from tatbot_vla_policy.core.features import ACTION_KEY, DEPTH_SUFFIX, ENV_STATE_KEY, IMAGE_PREFIX, STATE_KEY

TINY_POLICY_ARGS = {
    "act": [
        "--policy.dim_model=32",
        "--policy.n_heads=2",
        "--policy.dim_feedforward=64",
        "--policy.n_encoder_layers=1",
        "--policy.n_decoder_layers=1",
        "--policy.latent_dim=8",
        "--policy.chunk_size=20",
        "--policy.n_action_steps=20",
    ],
    "diffusion": [
        "--policy.use_group_norm=true",
        "--policy.crop_shape=[40,56]",
        "--policy.down_dims=[16,32]",
        "--policy.kernel_size=3",
        "--policy.n_groups=4",
        "--policy.diffusion_step_embed_dim=16",
        "--policy.horizon=16",
        "--policy.n_action_steps=8",
        "--policy.num_inference_steps=4",
        "--policy.spatial_softmax_num_keypoints=8",
    ],
    # on local_backbone's tiny SmolVLM; the backbone and its image size are added by tiny_policy_args
    "smolvla": [
        "--policy.chunk_size=10",
        "--policy.n_action_steps=10",
        "--policy.num_steps=4",
        "--policy.scheduler_warmup_steps=10",
        "--policy.optimizer_lr=1e-3",
    ],
}
NO_BACKBONE_WEIGHTS = ("act", "diffusion")  # policies with a torchvision backbone: no pretrained weights


def slow_down(runner, seconds: float) -> None:
    """Make every ``runner.predict`` (PolicyRunner or RunnerProcess) take at least ``seconds``
    (a slow VLA stand-in)."""
    predict = runner.predict

    def slow(features, task, *rtc, **options):
        deadline = time.perf_counter() + seconds
        out = predict(features, task, *rtc, **options)
        time.sleep(max(0.0, deadline - time.perf_counter()))
        return out

    runner.predict = slow


class TinyPolicyError(RuntimeError):
    """lerobot-train failed on the tiny dataset."""


CARRIAGE_MARGIN = 0.001  # m, demo carriages stay this far inside their upper limit (ready = fully open)


def home_pose(config: RobotConfig) -> np.ndarray:
    """The 'ready' pose with the carriages 1 mm inside their limit, so the demo motion
    (and a tiny policy's noise around it) stays within limits and within one max_jump of ready."""
    q = config.pose("ready")
    carriages = ~config.revolute
    q[carriages] = np.minimum(q, config.upper - 2 * CARRIAGE_MARGIN)[carriages]
    return q


PROMPT_RATE = 0.05  # rad/s of left/joint_0 in prompted datasets: + for the first task, - for the second
PROMPTS = ("draw a line", "draw an arc")  # the two tasks of a prompted dataset


def prompted_trajectory(config: RobotConfig, frames: int, fps: float, sign: float) -> np.ndarray:
    """(frames + 1, J) motion whose direction only the task prompt tells: the same small motion of
    every joint for both tasks (no joint is constant: a zero std would blow up its normalized
    values), plus left/joint_0 turning at ``sign`` * PROMPT_RATE."""
    q = demo_trajectory(config, frames, fps, phase=0.0)
    q[:, 0] += sign * PROMPT_RATE * np.arange(frames + 1) / fps
    return q


def demo_trajectory(config: RobotConfig, frames: int, fps: float, phase: float, scale: float = 1.0) -> np.ndarray:
    """(frames + 1, J) smooth joint motion around home_pose, inside limits and velocity bounds
    (``scale`` times the default amplitude)."""
    t = np.arange(frames + 1)[:, None] / fps
    amplitude = scale * np.where(config.revolute, 0.05, CARRIAGE_MARGIN / 2)
    freq = 0.2 + 0.05 * np.arange(len(config.joints))
    return home_pose(config) + amplitude * np.sin(2 * np.pi * freq * t + phase)


def demo_stencil(phase: float, points: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Left/right needle-tip arcs (m, base frame) in front of each arm."""
    s = np.linspace(0.0, np.pi / 2, points) + phase
    left = np.stack([0.3 + 0.02 * np.cos(s), 0.2 + 0.02 * np.sin(s), np.full(points, 0.05)], axis=1)
    right = left * np.array([1.0, -1.0, 1.0])
    return left, right


def demo_image(height: int, width: int, value: float, camera: int) -> np.ndarray:
    """HxWx3 uint8 gradient whose colour follows ``value`` (so images carry signal)."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = (xx / width + yy / height) * 80 + 60 * value + 40 * camera
    return np.stack([base, base[::-1], np.full_like(base, 120 + 60 * value)], axis=-1).clip(0, 255).astype(np.uint8)


DEPTH_MM = (150.0, 250.0)  # demo depth range: a skin surface 15-25 cm from a wrist camera


def demo_depth(height: int, width: int, value: float) -> np.ndarray:
    """HxW uint16 depth (mm, 0 = no depth) of a tilted plane whose distance follows ``value``
    (so depth carries signal), with a row of no-depth pixels at the top as a D405 gives."""
    yy, xx = np.mgrid[0:height, 0:width]
    near, far = DEPTH_MM
    mm = near + (far - near) * (0.5 * value + 0.25 * (xx / width + yy / height))
    mm[0] = 0
    return mm.round().astype(np.uint16)


def make_tiny_dataset(
    root: str | Path,
    *,
    cameras: tuple[str, ...] = ("realsense1", "realsense2"),
    image_hw: tuple[int, int] = (48, 64),
    fps: int = 10,
    episodes: int = 2,
    frames: int = 20,
    stencil_points_per_arm: int = 0,
    task: str = "draw the stencil",
    prompts: tuple[str, str] | None = None,
    motion_scale: float = 1.0,
    depth: bool = False,
    config: RobotConfig | None = None,
) -> Path:
    """Write a LeRobotDataset v3 (PNG images, no video) and return its root.

    ``prompts``: episodes alternate between the two tasks, and the motion's direction follows the
    task alone (:func:`prompted_trajectory`): a policy must read the prompt to get it right.
    ``depth``: also ``observation.images.<camera>_depth`` per camera, LeRobot's depth feature as
    ``bag_to_lerobot --depth --images`` writes it ((H, W, 1) uint16 mm, info.is_depth_map, TIFF)."""
    from lerobot.datasets import LeRobotDataset
    from lerobot.utils.constants import OBS_STR
    from lerobot.utils.feature_utils import hw_to_dataset_features

    config = config or load_robot_config()
    names = config.lerobot_names
    height, width = image_hw
    features = {
        STATE_KEY: {"dtype": "float32", "shape": (len(names),), "names": names},
        ACTION_KEY: {"dtype": "float32", "shape": (len(names),), "names": names},
    }
    for cam in cameras:
        features[IMAGE_PREFIX + cam] = {
            "dtype": "image",
            "shape": (height, width, 3),
            "names": ["height", "width", "channels"],
        }
    if depth:  # LeRobot's own depth feature: a (H, W, 1) camera
        depth_shapes = {cam + DEPTH_SUFFIX: (height, width, 1) for cam in cameras}
        features.update(hw_to_dataset_features(depth_shapes, OBS_STR, use_video=False))
    if stencil_points_per_arm:
        stencil_names = stencil_state_names(stencil_points_per_arm)
        features[ENV_STATE_KEY] = {"dtype": "float32", "shape": (len(stencil_names),), "names": stencil_names}
    tips = RobotKinematics.from_config(config).needle_tips if stencil_points_per_arm else None
    dataset = LeRobotDataset.create(
        "tatbot/tiny", fps=fps, features=features, root=root, robot_type=config.name, use_videos=False
    )
    try:
        for ep in range(episodes):
            if prompts:
                task = prompts[ep % 2]
                q = prompted_trajectory(config, frames, fps, sign=1.0 if ep % 2 == 0 else -1.0)
            else:
                q = demo_trajectory(config, frames, fps, phase=0.7 * ep, scale=motion_scale)
            stencil = demo_stencil(0.1 * ep)
            tracker = StencilTracker(*stencil, stencil_points_per_arm) if tips else None
            env = [tracker(tip) for tip in tips(q)] if tips else None  # in time order, as bag_to_lerobot
            for f in range(frames):
                value = 0.5 + 0.5 * np.sin(2 * np.pi * f / frames)
                frame = {
                    STATE_KEY: q[f].astype(np.float32),
                    ACTION_KEY: q[f + 1].astype(np.float32),
                    "task": task,
                }
                for i, cam in enumerate(cameras):
                    frame[IMAGE_PREFIX + cam] = demo_image(height, width, value, i)
                    if depth:
                        frame[IMAGE_PREFIX + cam + DEPTH_SUFFIX] = demo_depth(height, width, value)[..., None]
                if env is not None:
                    frame[ENV_STATE_KEY] = env[f]
                dataset.add_frame(frame)
            dataset.save_episode()
    finally:
        dataset.finalize()
    return Path(root)


def smolvla_backbone_args(backbone: str | Path) -> list[str]:
    """lerobot-train's options for SmolVLA on a local backbone: the directory, and images resized
    (with padding) to its vision tower's input size (its config.json)."""
    size = json.loads((Path(backbone) / "config.json").read_text())["vision_config"]["image_size"]
    return [f"--policy.vlm_model_name={backbone}", f"--policy.resize_imgs_with_padding=[{size},{size}]"]


def tiny_policy_args(policy: str, backbone: str | Path | None = None) -> list[str]:
    """lerobot-train's ``--policy.*`` options for a tiny CPU network of this type (no pretrained
    weights; smolvla: on the local ``backbone`` directory of local_backbone)."""
    if policy not in TINY_POLICY_ARGS:
        raise ValueError(f"unknown tiny policy {policy!r}; choose from {sorted(TINY_POLICY_ARGS)}")
    if policy == "smolvla" and backbone is None:
        raise ValueError("a tiny smolvla needs a local backbone directory (local_backbone)")
    return [
        f"--policy.type={policy}",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        *(["--policy.pretrained_backbone_weights=null"] if policy in NO_BACKBONE_WEIGHTS else []),
        *(smolvla_backbone_args(backbone) if policy == "smolvla" else []),
        *TINY_POLICY_ARGS[policy],
    ]


def train_tiny_checkpoint(
    dataset_root: str | Path,
    output_dir: str | Path,
    policy: str = "act",
    steps: int = 2,
    timeout: float = 600,
    init: str | Path | None = None,
    batch_size: int = 2,
) -> Path:
    """Run ``lerobot-train`` (CPU, tiny network; from the checkpoint ``init`` when given, e.g. one of
    init_relative_policy) and return the written pretrained_model directory. A smolvla is trained
    on a tiny SmolVLM backbone that local_backbone writes beside it (``output_dir``_backbone)."""
    from tatbot_vla_policy.local_backbone import write_backbone

    output_dir = Path(output_dir)
    backbone = write_backbone(output_dir.parent / f"{output_dir.name}_backbone") if policy == "smolvla" else None
    command = [
        str(Path(sys.executable).with_name("lerobot-train")),
        "--dataset.repo_id=tatbot/tiny",
        f"--dataset.root={dataset_root}",
        *([f"--policy.path={init}"] if init else tiny_policy_args(policy, backbone)),
        f"--steps={steps}",
        f"--batch_size={batch_size}",
        "--num_workers=0",
        f"--save_freq={steps}",
        "--log_freq=1",
        "--wandb.enable=false",
        f"--output_dir={output_dir}",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    checkpoint = output_dir / "checkpoints" / "last" / "pretrained_model"
    if result.returncode != 0 or not (checkpoint / "config.json").is_file():
        raise TinyPolicyError(
            f"lerobot-train exited {result.returncode} without {checkpoint}:\n{result.stderr[-3000:]}"
        )
    return checkpoint.resolve()


PALIGEMMA_TOKENIZER = "google/paligemma-3b-pt-224"  # the tokenizer LeRobot's pi0/pi0.5 processors name
RANDOM_POLICIES = ("pi0", "pi05")


def random_checkpoint(dataset_root: str | Path, output: str | Path, policy: str = "pi0", dtype: str = "bfloat16"):
    """Save an untrained ``policy`` (pi0 or pi05) at its published size, as lerobot-train lays a
    checkpoint out: LeRobot's config with the dataset's features, random weights (``dtype``),
    ``save_pretrained`` of the policy and of LeRobot's own processors (normalization from the
    dataset's stats). The pre-processor names the published tokenizer by hub id, as a real pi0
    checkpoint does; a tokenizer trained here on the dataset's tasks (local_backbone) is written to
    ``output``_tokenizer. Deploy with ``hub_paths:=google/paligemma-3b-pt-224=<that dir>``.
    Returns (checkpoint, tokenizer dir). Built in a child process: pi0 builds in float32 (~16 GB of
    host memory), and the caller keeps none of it."""
    if policy not in RANDOM_POLICIES:
        raise ValueError(f"random_checkpoint builds {' or '.join(RANDOM_POLICIES)}, not {policy!r}")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_build_random_checkpoint, Path(dataset_root), Path(output), policy, dtype).result()


def _build_random_checkpoint(dataset_root: Path, output: Path, policy: str, dtype: str) -> tuple[Path, Path]:
    import torch
    from lerobot.configs import FeatureType
    from lerobot.datasets import LeRobotDatasetMetadata
    from lerobot.policies import get_policy_class, make_policy_config, make_pre_post_processors
    from lerobot.utils.feature_utils import dataset_to_policy_features

    from tatbot_vla_policy.local_backbone import train_tokenizer

    output = output.resolve()  # the processors are built from another working directory below
    meta = LeRobotDatasetMetadata("tatbot/tiny", root=dataset_root)
    features = dataset_to_policy_features(meta.features)
    outputs = {k: f for k, f in features.items() if f.type is FeatureType.ACTION}
    inputs = {k: f for k, f in features.items() if k not in outputs}
    config = make_policy_config(
        policy, input_features=inputs, output_features=outputs, device="cpu", dtype=dtype, push_to_hub=False
    )
    tokenizer_dir = output.parent / f"{output.name}_tokenizer"
    train_tokenizer(list(meta.tasks.index), vocab_size=512).save_pretrained(tokenizer_dir)
    # LeRobot's pi0 processor factory loads PALIGEMMA_TOKENIZER by name: a relative directory of
    # that name is what transformers loads first, so the processors build offline and keep the id
    with tempfile.TemporaryDirectory() as stage, contextlib.chdir(stage):
        Path(PALIGEMMA_TOKENIZER).parent.mkdir(parents=True)
        Path(PALIGEMMA_TOKENIZER).symlink_to(tokenizer_dir.resolve())
        preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=meta.stats)
    torch.manual_seed(0)
    get_policy_class(policy)(config).save_pretrained(output)
    preprocessor.save_pretrained(output)
    postprocessor.save_pretrained(output)
    return output, tokenizer_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="directory for the dataset and the training run")
    parser.add_argument("--policy", choices=sorted(TINY_POLICY_ARGS), default="act")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--stencil-points", type=int, default=0, help="add observation.environment_state")
    args = parser.parse_args(argv)
    start = time.monotonic()
    dataset = make_tiny_dataset(args.output / "dataset", stencil_points_per_arm=args.stencil_points)
    checkpoint = train_tiny_checkpoint(dataset, args.output / f"train_{args.policy}", args.policy, args.steps)
    print(f"{checkpoint} ({time.monotonic() - start:.1f} s)")


if __name__ == "__main__":
    main()
