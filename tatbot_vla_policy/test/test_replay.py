"""Offline open-loop replay over a tiny dataset (no ROS)."""

import numpy as np
import pytest

from tatbot_vla_policy.replay import main, replay


def test_replay_reports_per_joint_errors(act_checkpoint, act_dataset):
    result = replay(act_checkpoint, act_dataset, device="cpu")
    assert len(result.predicted) == 2  # episodes
    assert all(p.shape == r.shape == (20, 14) for p, r in zip(result.predicted, result.recorded, strict=True))
    assert result.joint_names[0] == "left.joint_0.pos" and len(result.joint_names) == 14
    manual = np.abs(np.concatenate(result.predicted) - np.concatenate(result.recorded)).mean(axis=0)
    np.testing.assert_allclose(result.mae, manual)
    assert np.all(result.rmse >= result.mae)


def test_replay_cli_prints_table_and_writes_plot(diffusion_checkpoint, diffusion_dataset, tmp_path, capsys):
    png = tmp_path / "replay.png"
    main(
        [
            "--checkpoint",
            str(diffusion_checkpoint),
            "--dataset",
            str(diffusion_dataset),
            "--episodes",
            "1",
            "--stride",
            "4",
            "--device",
            "cpu",
            "--plot",
            str(png),
        ]
    )
    out = capsys.readouterr().out
    assert "right.gripper.pos" in out and "RMSE" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_replay_names_a_path_that_is_not_a_dataset(act_checkpoint, tmp_path):
    with pytest.raises(SystemExit) as done:
        main(["--checkpoint", str(act_checkpoint), "--dataset", str(tmp_path), "--device", "cpu", "--plot", ""])
    assert str(done.value.code) == (
        f"replay: {tmp_path} is not a LeRobot dataset (has no meta/info.json): pass the directory that "
        "bag_to_lerobot --output (or lerobot-record) wrote"
    )
