"""init_relative_policy: a LeRobot checkpoint that trains on relative actions and serves absolute ones.

The whole user workflow on a tiny dataset: init_relative_policy --recompute-stats (LeRobot's relative stats),
lerobot-train --policy.path, then the checkpoint loaded as vla_policy loads it (PolicyRunner).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tatbot_vla_policy.core.runner import PolicyRunner
from tatbot_vla_policy.init_relative_policy import main as init_main
from tatbot_vla_policy.tiny_policy import make_tiny_dataset, tiny_policy_args, train_tiny_checkpoint


def _registry(path: Path) -> list[str]:
    return [step["registry_name"] for step in json.loads(path.read_text())["steps"]]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("relative") / "dataset", frames=40)


def test_absolute_stats_are_refused_with_the_command_that_fixes_them(dataset, tmp_path, capsys):
    init = tmp_path / "init"
    with pytest.raises(SystemExit):  # argparse: the policy type is required
        init_main(["--dataset", str(dataset), "--repo-id", "tatbot/tiny", "--output", str(init)])
    assert "--policy.type=act" in capsys.readouterr().err
    code = init_main(
        ["--dataset", str(dataset), "--repo-id", "tatbot/tiny", "--output", str(init), *tiny_policy_args("act")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "not those of relative actions over chunks of 20" in err
    assert "lerobot-edit-dataset" in err and "--operation.relative_action=true" in err
    assert not init.exists()


def test_a_missing_dataset_is_one_line_and_no_hub_call(tmp_path, capsys):
    missing = tmp_path / "no_dataset"
    code = init_main(["--dataset", str(missing), "--output", str(tmp_path / "init"), *tiny_policy_args("act")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"init_relative_policy: error: {missing} is not a LeRobot dataset (does not exist): pass the directory "
        "that bag_to_lerobot --output (or lerobot-record) wrote"
    )
    assert not (tmp_path / "init").exists()


def test_a_failed_recompute_is_an_error_naming_lerobots_message(tmp_path, capsys):
    broken = tmp_path / "broken"
    (broken / "meta").mkdir(parents=True)
    (broken / "meta" / "info.json").write_text("{}")
    code = init_main(
        ["--dataset", str(broken), "--output", str(tmp_path / "init"), "--recompute-stats", *tiny_policy_args("act")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "lerobot-edit-dataset failed" in err
    assert not (tmp_path / "init").exists()


def test_bad_policy_options_name_the_problem(dataset, tmp_path, capsys):
    code = init_main(
        ["--dataset", str(dataset), "--output", str(tmp_path / "init"), "--policy.type=act", "--policy.chunk_size=5"]
    )
    assert code == 2
    assert "n_action_steps" in capsys.readouterr().err


def test_trained_checkpoint_serves_absolute_targets(dataset, tmp_path):
    init = tmp_path / "init"
    args = ["--dataset", str(dataset), "--repo-id", "tatbot/tiny", "--output", str(init), *tiny_policy_args("act")]
    assert init_main([*args, "--recompute-stats"]) == 0  # LeRobot's relative stats, then the checkpoint
    assert init_main(args) == 0  # the stats are now the relative ones: accepted as they are
    pre = _registry(init / "policy_preprocessor.json")
    post = _registry(init / "policy_postprocessor.json")
    assert pre.index("relative_actions_processor") == pre.index("normalizer_processor") - 1
    assert post.index("absolute_actions_processor") == post.index("unnormalizer_processor") + 1

    checkpoint = train_tiny_checkpoint(dataset, tmp_path / "train", steps=2, init=init)
    assert "relative_actions_processor" in _registry(checkpoint / "policy_preprocessor.json")
    runner = PolicyRunner(checkpoint, device="cpu")
    from lerobot.datasets import LeRobotDataset

    frame = LeRobotDataset("tatbot/tiny", root=dataset)[7]
    features = {key: frame[key].numpy() for key in runner.inputs}
    state = features["observation.state"].astype(np.float64)
    absolute = runner.predict(features, "draw the stencil")

    absolute_step = next(s for s in runner.postprocessor.steps if type(s).__name__ == "AbsoluteActionsProcessorStep")
    absolute_step.enabled = False
    relative = runner.predict(features, "draw the stencil")
    # the checkpoint adds the observed state to what the network predicts, for every joint
    np.testing.assert_allclose(absolute - relative, np.broadcast_to(state, absolute.shape), atol=1e-5)
    # and what it predicts is a small offset: the targets stay near the state
    assert np.abs(absolute - state).max() < 0.5
