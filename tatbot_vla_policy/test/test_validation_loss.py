"""validation_loss: a checkpoint's loss on dataset episodes, as lerobot-train computes it."""

import math
import shutil

import pytest

from tatbot_vla_policy.tiny_policy import make_tiny_dataset
from tatbot_vla_policy.validation_loss import main, parse_episodes, validation_loss


def test_parse_episodes():
    assert parse_episodes("3,1,5-7") == [1, 3, 5, 6, 7]
    with pytest.raises(ValueError, match="indices and ranges"):
        parse_episodes("a-b")
    with pytest.raises(ValueError, match="indices and ranges"):
        parse_episodes("-1")
    with pytest.raises(ValueError, match="at least one"):
        parse_episodes("5-3")


def test_loss_per_episode_and_larger_on_unlike_data(act_checkpoint, act_dataset, tmp_path):
    one, frames_one = validation_loss(str(act_checkpoint), str(act_dataset), [1])
    both, frames_both = validation_loss(str(act_checkpoint), str(act_dataset), [0, 1])
    assert (frames_one, frames_both) == (20, 40)  # every frame of the episodes, no more
    assert math.isfinite(one) and one > 0 and math.isfinite(both)
    # the same checkpoint on motions three times as large: its predictions are further off
    unlike = make_tiny_dataset(tmp_path / "unlike", motion_scale=3.0)
    far, _ = validation_loss(str(act_checkpoint), str(unlike), [0, 1])
    assert far > both


def test_cli_prints_the_metrics_line_and_names_bad_input(act_checkpoint, act_dataset, capsys):
    assert main(["--checkpoint", str(act_checkpoint), "--dataset", str(act_dataset), "--episodes", "0-1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("validation_loss=") and line.endswith(" frames=40 episodes=2")
    assert main(["--checkpoint", str(act_checkpoint), "--dataset", str(act_dataset), "--episodes", "5"]) == 2
    assert "has episodes 0-1, not 5" in capsys.readouterr().err


def test_a_dataset_cut_short_is_named_not_fetched(act_checkpoint, act_dataset, tmp_path, capsys):
    cut = tmp_path / "cut"
    shutil.copytree(act_dataset, cut)
    (victim,) = (cut / "data").glob("**/*.parquet")
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    assert main(["--checkpoint", str(act_checkpoint), "--dataset", str(cut), "--episodes", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{victim} is not a complete parquet file" in err and "never downloaded" in err, err
