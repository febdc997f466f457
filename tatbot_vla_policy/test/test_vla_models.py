"""The VLA path: lerobot's smolvla/pi extras, the local backbone tool, offline hub references,
a tiny SmolVLA trained by lerobot-train on a converted dataset, prompts that condition it, and
Real-Time Chunking."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from tatbot_bringup.robot_config import load_robot_config
from tatbot_vla_policy.core.chunks import TimedChunk, first_tick_at_or_after, rtc_guidance
from tatbot_vla_policy.core.hub_refs import HubRef, HubReferenceError, find_hub_refs, parse_hub_paths, resolve_hub_refs
from tatbot_vla_policy.core.runner import CheckpointError, PolicyRunner
from tatbot_vla_policy.core.runner_process import RunnerProcess
from tatbot_vla_policy.local_backbone import IMAGE_TOKENS
from tatbot_vla_policy.local_backbone import main as local_backbone_main
from tatbot_vla_policy.tiny_policy import PROMPT_RATE, demo_image, home_pose, train_tiny_checkpoint

CONFIG = load_robot_config()
PUBLISHED_VLM = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
ROOT = Path(__file__).resolve().parents[2]


def constraint(package: str) -> str:
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(package.lower() + "=="):
            return line.split("==")[1]
    raise AssertionError(f"{package} is not pinned in requirements/constraints.txt")


def test_vla_extras_are_installed_and_pinned():
    import lerobot.policies.pi0.modeling_pi0
    import lerobot.policies.pi05.modeling_pi05
    import lerobot.policies.smolvla.modeling_smolvla  # noqa: F401
    from lerobot.policies.rtc import RTCConfig  # noqa: F401

    for package in ("transformers", "tokenizers", "num2words", "scipy"):
        assert version(package) == constraint(package), package
    assert "smolvla" in (ROOT / "requirements" / "python.txt").read_text()


# ---------------------------------------------------------------- local backbone


def test_local_backbone_writes_a_loadable_smolvlm(tmp_path, capsys):
    from transformers import AutoConfig, AutoProcessor

    out = tmp_path / "vlm"
    assert local_backbone_main([str(out), "--tasks", "draw a line", "trace the curve"]) == 0
    assert str(out) in capsys.readouterr().out
    config = AutoConfig.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    tokenizer = processor.tokenizer
    assert config.model_type == "smolvlm" and config.text_config.vocab_size == len(tokenizer)
    for name, token in IMAGE_TOKENS.items():
        assert getattr(tokenizer, name) == token and getattr(tokenizer, f"{name}_id") is not None
    # the task words it was trained on are whole tokens; any other text still tokenizes (bytes)
    assert len(tokenizer("trace the curve")["input_ids"]) <= 3
    assert tokenizer.decode(tokenizer("draw a spiral ~ 5 cm")["input_ids"]) == "draw a spiral ~ 5 cm"


def test_local_backbone_refuses_a_non_empty_directory(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("")
    assert local_backbone_main([str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not empty" in err[0]
    proc = subprocess.run(
        [sys.executable, "-m", "tatbot_vla_policy.local_backbone", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--tasks" in proc.stdout and "vlm_model_name" in proc.stdout


# ---------------------------------------------------------------- hub references (pure)


def test_hub_paths_parse_and_resolve(tmp_path):
    assert parse_hub_paths(["a/b=/x", " c/d = /y "]) == {"a/b": "/x", "c/d": "/y"}
    with pytest.raises(HubReferenceError, match="ID=DIR"):
        parse_hub_paths(["a/b"])
    local = tmp_path / "vlm"
    local.mkdir()
    refs = [HubRef(PUBLISHED_VLM, "config.json", "vlm_model_name"), HubRef(str(local), "f.json", "tokenizer_name", "s")]
    resolved = resolve_hub_refs(refs, {PUBLISHED_VLM: str(local)})
    assert resolved == {refs[0]: str(local), refs[1]: str(local)}
    with pytest.raises(HubReferenceError, match=rf"'{PUBLISHED_VLM}' \(config.json: vlm_model_name\).*hub_paths"):
        resolve_hub_refs(refs, {})
    with pytest.raises(HubReferenceError, match="not a directory"):
        resolve_hub_refs(refs, {PUBLISHED_VLM: str(tmp_path / "missing")})
    with pytest.raises(HubReferenceError, match="does not use"):
        resolve_hub_refs(refs, {PUBLISHED_VLM: str(local), "other/model": str(local)})


def published_copy(checkpoint: Path, tmp_path: Path) -> Path:
    """The checkpoint as a smolvla_base fine-tune stores it: the backbone and tokenizer by hub id."""
    copy = tmp_path / "pretrained_model"
    shutil.copytree(checkpoint, copy)
    config = json.loads((copy / "config.json").read_text())
    config["vlm_model_name"] = PUBLISHED_VLM
    (copy / "config.json").write_text(json.dumps(config))
    pre = json.loads((copy / "policy_preprocessor.json").read_text())
    for step in pre["steps"]:
        if "tokenizer_name" in (step.get("config") or {}):
            step["config"]["tokenizer_name"] = PUBLISHED_VLM
    (copy / "policy_preprocessor.json").write_text(json.dumps(pre))
    return copy


def test_hub_reference_fails_offline_naming_the_id_then_loads_from_hub_paths(smolvla_checkpoint, tmp_path):
    backbone = json.loads((smolvla_checkpoint / "config.json").read_text())["vlm_model_name"]
    copy = published_copy(smolvla_checkpoint, tmp_path)
    assert {r.ref for r in find_hub_refs(copy)} == {PUBLISHED_VLM}
    # the model process runs with HF_HUB_OFFLINE=1: the failure is ours, before any download attempt
    with pytest.raises(CheckpointError) as error:
        RunnerProcess(copy, device="cpu", torch_threads=1)
    message = str(error.value)
    assert PUBLISHED_VLM in message and "hub_paths:=" in message and "tokenizer_processor.tokenizer_name" in message
    remote = RunnerProcess(copy, device="cpu", torch_threads=1, hub_paths={PUBLISHED_VLM: backbone})
    try:
        assert remote.policy_type == "smolvla"
    finally:
        remote.close()


# ---------------------------------------------------------------- training and prompts


def test_smolvla_trains_on_a_bag_to_lerobot_dataset(tmp_path):
    from tatbot_recorder.bag_to_lerobot import main as bag_to_lerobot
    from tatbot_recorder.synthetic import SyntheticBag, SyntheticEpisode, write_bag

    spec = SyntheticBag(
        CONFIG.joint_names,
        [(c.name, c.topic) for c in CONFIG.cameras],
        episodes=[SyntheticEpisode(0.2, 1.5, "draw a line"), SyntheticEpisode(1.6, 2.8, "draw an arc")],
        size=(48, 64),
    )
    bag = write_bag(tmp_path / "bag", spec)
    dataset = tmp_path / "dataset"
    assert bag_to_lerobot([str(bag), "--output", str(dataset), "--fps", "10", "--vcodec", "h264"]) == 0
    checkpoint = train_tiny_checkpoint(dataset, tmp_path / "train", "smolvla", steps=2)
    runner = PolicyRunner(checkpoint, device="cpu")
    assert runner.policy_type == "smolvla"
    actions = runner.predict(runner.example_features(), "draw a line")
    assert actions.shape == (10, 14) and np.isfinite(actions).all()


def home_observation() -> dict[str, np.ndarray]:
    features = {"observation.state": home_pose(CONFIG).astype(np.float32)}
    for i, cam in enumerate(("realsense1", "realsense2")):
        features[f"observation.images.{cam}"] = (demo_image(48, 64, 0.5, i).transpose(2, 0, 1) / 255).astype(np.float32)
    return features


def turn(actions: np.ndarray) -> float:
    """left/joint_0 at the chunk's end minus home (the prompted datasets' only task-dependent motion)."""
    return float(actions[-1, 0] - home_pose(CONFIG)[0])


def test_prompt_conditions_the_tiny_smolvla(smolvla_checkpoint):
    runner = PolicyRunner(smolvla_checkpoint, device="cpu")
    features = home_observation()
    line = np.mean([turn(runner.predict(features, "draw a line")) for _ in range(3)])
    arc = np.mean([turn(runner.predict(features, "draw an arc")) for _ in range(3)])
    # trained: +PROMPT_RATE rad/s for the line, - for the arc, over the 1 s chunk
    assert line - arc > 0.4 * 2 * PROMPT_RATE, (line, arc)


# ---------------------------------------------------------------- Real-Time Chunking


def test_rtc_guidance_samples_the_plan_on_the_new_grid():
    plan = TimedChunk(start=10.0, dt=0.1, actions=np.arange(10.0)[:, None] * np.ones((1, 2)), obs_stamp=9.9)
    prefix, delay = rtc_guidance(plan, first_due=10.25, dt=0.1, steps=20, usable_at=10.5)
    np.testing.assert_allclose(prefix[:, 0], np.arange(2.5, 9.0, 1.0))  # until the plan ends at 10.9
    assert delay == 3  # actions due at 10.25, 10.35, 10.45 come before the chunk can be used
    assert rtc_guidance(None, 10.0, 0.1, 20, 10.5) == (None, 0)
    assert rtc_guidance(plan, 11.0, 0.1, 20, 11.5) == (None, 0)  # the plan is over
    assert rtc_guidance(plan, 10.0, 0.1, 3, 99.0)[1] == 3  # never more than the prefix
    assert first_tick_at_or_after(1.05, next_tick=1.0, period=0.1) == pytest.approx(1.1)
    assert first_tick_at_or_after(0.5, next_tick=1.0, period=0.1) == 1.0


def test_rtc_holds_the_delayed_actions_to_the_prefix(smolvla_checkpoint):
    runner = PolicyRunner(smolvla_checkpoint, device="cpu", rtc_execution_horizon=8)
    features = home_observation()
    first = runner.predict(features, "draw a line")
    guided = runner.predict(features, "draw a line", prefix=first[2:], inference_delay=3)
    free = runner.predict(features, "draw a line")
    held = np.abs(guided[:3] - first[2:5]).max()
    assert held < 0.25 * np.abs(free[:3] - first[2:5]).max(), held
    assert held < 0.01


def test_rtc_is_refused_for_a_policy_without_it(act_checkpoint):
    with pytest.raises(CheckpointError, match=r"blend_mode rtc needs a flow-matching policy.*this checkpoint is act"):
        PolicyRunner(act_checkpoint, device="cpu", rtc_execution_horizon=8)
