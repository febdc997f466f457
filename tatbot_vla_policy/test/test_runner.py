"""Real tiny ACT and diffusion checkpoints through LeRobot's factory and processors (no ROS)."""

import shutil

import numpy as np
import pytest
import torch

from tatbot_vla_policy.core.runner import CheckpointError, PolicyRunner, dataset_fps, resolve_checkpoint


def test_act_checkpoint_predicts_an_unnormalised_chunk(act_checkpoint, act_dataset):
    runner = PolicyRunner(act_checkpoint, device="auto")
    assert runner.policy_type == "act" and runner.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert set(runner.inputs) == {
        "observation.state",
        "observation.images.realsense1",
        "observation.images.realsense2",
    }
    assert runner.inputs["observation.images.realsense1"].shape == (3, 48, 64)
    assert runner.action_dim == 14 and runner.n_obs_steps == 1
    actions = runner.predict(runner.example_features(), "draw")
    assert actions.shape == (20, 14) and actions.dtype == np.float64
    assert np.all(np.isfinite(actions))
    # unnormalised: near the training actions (around the ready pose), not around 0
    assert abs(actions[:, 1].mean() - 0.639) < 0.5
    assert dataset_fps(runner.checkpoint) == 10.0


def test_diffusion_checkpoint_takes_history_and_stencil(diffusion_checkpoint):
    runner = PolicyRunner(diffusion_checkpoint, device="cpu")
    assert runner.policy_type == "diffusion" and runner.n_obs_steps == 2
    assert runner.inputs["observation.environment_state"].shape == (24,)
    features = runner.example_features()
    assert features["observation.images.realsense2"].shape == (2, 3, 48, 64)
    actions = runner.predict(features, "draw")
    assert actions.shape == (8, 14) and np.all(np.isfinite(actions))


def test_inputs_left_unnormalized_by_the_checkpoint_are_named(act_checkpoint, diffusion_checkpoint):
    # diffusion's default normalization_mapping has no ENV: the stencil goes in unscaled
    assert PolicyRunner(diffusion_checkpoint, device="cpu").unnormalized_inputs == ["observation.environment_state"]
    assert PolicyRunner(act_checkpoint, device="cpu").unnormalized_inputs == []


def test_dtype_override_casts_the_model(act_checkpoint):
    runner = PolicyRunner(act_checkpoint, device="cpu", dtype="bfloat16")
    assert next(runner.policy.parameters()).dtype == torch.bfloat16
    actions = runner.predict(runner.example_features(), "")
    assert actions.shape == (20, 14) and np.all(np.isfinite(actions))


def test_checkpoint_paths_resolve_from_the_training_output(act_checkpoint):
    train_dir = act_checkpoint.parents[2]  # <output_dir>/checkpoints/<step>/pretrained_model
    assert resolve_checkpoint(train_dir) == act_checkpoint
    assert resolve_checkpoint(act_checkpoint.parent) == act_checkpoint


def test_bad_checkpoint_and_options_raise_actionable_errors(tmp_path, act_checkpoint):
    with pytest.raises(CheckpointError, match=r"config\.json"):
        PolicyRunner(tmp_path)
    # half a checkpoint: never random weights (pi0 would load them with a print), never a traceback
    for missing, message in (
        ("model.safetensors", r"has no model\.safetensors: its weights are missing"),
        (
            "policy_preprocessor.json",
            r"has no saved processors \(policy_preprocessor\.json\).*migrate_policy_normalization",
        ),
    ):
        copy = tmp_path / f"without_{missing}"
        shutil.copytree(act_checkpoint, copy)
        (copy / missing).unlink()
        with pytest.raises(CheckpointError, match=message):
            PolicyRunner(copy, device="cpu")
    with pytest.raises(CheckpointError, match="dtype"):
        PolicyRunner(act_checkpoint, dtype="float8")
    with pytest.raises(CheckpointError, match="device"):
        PolicyRunner(act_checkpoint, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(CheckpointError, match="CUDA is not available"):
            PolicyRunner(act_checkpoint, device="cuda")
