"""The model in its own process (RunnerProcess) answers as PolicyRunner does, and fails loudly."""

import os
import signal

import numpy as np
import pytest

from tatbot_vla_policy.core.runner import CheckpointError, PolicyRunner
from tatbot_vla_policy.core.runner_process import ModelProcessError, RunnerProcess


def test_same_chunks_as_in_process_and_clean_close(act_checkpoint):
    local = PolicyRunner(act_checkpoint, device="cpu")
    remote = RunnerProcess(act_checkpoint, device="cpu", torch_threads=1, warmup_iterations=1)
    try:
        assert remote.pid != os.getpid()
        assert repr(remote) == repr(local) and remote.checkpoint == local.checkpoint
        assert remote.inputs == local.inputs and remote.outputs == local.outputs
        assert (remote.n_obs_steps, remote.n_action_steps) == (local.n_obs_steps, local.n_action_steps)
        features = local.example_features()
        rng = np.random.default_rng(0)
        features = {k: rng.uniform(0, 1, v.shape).astype(np.float32) for k, v in features.items()}
        remote.reset()
        np.testing.assert_allclose(remote.predict(features, "draw"), local.predict(features, "draw"), atol=1e-5)
    finally:
        remote.close()
    assert remote._process.returncode == 0
    remote.close()  # idempotent


def test_unloadable_checkpoint_raises_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"config\.json"):  # no checkpoint there: no process started
        RunnerProcess(tmp_path, device="cpu")
    (tmp_path / "config.json").write_text("{}")  # a checkpoint LeRobot cannot load: the model process says why
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "policy_preprocessor.json").write_text("{}")
    with pytest.raises(CheckpointError, match=rf"cannot load the LeRobot checkpoint {tmp_path}"):
        RunnerProcess(tmp_path, device="cpu")


def test_bad_request_and_dead_process_raise_model_process_error(act_checkpoint):
    remote = RunnerProcess(act_checkpoint, device="cpu", torch_threads=1)
    try:
        with pytest.raises(ModelProcessError, match=r"ValueError: .*requires an observation"):
            remote.predict({}, "draw")
        os.kill(remote.pid, signal.SIGKILL)
        with pytest.raises(ModelProcessError, match=rf"pid {remote.pid}\) exited with code -9"):
            remote.predict({}, "draw")
    finally:
        remote.close()


def test_a_hung_process_is_killed_at_the_deadline_and_restart_gives_a_fresh_one(act_checkpoint):
    remote = RunnerProcess(act_checkpoint, device="cpu", torch_threads=1)
    features = {k: np.zeros(v.shape, np.float32) for k, v in remote.inputs.items()}
    try:
        hung = remote.pid
        os.kill(hung, signal.SIGSTOP)
        with pytest.raises(ModelProcessError, match=rf"pid {hung}\) did not answer within 1 s: killed"):
            remote.predict(features, "draw", timeout=1.0)
        assert remote._process.poll() is not None
        remote.restart()
        assert remote.pid != hung
        assert remote.predict(features, "draw", timeout=30.0).shape == (remote.n_action_steps, 14)
    finally:
        remote.close()
    assert remote._process.returncode == 0
