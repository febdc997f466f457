"""Offline open-loop evaluation of a checkpoint on a LeRobot dataset.

    ros2 run tatbot_vla_policy replay --checkpoint CKPT --dataset DATASET_ROOT [--plot replay.png]

For every episode the policy is queried every ``stride`` frames (default: its
chunk length) on the recorded observation, exactly as the node feeds it
(:meth:`PolicyRunner.predict`); the first ``stride`` actions of each chunk are
compared with the recorded actions. Prints per-joint MAE / RMSE and writes a
plot of predicted vs recorded actions.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tatbot_vla_policy.core.datasets import DatasetError, load_local_dataset
from tatbot_vla_policy.core.features import (
    ACTION_KEY,
    ENV_STATE_KEY,
    IMAGE_PREFIX,
    STATE_KEY,
    FeatureMismatch,
    check_features,
)
from tatbot_vla_policy.core.runner import CheckpointError, PolicyRunner


class ReplayError(RuntimeError):
    """The dataset cannot be replayed through the checkpoint."""


@dataclass(frozen=True)
class ReplayResult:
    joint_names: list[str]
    predicted: list[np.ndarray]  # per episode (T, J)
    recorded: list[np.ndarray]  # per episode (T, J)
    mae: np.ndarray  # (J,)
    rmse: np.ndarray  # (J,)

    def table(self) -> str:
        width = max(len(n) for n in self.joint_names)
        lines = [f"{'joint':<{width}}  {'MAE':>10}  {'RMSE':>10}"]
        lines += [
            f"{name:<{width}}  {m:>10.5f}  {r:>10.5f}"
            for name, m, r in zip(self.joint_names, self.mae, self.rmse, strict=True)
        ]
        lines.append(f"{'mean':<{width}}  {self.mae.mean():>10.5f}  {self.rmse.mean():>10.5f}")
        return "\n".join(lines)


def _observation(dataset, index: int, episode_start: int, keys: list[str], n_obs_steps: int) -> dict:
    """LeRobot-layout observation at ``index`` (history clamped at the episode start)."""
    frames = [dataset[max(episode_start, index - k)] for k in range(n_obs_steps - 1, -1, -1)]
    stacked = {key: np.stack([f[key].numpy().astype(np.float32) for f in frames]) for key in keys}
    return {k: v[0] for k, v in stacked.items()} if n_obs_steps == 1 else stacked


def replay(
    checkpoint: str | Path,
    dataset_root: str | Path,
    episodes: list[int] | None = None,
    stride: int = 0,
    device: str = "auto",
    task: str | None = None,
) -> ReplayResult:
    dataset = load_local_dataset(dataset_root, "tatbot/replay", episodes=episodes)
    runner = PolicyRunner(checkpoint, device=device)
    features = dataset.meta.features
    if ACTION_KEY not in features or STATE_KEY not in features:
        raise ReplayError(f"{dataset_root} has no {STATE_KEY}/{ACTION_KEY} features: {sorted(features)}")
    cameras = [k[len(IMAGE_PREFIX) :] for k in features if k.startswith(IMAGE_PREFIX)]
    spec = check_features(runner.inputs, runner.outputs, cameras, features[ACTION_KEY]["shape"][0])
    keys = [STATE_KEY, *(c.key for c in spec.cameras)] + ([ENV_STATE_KEY] if spec.uses_stencil else [])
    chunk = len(runner.predict(runner.example_features(), ""))
    stride = stride or chunk
    if not 1 <= stride <= chunk:
        raise ReplayError(f"stride {stride} must be in [1, {chunk}] (the checkpoint's chunk length)")

    episode_index = np.asarray(dataset.hf_dataset["episode_index"])
    predicted, recorded = [], []
    for ep in dict.fromkeys(episode_index.tolist()):
        rows = np.flatnonzero(episode_index == ep)
        start, end = int(rows[0]), int(rows[-1]) + 1
        runner.reset()
        pred = []
        for t in range(start, end, stride):
            obs = _observation(dataset, t, start, keys, runner.n_obs_steps)
            prompt = task if task is not None else dataset[t]["task"]
            pred.append(runner.predict(obs, prompt)[: min(stride, end - t)])
        predicted.append(np.concatenate(pred))
        recorded.append(np.stack([dataset[i][ACTION_KEY].numpy() for i in range(start, end)]).astype(np.float64))
    error = np.concatenate(predicted) - np.concatenate(recorded)
    names = features[ACTION_KEY].get("names") or [f"action_{i}" for i in range(error.shape[1])]
    return ReplayResult(
        joint_names=list(names),
        predicted=predicted,
        recorded=recorded,
        mae=np.abs(error).mean(axis=0),
        rmse=np.sqrt((error**2).mean(axis=0)),
    )


def plot(result: ReplayResult, path: str | Path, title: str = "") -> Path:
    """Predicted vs recorded action per joint, episodes one after another."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predicted, recorded = np.concatenate(result.predicted), np.concatenate(result.recorded)
    bounds = np.cumsum([len(p) for p in result.predicted])[:-1]
    cols = 2
    rows = -(-len(result.joint_names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 1.8 * rows), sharex=True, squeeze=False)
    for j, (ax, name) in enumerate(zip(axes.T.ravel(), result.joint_names, strict=False)):
        ax.plot(recorded[:, j], color="black", lw=1.2, label="recorded")
        ax.plot(predicted[:, j], color="tab:orange", lw=1.0, label="predicted")
        for b in bounds:
            ax.axvline(b, color="grey", lw=0.5, ls=":")
        ax.set_title(f"{name}  MAE {result.mae[j]:.4f}  RMSE {result.rmse[j]:.4f}", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title or "open-loop replay: predicted vs recorded actions", fontsize=10)
    fig.supxlabel("frame", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="LeRobot checkpoint (pretrained_model) directory")
    parser.add_argument("--dataset", required=True, help="LeRobot dataset root directory")
    parser.add_argument("--episodes", type=int, nargs="*", help="episode indices (default: all)")
    parser.add_argument("--stride", type=int, default=0, help="frames between queries (0: chunk length)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--task", help="task prompt (default: each frame's recorded task)")
    parser.add_argument("--plot", default="replay.png", help="PNG path for the plot ('' = none)")
    args = parser.parse_args(argv)
    try:
        result = replay(args.checkpoint, args.dataset, args.episodes, args.stride, args.device, args.task)
    except (CheckpointError, DatasetError, FeatureMismatch, ReplayError, FileNotFoundError) as exc:
        sys.exit(f"replay: {exc}")
    print(result.table())
    if args.plot:
        print(f"plot: {plot(result, args.plot, f'{args.checkpoint} on {args.dataset}')}")


if __name__ == "__main__":
    main()
