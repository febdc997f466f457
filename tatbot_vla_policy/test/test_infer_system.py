"""The deployed system end to end, as a user runs it: ``./tatbot launch infer`` (mock arms, simulated
cameras, the vla_policy node with a tiny ACT checkpoint, the recorder) in one process tree,
``evaluate --record-eval --design`` (the sample SVG design) in another, then Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tatbot_bringup.designs import load_design
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.launch_runner import find_executable
from tatbot_bringup.robot_config import load_robot_config
from tatbot_bringup.strokes import stroke_space_for

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DESIGN = ROOT / "tatbot_bringup" / "designs" / "sample.svg"

pytestmark = [pytest.mark.ros, pytest.mark.flaky(reruns=2)]  # real time on shared cores, like the node tests


def episode_events(bag: Path) -> list:
    from rosbags.rosbag2 import Reader

    from tatbot_recorder.core.bag_types import tatbot_typestore

    store = tatbot_typestore()
    with Reader(bag) as reader:
        connections = [c for c in reader.connections if c.topic == "/tatbot/episode"]
        return [store.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages(connections=connections)]


def test_launch_infer_streams_to_evaluate_and_stops_cleanly_on_ctrl_c(act_checkpoint, tmp_path):
    launcher = subprocess.Popen(
        [
            str(ROOT / "tatbot"),
            "launch",
            "infer",
            "backend:=mock",
            "cameras:=sim",
            f"checkpoint:={act_checkpoint}",
            "device:=cpu",
            "camera_width:=64",
            "camera_height:=48",
            "camera_fps:=15",
            "record_eval:=true",
            f"bag_dir:={tmp_path / 'bags'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        evaluation = subprocess.run(
            [
                sys.executable,
                str(find_executable("tatbot_vla_policy", "evaluate")),
                "--design",
                str(SAMPLE_DESIGN),
                "--episodes",
                "1",
                "--output",
                str(tmp_path / "eval"),
                "--timeout",
                "60",
                "--record-eval",
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            log, _ = launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            log, _ = launcher.communicate()

    assert evaluation.returncode == 0, evaluation.stdout[-3000:] + evaluation.stderr[-3000:]
    metrics = evaluation.stdout.strip().splitlines()[-1]
    assert metrics.startswith("episodes=1 "), metrics
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    (episode,) = results["episodes"]
    # the design's first stroke (the heart), drawn by both arms: every pose of it was streamed
    config = load_robot_config()
    kin = RobotKinematics.from_config(config)
    heart = load_design(SAMPLE_DESIGN, stroke_space_for(config, kin), kin).pairs[0]
    assert episode["steps"] >= len(heart.left.path), episode
    assert episode["families"]["left"]["shape"] == "sample" and episode["task"] == heart.task
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "Design sample (" in report and "1 of its 5 strokes" in report and "| shape: sample | 2 |" in report
    rate = float(metrics.split("achieved_hz=")[1].split()[0])
    assert 9.0 <= rate <= 11.0, (metrics, episode)

    assert "received SIGINT: stopping all nodes" in log, log[-3000:]
    assert launcher.returncode == 0, log[-3000:]
    for node in ("arm_driver", "sim_camera", "vla_policy", "recorder"):
        assert f"[{node}]" in log, f"no output from {node}"
    # the recorded rollout is an episode whose success is the score, not "the run completed"
    stops = [e for e in episode_events(Path(episode["bag_path"])) if e.event == e.STOP]
    assert [e.success for e in stops] == [episode["success"]], (stops, episode)
    # the policy's model process went with it
    model_pid = int(re.search(r"in model process (\d+)", log).group(1))
    deadline = time.monotonic() + 5
    while Path(f"/proc/{model_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{model_pid}").exists(), f"the model process {model_pid} outlived the node"
