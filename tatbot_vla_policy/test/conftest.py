"""Tiny real LeRobot checkpoints, trained once per test session (offline, CPU, ~20 s)."""

from __future__ import annotations

import pytest

from tatbot_vla_policy.tiny_policy import PROMPTS, make_tiny_dataset, train_tiny_checkpoint

STENCIL_POINTS = 4  # diffusion checkpoint: observation.environment_state of 6 * 4 values


@pytest.fixture(scope="session")
def act_dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("act") / "dataset")


@pytest.fixture(scope="session")
def act_checkpoint(act_dataset):
    return train_tiny_checkpoint(act_dataset, act_dataset.parent / "train", "act")


@pytest.fixture(scope="session")
def diffusion_dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("diffusion") / "dataset", stencil_points_per_arm=STENCIL_POINTS)


@pytest.fixture(scope="session")
def diffusion_checkpoint(diffusion_dataset):
    return train_tiny_checkpoint(diffusion_dataset, diffusion_dataset.parent / "train", "diffusion")


@pytest.fixture
def ros_executor(ros_single_executor):
    """The policy node spins single-threaded, as in its main(): its model and publisher run in their
    own threads and its ~/run is a coroutine, so no executor thread is needed (or may starve them)."""
    return ros_single_executor


SMOLVLA_STEPS = 800  # enough for the tiny SmolVLA to follow the prompt (~80 s on 2 cores)


@pytest.fixture(scope="session")
def smolvla_checkpoint(tmp_path_factory):
    """A tiny SmolVLA (local_backbone's SmolVLM, random init) trained with lerobot-train on a
    dataset whose motion direction only the prompt tells."""
    root = tmp_path_factory.mktemp("smolvla")
    dataset = make_tiny_dataset(root / "dataset", prompts=PROMPTS, episodes=4)
    return train_tiny_checkpoint(dataset, root / "train", "smolvla", steps=SMOLVLA_STEPS, batch_size=8)
