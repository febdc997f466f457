"""init_relative_policy: a new LeRobot policy that predicts actions relative to the joint state.

LeRobot's ACT and diffusion predict absolute joint targets. pi0/pi0.5 can instead learn
``action - observation.state`` (their ``use_relative_actions``): LeRobot's
``RelativeActionsProcessorStep`` subtracts the state before normalization, and
``AbsoluteActionsProcessorStep`` adds it back after unnormalization. Both steps are saved in
the checkpoint's processor files. For tracing a stencil, relative actions are the stronger
formulation: bench/learnability_bench.py measures 2-3x lower open-loop error.

This command gives any policy type the same two steps. It builds the policy for a dataset with
random weights, as lerobot-train would. It inserts the two steps into the policy's processors
and saves a checkpoint for lerobot-train to continue from (``--policy.path``). The result stays
a plain LeRobot checkpoint: vla_policy, replay and LeRobot's own tools load it through LeRobot's
factory and get absolute joint targets.

A dataset with depth (``observation.images.<camera>_depth``, 1 channel: ``bag_to_lerobot
--depth``) also gets core.depth_channels' step right after the normalizer: it repeats each depth
image to the 3 channels that the policy's vision encoder takes (LeRobot 0.6.1's ACT fails on 1).

lerobot-train normalizes with the dataset's statistics, so the dataset's action statistics must
be the relative ones first (LeRobot's recompute_stats; this command checks it, and runs it with
``--recompute-stats``)::

    init_relative_policy --dataset DS --repo-id tatbot/demo --recompute-stats --output INIT \\
        --policy.type=act --policy.chunk_size=10 ...
    lerobot-train --policy.path=INIT --dataset.repo_id=tatbot/demo --dataset.root=DS ...

``--recompute-stats`` runs, in place::

    lerobot-edit-dataset --repo_id tatbot/demo --root DS --new_root DS --operation.overwrite true \\
        --operation.type recompute_stats --operation.relative_action true --operation.chunk_size 10 \\
        --operation.relative_exclude_joints []
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import make_dataclass
from pathlib import Path

import numpy as np

from tatbot_bringup.data_contract import copy_to_checkpoint
from tatbot_vla_policy.core.datasets import DatasetError, check_dataset_root, load_local_dataset

# LeRobot keeps grippers absolute by default (open/close). Tatbot's "gripper" joints are the needle
# carriages, which move continuously like the others. They are also nearly constant in the strokes,
# and absolute statistics of a nearly constant joint come out with a zero std: every normalized
# value of it then blows up. So every joint is relative here.
EXCLUDE_JOINTS: tuple[str, ...] = ()


class InitPolicyError(RuntimeError):
    """The dataset or the policy options cannot give a relative-action policy."""


def recompute_stats_command(dataset: Path, repo_id: str, chunk_size: int) -> list[str]:
    """LeRobot's command that gives ``dataset`` relative action statistics over ``chunk_size``."""
    tool = Path(sys.executable).with_name("lerobot-edit-dataset")  # beside this interpreter, else on PATH
    return [
        str(tool) if tool.is_file() else tool.name,
        f"--repo_id={repo_id}",
        f"--root={dataset}",
        f"--new_root={dataset}",
        "--operation.overwrite=true",
        "--operation.type=recompute_stats",
        "--operation.relative_action=true",
        f"--operation.relative_exclude_joints={list(EXCLUDE_JOINTS)}",
        f"--operation.chunk_size={chunk_size}",
    ]


def recompute_stats(dataset: Path, repo_id: str, chunk_size: int) -> None:
    command = recompute_stats_command(dataset, repo_id, chunk_size)
    print(f"init_relative_policy: {shlex.join(command)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InitPolicyError(f"lerobot-edit-dataset failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


def check_relative_stats(dataset, chunk_size: int) -> None:
    """The dataset's action statistics are those of ``action - observation.state`` over chunks of
    ``chunk_size`` (what lerobot-train will normalize with); else an error naming the fix."""
    from lerobot.datasets.compute_stats import compute_relative_action_stats

    stored = dataset.meta.stats.get("action")
    if stored is None:
        raise InitPolicyError(f"{dataset.root}: meta/stats.json has no 'action' statistics")
    expected = compute_relative_action_stats(
        dataset.hf_dataset, dataset.meta.features, chunk_size, list(EXCLUDE_JOINTS)
    )
    for key in ("mean", "std"):
        if not np.allclose(np.asarray(stored[key]), expected[key], rtol=1e-4, atol=1e-6):
            raise InitPolicyError(
                f"{dataset.root}: the action statistics are not those of relative actions over chunks of "
                f"{chunk_size} (action {key} starts {_brief(stored[key])}, relative {_brief(expected[key])}); "
                "lerobot-train would normalize with them. "
                f"Recompute them first (or pass --recompute-stats):\n  "
                f"{shlex.join(recompute_stats_command(dataset.root, dataset.repo_id, chunk_size))}"
            )


def _brief(values) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in np.asarray(values, dtype=float).ravel()[:3]) + ", ...]"


def add_relative_action_steps(preprocessor, postprocessor, action_names: list[str]) -> None:
    """Insert LeRobot's relative/absolute action steps around the (un)normalizer, in place."""
    from lerobot.processor import AbsoluteActionsProcessorStep, RelativeActionsProcessorStep

    relative = RelativeActionsProcessorStep(
        enabled=True, exclude_joints=list(EXCLUDE_JOINTS), action_names=list(action_names)
    )
    normalizer = _index_of(preprocessor, "NormalizerProcessorStep")
    preprocessor.steps.insert(normalizer, relative)  # subtract the state in joint units, then normalize
    unnormalizer = _index_of(postprocessor, "UnnormalizerProcessorStep")
    postprocessor.steps.insert(unnormalizer + 1, AbsoluteActionsProcessorStep(enabled=True, relative_step=relative))


def add_depth_channels(preprocessor, config) -> list[str]:
    """The policy's 1-channel depth inputs (observation.images.<camera>_depth), repeated to the 3
    channels its vision encoder takes by core.depth_channels' step after the normalizer (in place);
    returns their keys (none: nothing added)."""
    from tatbot_vla_policy.core.depth_channels import add_depth_channels_step, depth_keys

    keys = depth_keys(config.input_features)
    add_depth_channels_step(preprocessor, keys)
    return keys


def _index_of(pipeline, step_class: str) -> int:
    for i, step in enumerate(pipeline.steps):
        if type(step).__name__ == step_class:
            return i
    raise InitPolicyError(f"the policy's {pipeline.name} has no {step_class}; its steps: {pipeline.steps}")


def parse_policy_config(policy_args: list[str]):
    """``--policy.*`` options, as lerobot-train takes them, into the policy's LeRobot config."""
    import draccus
    import lerobot.policies  # noqa: F401  registers the policy types
    from lerobot.configs import PreTrainedConfig

    options = make_dataclass("Options", [("policy", PreTrainedConfig)])
    try:
        return draccus.parse(options, args=policy_args).policy
    except draccus.utils.ParsingError as exc:
        raise InitPolicyError(f"invalid policy options {policy_args}: {exc.__cause__ or exc}") from exc


def init_relative_policy(
    dataset_root: Path, repo_id: str, output: Path, policy_args: list[str], seed: int, recompute: bool = False
) -> Path:
    import torch
    from lerobot.policies import make_policy, make_pre_post_processors

    check_dataset_root(dataset_root)  # a bad --dataset is named before any work
    config = parse_policy_config(policy_args)
    chunk_size = getattr(config, "chunk_size", None) or getattr(config, "horizon", None)
    if not chunk_size:
        raise InitPolicyError(f"policy type {config.type!r} has no chunk_size or horizon")
    if recompute:
        recompute_stats(dataset_root, repo_id, chunk_size)
    dataset = load_local_dataset(dataset_root, repo_id)
    check_relative_stats(dataset, chunk_size)
    torch.manual_seed(seed)
    try:
        policy = make_policy(config, ds_meta=dataset.meta)
    except ValueError as exc:  # LeRobot's feature validation of the policy type
        depth = [k for k, f in dataset.meta.features.items() if (f.get("info") or {}).get("is_depth_map")]
        hint = (
            f" (the dataset has 1-channel depth inputs {depth}: LeRobot's act takes them with this command's depth "
            "step; convert without --depth for other policy types)"
            if depth
            else ""
        )
        raise InitPolicyError(f"LeRobot's {config.type} does not take this dataset: {exc}{hint}") from exc
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=dataset.meta.stats)
    add_relative_action_steps(preprocessor, postprocessor, dataset.meta.features["action"]["names"])
    depth = add_depth_channels(preprocessor, config)
    if depth:
        print(f"init_relative_policy: {', '.join(depth)} repeated to 3 channels after normalization", flush=True)
    output.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(output)
    preprocessor.save_pretrained(output)
    postprocessor.save_pretrained(output)
    copy_to_checkpoint(dataset_root, output)  # the data contract, for vla_policy
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="init_relative_policy",
        description=__doc__.split("\n\n")[0].rstrip(".")
        + ". Options other than these are the policy's, as lerobot-train takes them (--policy.type=act, "
        "--policy.chunk_size=10, ...). Then: lerobot-train --policy.path=OUTPUT ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        required=True,
        help="LeRobot dataset root (with relative stats, or see --recompute-stats)",
    )
    parser.add_argument("--repo-id", default="tatbot/dataset", help="its repo id (default tatbot/dataset)")
    parser.add_argument("--output", type=Path, required=True, help="directory for the new checkpoint")
    parser.add_argument("--seed", type=int, default=1000, help="weight initialization seed (lerobot-train's default)")
    parser.add_argument(
        "--recompute-stats",
        action="store_true",
        help="first give the dataset relative action statistics over the policy's chunk_size "
        "(LeRobot's lerobot-edit-dataset recompute_stats, in place)",
    )
    args, policy_args = parser.parse_known_args(argv)
    unknown = [a for a in policy_args if a.startswith("-") and not a.startswith("--policy.")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (policy options start with --policy.)")
    if not any(a.startswith("--policy.type") for a in policy_args):
        parser.error("the policy type is required, e.g. --policy.type=act")
    try:
        output = init_relative_policy(
            args.dataset, args.repo_id, args.output, policy_args, args.seed, args.recompute_stats
        )
    except (InitPolicyError, DatasetError) as exc:
        print(f"init_relative_policy: error: {exc}", file=sys.stderr)
        return 2
    print(f"{output}: initial checkpoint with relative actions; train it with lerobot-train --policy.path={output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
