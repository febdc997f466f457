"""bag_to_lerobot end to end: synthetic bags with known signals -> LeRobotDataset (golden checks)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tatbot_bringup.data_contract import DATASET_CONTRACT, DataContract
from tatbot_bringup.images import RESIZE
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.robot_config import load_robot_config
from tatbot_bringup.stencil import DEFAULT_POINTS_PER_ARM, StencilTracker
from tatbot_recorder.bag_to_lerobot import main
from tatbot_recorder.synthetic import (
    DEPTH_STEP_MM,
    NO_DEPTH,
    T0_NS,
    SyntheticBag,
    SyntheticEpisode,
    depth_frame,
    frame_color,
    frame_index,
    joint_value,
    setpoint_value,
    write_bag,
)

FPS = 10
PERIOD_NS = 1_000_000_000 // FPS
CONFIG = load_robot_config()
KIN = RobotKinematics.from_config(CONFIG)
EPISODES = [
    SyntheticEpisode(0.2, 1.2, "left: line, right: arc", metadata_json='{"stroke_left": {"description": "line"}}'),
    SyntheticEpisode(1.3, 1.6, "dropped", end="discard"),
    SyntheticEpisode(1.65, 2.7, "left: zigzag, right: line"),
]


def make_spec(**kw):
    kw.setdefault("episodes", EPISODES)
    return SyntheticBag(CONFIG.joint_names, [(c.name, c.topic) for c in CONFIG.cameras], **kw)


def load(root):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    return LeRobotDataset(f"tatbot/{root.name}", root=root)


def ledger(root):
    return [json.loads(line) for line in (root / "meta" / "tatbot_episodes.jsonl").read_text().splitlines()]


def expected_index(stamps, t):
    """Newest message stamped at or before t (a plain loop, independent of the converter)."""
    best = -1
    for i, s in enumerate(stamps):
        if s <= t:
            best = i
    return best


def check_golden(root, spec, lossless=True, environment_state=False):
    ds = load(root)
    kept = [e for e in spec.episodes if e.end == "stop"]
    assert ds.meta.total_episodes == len(kept)
    assert ds.meta.robot_type == "tatbot" and ds.meta.fps == FPS
    assert ds.meta.features["observation.state"]["names"] == CONFIG.lerobot_names
    entries = ledger(root)
    joint_stamps = spec.joint_stamps().tolist()
    cam_stamps = [spec.camera_stamps(c).tolist() for c in range(len(spec.cameras))]
    flag_stamps = [T0_NS + round(at * 1e9) for at, _ in spec.interventions]
    for e, (ep, entry) in enumerate(zip(kept, entries, strict=True)):
        assert entry["task"] == ep.task and entry["metadata"] == (
            json.loads(ep.metadata_json) if ep.metadata_json else {}
        )
        row = ds.meta.episodes[e]
        start = T0_NS + round(ep.start_s * 1e9)
        assert row["length"] == int((ep.stop_s - ep.start_s) * FPS + 1e-9) + 1
        tracker = StencilTracker(*spec.stencil_paths())  # the episode's design, followed in frame order
        for k in range(row["length"]):
            item = ds[row["dataset_from_index"] + k]
            t = start + k * PERIOD_NS
            i = expected_index(joint_stamps, t)
            a = expected_index(joint_stamps, t + PERIOD_NS)
            assert item["task"] == ep.task
            assert item["observation.state"].tolist() == [joint_value(j, i) for j in range(14)], (e, k)
            assert item["action"].tolist() == [setpoint_value(j, a) for j in range(14)], (e, k)
            f = expected_index(flag_stamps, t + PERIOD_NS)  # the flag as of the action's time
            assert item["intervention"].item() is (f >= 0 and spec.interventions[f][1]), (e, k)
            for c, cam in enumerate(CONFIG.cameras):
                f = expected_index(cam_stamps[c], t)
                image = (item[f"observation.images.{cam.name}"] * 255).round().byte().permute(1, 2, 0).numpy()
                if lossless:
                    color = frame_color(c, f)
                    if spec.encoding == "mono8":
                        color = (color[0],) * 3
                    assert np.array_equal(image, np.broadcast_to(np.array(color, np.uint8), image.shape)), (e, k, c)
                else:
                    assert frame_index(image) == f, (e, k, c)
            if environment_state:  # the stencil ahead of the needle tips of this frame's state
                tips = KIN.needle_tips(item["observation.state"].numpy().astype(np.float64))
                want = tracker(tips)
                assert np.allclose(item["observation.environment_state"].numpy(), want, atol=1e-6), (e, k)
    return ds


@pytest.mark.parametrize(
    "storage,encoding",
    [
        ("mcap", "rgb8"),
        ("sqlite3", "rgb8"),
        ("mcap", "bgr8"),
        ("sqlite3", "mono8"),
        ("mcap", "png"),
        ("sqlite3", "png"),
    ],
)
def test_round_trip_golden(tmp_path, storage, encoding):
    spec = make_spec(encoding=encoding)
    bag = write_bag(tmp_path / "bag", spec, storage)
    out = tmp_path / "ds"
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--images", "--environment-state"]) == 0
    check_golden(out, spec, environment_state=True)


def test_jpeg_and_video_decode_to_the_right_frame(tmp_path, capsys):
    spec = make_spec(encoding="jpeg")
    bag = write_bag(tmp_path / "bag", spec)
    out = tmp_path / "ds"
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--vcodec", "h264", "--crf", "10"]) == 0
    assert load(out).meta.features["observation.images.realsense1"]["dtype"] == "video"
    check_golden(out, spec, lossless=False)
    printed = capsys.readouterr().out
    assert "episode 1 skipped: discarded" in printed and "max age" in printed and "validated" in printed


def depth_error_bound_mm(depth_mm: np.ndarray, encoder) -> np.ndarray:
    """Largest |read back - recorded| LeRobot's depth format allows at each depth (mm), from its
    quantizer's parameters (lerobot.datasets.depth_utils): log mode stores round(QMAX * (ln(d + shift)
    - ln(min + shift)) / (ln(max + shift) - ln(min + shift))), so a value comes back within half a
    code, a factor exp(scale / 2) on d + shift; the loader then rounds to whole mm (+0.5), in float32."""
    import math

    from lerobot.configs.video import DEPTH_QMAX

    assert encoder.use_log  # LeRobot's default, which bag_to_lerobot writes
    shift = encoder.shift * 1000.0
    scale = (math.log(encoder.depth_max + encoder.shift) - math.log(encoder.depth_min + encoder.shift)) / DEPTH_QMAX
    return (depth_mm + shift) * math.expm1(scale / 2) + 0.5 + 1e-3


def test_depth_round_trips_frame_exact_within_lerobots_quantization(tmp_path, capsys):
    """--depth: each camera's aligned depth is LeRobot's depth feature (meta.depth_keys, 12-bit
    lossless HEVC with DepthEncoderConfig's quantizer); every frame reads back, as mm, the depth
    message stamped as of the frame time within the format's quantization bound, which is below
    half the difference between consecutive messages (frame-exact); no depth (0) reads back as
    the quantizer's depth_min."""
    from lerobot.configs.video import DepthEncoderConfig

    spec = make_spec(depth=True, episodes=EPISODES[:1])
    bag = write_bag(tmp_path / "bag", spec)
    out = tmp_path / "ds"
    start = time.monotonic()
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--vcodec", "h264", "--depth"]) == 0
    print(f"converted with --depth in {time.monotonic() - start:.1f} s")
    ds = check_golden(out, spec, lossless=False)  # state, action and colour as before
    keys = [f"observation.images.{cam.name}_depth" for cam in CONFIG.cameras]
    assert ds.meta.depth_keys == keys
    h, w = spec.size
    worst = 0.0
    for key in keys:
        ft = ds.meta.features[key]
        assert ft["dtype"] == "video" and tuple(ft["shape"]) == (h, w, 1) and ft["info"]["is_depth_map"]
        assert ft["info"]["depth_unit"] == "mm" and ft["info"]["video.codec"] == "hevc"
    encoders = {key: DepthEncoderConfig.from_video_info(ds.meta.features[key]["info"]) for key in keys}
    ep = spec.episodes[0]
    start_ns = T0_NS + round(ep.start_s * 1e9)
    for k in range(ds.meta.episodes[0]["length"]):
        item = ds[k]
        t = start_ns + k * PERIOD_NS
        for c, key in enumerate(keys):
            got = item[key]
            assert got.dtype == torch.float32 and got.shape == (1, h, w)  # what the policy is trained on
            got = got[0].numpy()
            i = expected_index(spec.camera_stamps(c).tolist(), t)  # as of the header stamp, like colour
            want = depth_frame(c, i, spec.size).astype(np.float64)
            seen = want > 0
            bound = depth_error_bound_mm(want[seen], encoders[key])
            assert bound.max() < DEPTH_STEP_MM / 2  # so the right message is the only one within it
            error = np.abs(got[seen] - want[seen])
            assert np.all(error <= bound), (k, c, error.max(), bound.min())
            assert np.all(got[NO_DEPTH] == encoders[key].depth_min * 1000.0)  # 0 = no depth -> depth_min
            worst = max(worst, float(error.max()))
    bound_500 = depth_error_bound_mm(500.0, encoders[keys[0]])
    print(f"depth round trip: max error {worst:.2f} mm (bound at 500 mm: {bound_500:.2f} mm)")


def test_observations_never_come_from_the_future(tmp_path):
    """Each frame's state and images were stamped at or before the frame time; the newest such."""
    spec = make_spec(joint_rate=37.0, camera_rate=29.0, episodes=[SyntheticEpisode(0.33, 2.5, "t")])
    bag = write_bag(tmp_path / "bag", spec)
    out = tmp_path / "ds"
    assert main([str(bag), "--output", str(out), "--fps", "7", "--images", "--state-max-age", "0.1"]) == 0
    ds = load(out)
    joint_stamps, cam_stamps = spec.joint_stamps(), spec.camera_stamps(0)
    start = T0_NS + round(0.33e9)
    for k in range(len(ds)):
        item = ds[k]
        t = start + k * 1_000_000_000 // 7
        i = int(item["observation.state"][0])  # joint 0 carries the message index
        assert joint_stamps[i] <= t < (joint_stamps[i + 1] if i + 1 < len(joint_stamps) else t + 1)
        f = frame_index((item["observation.images.realsense1"] * 255).round().byte().permute(1, 2, 0).numpy())
        assert cam_stamps[f] <= t < cam_stamps[f + 1]


def test_several_bags_resume_and_zero_stamps(tmp_path, capsys):
    a = write_bag(tmp_path / "a", make_spec())
    b = write_bag(tmp_path / "b", make_spec(seed=1, zero_stamps=True, episodes=[SyntheticEpisode(0.5, 1.0, "b")]))
    out = tmp_path / "ds"
    args = ["--output", str(out), "--fps", str(FPS), "--images", "--no-cameras"]
    assert main([str(a), *args]) == 0
    assert main([str(a), *args]) == 1  # existing dataset without --resume
    assert "pass --resume" in capsys.readouterr().err
    assert main([str(a), str(b), *args, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "2 episodes already in the dataset" in printed and "zero stamps, receive time used" in printed
    assert main([str(a), str(b), *args, "--resume"]) == 0
    assert "nothing new" in capsys.readouterr().out
    ds = load(out)
    assert ds.meta.total_episodes == 3 and [e["bag"] for e in ledger(out)] == [str(a), str(a), str(b)]
    assert ledger(out)[2]["stamp_fallbacks"] == {"observation.state": len(make_spec().joint_stamps())}
    assert main([str(b), *args, "--resume", "--fps", "5"]) == 1
    assert "10 fps dataset" in capsys.readouterr().err


def test_the_dataset_carries_its_contract_and_a_resume_must_match_it(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag", make_spec())
    out = tmp_path / "ds"
    args = ["--output", str(out), "--fps", str(FPS), "--images", "--image-size", "12x16", "--environment-state"]
    assert main([str(bag), *args]) == 0
    contract = DataContract.read(out / DATASET_CONTRACT)
    assert contract == DataContract(
        fps=float(FPS),
        action_offset_periods=1.0,
        joint_names=tuple(CONFIG.joint_names),
        cameras={cam.name: cam.topic for cam in CONFIG.cameras},
        image_size=(12, 16),
        image_resize=RESIZE,
        stencil_points_per_arm=DEFAULT_POINTS_PER_ARM,
    )
    assert contract.action_offset_steps == 1
    more = write_bag(tmp_path / "more", make_spec(seed=1))
    assert main([str(more), *args, "--resume", "--action-offset", "2"]) == 1
    err = capsys.readouterr().err
    assert "converted with other settings (action_offset_periods: 1.0 there, 2.0 now)" in err, err
    assert DataContract.read(out / DATASET_CONTRACT) == contract and load(out).meta.total_episodes == 2


def test_bag_without_events_needs_a_task(tmp_path, capsys):
    bag = write_bag(tmp_path / "bag", make_spec(episodes=[]))
    out = tmp_path / "ds"
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--images", "--no-cameras"]) == 1
    assert "--task" in capsys.readouterr().err and not out.exists()
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--images", "--no-cameras", "--task", "t"]) == 0
    assert load(out).meta.total_episodes == 1


def test_a_latched_stencil_does_not_end_an_episode_without_events(tmp_path):
    """A plain `ros2 bag record` bag: no EpisodeEvents, the stencil published once before the data.
    With --environment-state the one episode still spans every frame the other streams cover."""
    bag = write_bag(tmp_path / "bag", make_spec(episodes=[]))
    args = ["--fps", str(FPS), "--images", "--no-cameras", "--task", "t"]
    assert main([str(bag), "--output", str(tmp_path / "plain"), *args]) == 0
    assert main([str(bag), "--output", str(tmp_path / "env"), *args, "--environment-state"]) == 0
    plain, env = load(tmp_path / "plain"), load(tmp_path / "env")
    assert env.meta.total_episodes == 1 and env.meta.total_frames == plain.meta.total_frames > 2 * FPS


# the teleop's flag: latched false at its start, a takeover inside episode 0 from a frame time on,
# one carried into episode 2 from before its START, and one switched on exactly at an action time
INTERVENTIONS = [(0.05, False), (0.5, True), (0.85, False), (1.6, True), (1.9, False), (2.25, True)]
# per frame of episodes 0 (t = 0.2 .. 1.2 s) and 2 (t = 1.65 .. 2.65 s), as of each frame's action
# time (t + one period): a frame is flagged when its action label is the human's command
GOLDEN_FLAGS = "FFTTTTFFFFF" + "TTFFFTTTTTT"


def _flags(ds) -> str:
    return "".join("T" if bool(ds[i]["intervention"]) else "F" for i in range(len(ds)))


def test_interventions_are_frame_exact_and_the_action_is_the_commanded_one(tmp_path, capsys):
    spec = make_spec(interventions=INTERVENTIONS)
    bag = write_bag(tmp_path / "bag", spec)
    out = tmp_path / "ds"
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--images"]) == 0
    printed = capsys.readouterr().out
    assert "intervention on 4 frames" in printed and "intervention on 8 frames" in printed
    ds = check_golden(out, spec)  # every frame's state, action, images and flag as of its time
    assert ds.meta.features["intervention"] == {"dtype": "bool", "shape": (1,), "names": None}
    assert _flags(ds) == GOLDEN_FLAGS
    joint_stamps = spec.joint_stamps().tolist()
    starts = [T0_NS + round(ep.start_s * 1e9) for ep in spec.episodes if ep.end == "stop"]
    for i in (i for i, flag in enumerate(GOLDEN_FLAGS) if flag == "T"):
        item = ds[i]  # the human's command reached the driver: the action is its setpoint, as on any frame
        t = starts[int(item["episode_index"])] + int(item["frame_index"]) * PERIOD_NS
        a = expected_index(joint_stamps, t + PERIOD_NS)
        assert item["action"].tolist() == [setpoint_value(j, a) for j in range(14)], i


def test_interventions_only_keeps_each_run_of_corrected_frames_as_an_episode(tmp_path, capsys):
    """HG-DAgger's data: --interventions-only keeps the frames whose action is the human's command,
    each run of them an episode, frame for frame what the full conversion holds at those frames."""
    bag = write_bag(tmp_path / "bag", make_spec(interventions=INTERVENTIONS))
    args = ["--fps", str(FPS), "--images"]
    assert main([str(bag), "--output", str(tmp_path / "all"), *args]) == 0
    assert main([str(bag), "--output", str(tmp_path / "corrected"), *args, "--interventions-only"]) == 0
    full, corrected = load(tmp_path / "all"), load(tmp_path / "corrected")
    runs = [(0, 2, 6), (1, 0, 2), (1, 5, 11)]  # (full episode, [first, end) frames): GOLDEN_FLAGS' runs of T
    assert corrected.meta.total_episodes == len(runs) and _flags(corrected) == "T" * len(corrected)
    cut = [e["metadata"]["intervention_frames"] for e in ledger(tmp_path / "corrected")]
    assert cut == [[a, b] for _, a, b in runs]
    rows = [(episode, k) for episode, a, b in runs for k in range(a, b)]
    starts = full.meta.episodes["dataset_from_index"]
    for i, (episode, k) in enumerate(rows):
        got, want = corrected[i], full[starts[episode] + k]
        assert got["action"].tolist() == want["action"].tolist() and got["task"] == want["task"], i
        assert got["observation.state"].tolist() == want["observation.state"].tolist(), i
        for cam in CONFIG.cameras:
            key = f"observation.images.{cam.name}"
            np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=f"{i} {key}")

    plain = write_bag(tmp_path / "plain_bag", make_spec())  # no teleop ran: nothing to keep, nothing written
    assert main([str(plain), "--output", str(tmp_path / "none"), *args, "--interventions-only"]) == 1
    assert "no frame of" in capsys.readouterr().err and not (tmp_path / "none").exists()


def test_demonstrations_and_corrections_merge_with_lerobot_edit_dataset(tmp_path):
    """A dataset without interventions and one with them have the same schema: LeRobot's own merge
    (the command in the README) takes both, episodes, flags, actions and videos."""
    bags = {
        "demo": write_bag(tmp_path / "demo_bag", make_spec(episodes=EPISODES[:1])),
        "corrections": write_bag(
            tmp_path / "corrections_bag", make_spec(seed=1, episodes=EPISODES[2:], interventions=INTERVENTIONS)
        ),
    }
    for name, bag in bags.items():
        assert main([str(bag), "--output", str(tmp_path / name), "--fps", str(FPS), "--vcodec", "h264"]) == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [
        shutil.which("lerobot-edit-dataset"),
        "--new_repo_id=tatbot/all",
        f"--new_root={tmp_path / 'all'}",
        "--operation.type=merge",
        "--operation.repo_ids=['tatbot/demo', 'tatbot/corrections']",
        f"--operation.roots=['{tmp_path / 'demo'}', '{tmp_path / 'corrections'}']",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    demo, corrections, merged = (load(tmp_path / name) for name in ("demo", "corrections", "all"))
    assert merged.meta.total_episodes == 2 and list(merged.meta.tasks.index) == [EPISODES[0].task, EPISODES[2].task]
    assert _flags(merged) == _flags(demo) + _flags(corrections) == "F" * 11 + GOLDEN_FLAGS[11:]
    assert merged.meta.stats["intervention"]["mean"] == pytest.approx([8 / 22])  # LeRobot's stats take bools
    rows = [(demo, k) for k in range(len(demo))] + [(corrections, k) for k in range(len(corrections))]
    for i, (source, k) in enumerate(rows):
        got, want = merged[i], source[k]
        assert got["action"].tolist() == want["action"].tolist(), i
        for cam in CONFIG.cameras:
            key = f"observation.images.{cam.name}"
            np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=f"{i} {key}")


def test_resuming_a_dataset_without_the_intervention_feature_is_refused_with_what_to_do(tmp_path, capsys):
    from lerobot.datasets.dataset_tools import remove_feature

    a = write_bag(tmp_path / "a", make_spec())
    b = write_bag(tmp_path / "b", make_spec(seed=1, episodes=[SyntheticEpisode(0.5, 1.0, "b")]))
    args = ["--fps", str(FPS), "--images", "--no-cameras"]
    assert main([str(a), "--output", str(tmp_path / "new"), *args]) == 0
    old = tmp_path / "old"  # as converted before the feature existed
    remove_feature(load(tmp_path / "new"), "intervention", output_dir=old, repo_id="tatbot/old")
    before = sorted(p.relative_to(old) for p in old.rglob("*"))
    capsys.readouterr()
    assert main([str(b), "--output", str(old), *args, "--resume"]) == 1
    err = capsys.readouterr().err
    assert "intervention (the per-frame human-intervention flag) is missing from the dataset" in err, err
    assert "convert its bags (listed in meta/tatbot_episodes.jsonl) again into a new --output" in err, err
    assert sorted(p.relative_to(old) for p in old.rglob("*")) == before  # untouched
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".old.")]  # no staging copy left


@pytest.mark.parametrize(
    "case,expected",
    [
        ("unknown_topic", "joint states topic /nope is not in the bag"),
        ("missing_camera", "camera 'realsense2' has no messages on /realsense2/color/image_raw"),
        ("empty_bag", "the bag has no messages"),
        ("corrupt_file", ".mcap is truncated (no MCAP end magic: the recording was cut"),
        ("killed_bag", "no metadata.yaml"),
        ("fps", "slower than --fps 60"),
        ("existing_dir", "is not a LeRobot dataset"),
        ("image_size", "--image-size must look like"),
        ("no_depth", "--depth needs the aligned depth topic /realsense1/aligned_depth_to_color/image_raw of camera"),
    ],
)
def test_bad_input_is_named(tmp_path, capsys, case, expected):
    out = tmp_path / "ds"
    spec = make_spec(duration_s=1.5, episodes=[SyntheticEpisode(0.2, 1.0, "t")])
    args = ["--output", str(out), "--fps", str(FPS), "--images"]
    if case == "missing_camera":
        spec.cameras = spec.cameras[:1]
    bag = tmp_path / "bag"
    if case == "empty_bag":
        from rosbags.rosbag2 import Writer

        with Writer(bag, version=9) as writer:
            writer.add_connection(
                "/joint_states",
                "sensor_msgs/msg/JointState",
                typestore=__import__("tatbot_recorder.core.bag_types", fromlist=["x"]).tatbot_typestore(),
            )
    else:
        write_bag(bag, spec)
    if case == "unknown_topic":
        args += ["--state-topic", "/nope"]
    elif case == "corrupt_file":
        storage = next(bag.glob("*.mcap"))
        storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])
    elif case == "killed_bag":
        (bag / "metadata.yaml").unlink()
    elif case == "fps":
        args[3] = "60"
    elif case == "existing_dir":
        out.mkdir()
        (out / "keep.txt").write_text("precious")
    elif case == "image_size":
        args += ["--image-size", "big"]
    elif case == "no_depth":
        args += ["--depth"]
    if case == "image_size":
        with pytest.raises(SystemExit):
            main([str(bag), *args])
    else:
        assert main([str(bag), *args]) == 1
    assert expected in capsys.readouterr().err
    if case == "existing_dir":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--vcodec", "x265"], "--vcodec/--crf/--preset: Invalid vcodec 'x265'. Must be one of:"),
        (["--vcodec", "libsvtav1", "--crf", "99"], "--vcodec/--crf/--preset: crf=99.0 is out of range"),
        (["--action-offset", "-3"], "argument --action-offset: must be >= 0, got -3"),
    ],
)
def test_bad_options_are_named_before_any_bag_is_read(tmp_path, capsys, flags, expected):
    missing = tmp_path / "no_such_bag"  # never opened: the options are refused first
    try:
        code = main([str(missing), "--output", str(tmp_path / "ds"), *flags])
    except SystemExit as exc:  # argparse
        code = exc.code
    assert code in (1, 2) and expected in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_lerobot_dataset_viz_is_installed():
    """The recorder README points to LeRobot's viewer: its viz extra (rerun-sdk) is in the set-up."""
    import rerun  # noqa: F401  what the viewer imports once it runs (not for --help)

    viz = Path(sys.executable).with_name("lerobot-dataset-viz")
    proc = subprocess.run([str(viz), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--episode-index" in proc.stdout, proc.stderr[-1000:]


def test_help_explains_the_options():
    text = subprocess.run(
        [sys.executable, "-m", "tatbot_recorder.bag_to_lerobot", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for word in (
        "--resume",
        "--action-offset",
        "--environment-state",
        "Sync report",
        "as of",
        "--image-size",
        "--intervention-topic",
        "lerobot-edit-dataset",
    ):
        assert word in text


def test_lerobot_train_runs_act_on_the_converted_dataset(tmp_path):
    spec = make_spec(size=(48, 64))
    bag = write_bag(tmp_path / "bag", spec)
    out = tmp_path / "ds"
    assert main([str(bag), "--output", str(out), "--fps", str(FPS), "--vcodec", "h264", "--environment-state"]) == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    cmd = [
        shutil.which("lerobot-train"),
        "--dataset.repo_id=tatbot/ds",
        f"--dataset.root={out}",
        "--policy.type=act",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        "--policy.pretrained_backbone_weights=null",
        "--policy.dim_model=32",
        "--policy.dim_feedforward=64",
        "--policy.n_heads=2",
        "--policy.n_encoder_layers=1",
        "--policy.n_decoder_layers=1",
        "--policy.chunk_size=4",
        "--policy.n_action_steps=4",
        "--policy.use_vae=false",
        "--batch_size=2",
        "--steps=2",
        "--log_freq=1",
        "--save_checkpoint=false",
        "--num_workers=0",
        "--wandb.enable=false",
        f"--output_dir={tmp_path / 'train'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "step:2" in (proc.stdout + proc.stderr).replace(" ", "")


def _columns(root):
    """Every non-image value of a dataset, per column, and its tasks and ledger keys."""
    ds = load(root)
    table = ds.hf_dataset.with_format("numpy")
    columns = {k: np.asarray(table[k]) for k in table.column_names if not k.startswith("observation.images")}
    images = [np.asarray(ds[i]["observation.images.realsense1"]) for i in (0, len(ds) - 1)]
    return columns, images, list(ds.meta.tasks.index), [e["key"] for e in ledger(root)]


@pytest.mark.timeout(900)  # 7 conversions and 5 killed ones, each a process: ~2 min here, 3x on a slow host
def test_a_conversion_killed_at_any_point_resumes_to_the_uninterrupted_dataset(tmp_path):
    """bag a is in the dataset; a run adding bag b (--resume) is SIGKILLed at 5 random points; the
    dataset is then the old one or the new one, never in between, and rerunning gives the same
    dataset as an uninterrupted run."""
    a, b = (
        write_bag(
            tmp_path / name,
            make_spec(seed=seed, duration_s=4.0, episodes=[SyntheticEpisode(0.2 + 1.2 * k, 1.2 + 1.2 * k, f"{name}{k}")
                                                          for k in range(3)]),
        )
        for seed, name in ((0, "a"), (1, "b"))
    )  # fmt: skip
    command = [sys.executable, "-m", "tatbot_recorder.bag_to_lerobot", "--fps", str(FPS), "--images", "--resume"]

    def convert(out, *bags):
        result = subprocess.run([*command, *map(str, bags), "--output", str(out)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    convert(tmp_path / "base", a)
    shutil.copytree(tmp_path / "base", tmp_path / "reference")
    start = time.monotonic()
    convert(tmp_path / "reference", a, b)
    duration = time.monotonic() - start
    reference = _columns(tmp_path / "reference")
    rng = np.random.default_rng(0)
    for k, delay in enumerate(sorted(rng.uniform(0.2 * duration, duration, 5))):
        out = tmp_path / f"killed_{k}"
        shutil.copytree(tmp_path / "base", out)
        proc = subprocess.Popen(
            [*command, str(a), str(b), "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        proc.kill()
        proc.wait()
        found = [p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.")]
        held = load(out if out.exists() else tmp_path / f".{out.name}.old").meta.total_episodes
        assert held in (3, 6), f"killed after {delay:.1f} s: {held} episodes"  # the old dataset or the new one
        printed = convert(out, a, b)
        print(f"killed after {delay:.1f} s of {duration:.1f} s (dataset held {held}, left {found}): {printed}")
        assert not any(p.name.startswith(f".{out.name}.") for p in tmp_path.iterdir())  # nothing left beside it
        columns, images, tasks, keys = _columns(out)
        assert tasks == reference[2] and keys == reference[3]
        assert columns.keys() == reference[0].keys()
        for name, values in reference[0].items():
            np.testing.assert_array_equal(columns[name], values, err_msg=name)
        for got, want in zip(images, reference[1], strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("damage", ["truncated data parquet", "no meta/episodes"])
def test_resume_names_a_dataset_whose_last_write_was_cut(tmp_path, capsys, damage, monkeypatch):
    """A dataset cut by a crash of some other writer: --resume names the file and what to do, and
    never turns to the Hub for the local path (the Hub client would raise, offline or online)."""
    import huggingface_hub

    a = write_bag(tmp_path / "a", make_spec())
    out = tmp_path / "ds"
    args = ["--output", str(out), "--fps", str(FPS), "--images", "--no-cameras"]
    assert main([str(a), *args]) == 0
    capsys.readouterr()
    if damage == "truncated data parquet":
        (victim,) = (out / "data").glob("**/*.parquet")
        victim.write_bytes(victim.read_bytes()[:-100])
        expected = f"{victim} is not a complete parquet file"
    else:
        shutil.rmtree(out / "meta" / "episodes")
        expected = "info.json lists 2 episodes but meta/episodes/ holds no parquet file"

    def no_hub(*args, **kwargs):
        raise AssertionError("the Hub was called for a local dataset")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hub)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_refs", no_hub)
    assert main([str(a), *args, "--resume"]) == 1
    err = capsys.readouterr().err
    assert expected in err and "convert the bags again into a new --output" in err, err
