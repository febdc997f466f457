"""validation_loss: a checkpoint's training loss on episodes it was not trained on.

Loads the checkpoint with its processors (as vla_policy does), the dataset's episodes with the
policy's own delta timestamps (LeRobot's resolve_delta_timestamps, as lerobot-train does), runs
every frame through the preprocessor and ``policy.forward`` without gradients, and prints the
mean loss (for ACT: the L1 of the normalized action chunk, the number lerobot-train logs as
``loss``). Train with ``lerobot-train --dataset.episodes=[...]`` leaving some episodes out, then:

    validation_loss --checkpoint outputs/train/checkpoints/last/pretrained_model \\
        --dataset outputs/dataset --episodes 190-199

The last line printed is ``validation_loss=<loss> frames=<n> episodes=<k>``.

The policy is in eval mode, as vla_policy runs it: no dropout, and for ACT with its VAE on
(LeRobot's default) no KL term and a zero latent, so the number is then not the training loss
itself (the demo's ACT has no VAE). The normalization statistics are the dataset's, held-out
episodes included.
"""

from __future__ import annotations

import argparse
import sys

import torch

from tatbot_vla_policy.core.datasets import DatasetError, load_local_dataset
from tatbot_vla_policy.core.runner import CheckpointError, PolicyRunner


def parse_episodes(text: str) -> list[int]:
    """``3,5,10-12`` -> [3, 5, 10, 11, 12]."""
    episodes = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            episodes += list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ValueError(f"--episodes {text!r}: use indices and ranges such as 0,3,190-199") from None
    if not episodes:
        raise ValueError(f"--episodes {text!r}: give at least one episode (a range runs low-high)")
    return sorted(set(episodes))


def validation_loss(checkpoint: str, dataset: str, episodes: list[int], batch_size: int = 64) -> tuple[float, int]:
    """(mean loss over the frames, number of frames) of ``checkpoint`` on ``episodes`` of ``dataset``."""
    from lerobot.datasets.factory import resolve_delta_timestamps

    runner = PolicyRunner(checkpoint, device="cpu")
    meta = load_local_dataset(dataset, episodes=[0]).meta
    if max(episodes) >= meta.total_episodes:
        raise ValueError(f"--episodes: {dataset} has episodes 0-{meta.total_episodes - 1}, not {max(episodes)}")
    data = load_local_dataset(
        dataset, episodes=episodes, delta_timestamps=resolve_delta_timestamps(runner.config, meta)
    )
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0)
    total, frames = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            loss, _ = runner.policy.forward(runner.preprocessor(batch))
            n = len(batch["index"])
            total, frames = total + float(loss) * n, frames + n
    return total / max(frames, 1), frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="validation_loss",
        description="A LeRobot checkpoint's loss on dataset episodes it was not trained on (CPU, no gradients).",
    )
    parser.add_argument("--checkpoint", required=True, help="pretrained_model directory (or its checkpoint dir)")
    parser.add_argument("--dataset", required=True, help="the local LeRobot dataset (bag_to_lerobot --output)")
    parser.add_argument("--episodes", required=True, help="held-out episode indices, e.g. 190-199 or 3,7,9")
    parser.add_argument("--batch-size", type=int, default=64, help="frames per forward pass (default 64)")
    args = parser.parse_args(argv)
    try:
        episodes = parse_episodes(args.episodes)
        loss, frames = validation_loss(args.checkpoint, args.dataset, episodes, args.batch_size)
    except (ValueError, CheckpointError, DatasetError) as exc:
        print(f"validation_loss: {exc}", file=sys.stderr)
        return 2
    print(f"validation_loss={loss:.4f} frames={frames} episodes={len(episodes)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
