"""The top README's recipe as written, offline: its bag_to_lerobot and lerobot-train commands, taken
from README.md, run on a synthetic 30-frame recording (the length of a stroke_demo episode) and
train a checkpoint. Only what the README says to add offline is added, plus a 2-step budget. The
recipe's last two steps, `./tatbot launch infer` and `evaluate`, are run on a tiny checkpoint by
tatbot_vla_policy/test/test_infer_system.py."""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tatbot_bringup.launch_runner import find_executable
from tatbot_bringup.robot_config import load_robot_config
from tatbot_recorder.synthetic import SyntheticBag, SyntheticEpisode, write_bag

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
OFFLINE = ["--policy.pretrained_backbone_weights=null"]  # what the README says to add offline
BUDGET = ["--steps=2", "--batch_size=2", "--num_workers=0", "--save_freq=2", "--wandb.enable=false"]


def readme_command(program: str) -> list[str]:
    """The README workflow block's command line starting with ``program`` (continuations joined)."""
    block = re.search(r"## The workflow on a robot with a ROS 2 distro\n\n```bash\n(.*?)```", README, re.S)
    assert block, "README.md lost its workflow block"
    text = block[1].replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.startswith(program)]
    assert len(lines) == 1, f"README's workflow has {len(lines)} {program} lines"
    return shlex.split(lines[0])


def test_the_readme_recipe_converts_and_trains_offline(tmp_path):
    config = load_robot_config()
    spec = SyntheticBag(
        config.joint_names,
        [(c.name, c.topic) for c in config.cameras],
        duration_s=3.6,
        episodes=[SyntheticEpisode(0.1, 3.4, "draw a line")],
    )
    write_bag(tmp_path / "bags" / "demo" / "take1", spec)
    env = dict(os.environ, HF_HUB_OFFLINE="1", WANDB_MODE="disabled")

    convert = readme_command("ros2 run tatbot_recorder bag_to_lerobot")
    convert = [str(find_executable("tatbot_recorder", "bag_to_lerobot"))] + [
        hit for arg in convert[4:] for hit in (sorted(glob.glob(arg, root_dir=tmp_path)) if "*" in arg else [arg])
    ]
    proc = subprocess.run(convert, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

    train = readme_command("lerobot-train")
    train[0] = str(Path(sys.executable).with_name("lerobot-train"))
    proc = subprocess.run(
        [*train, *OFFLINE, *BUDGET], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "outputs/train/act/checkpoints/last/pretrained_model/config.json").is_file()
