"""Train/serve agreement of depth: the node's conversion of a 16UC1 message is what LeRobot's dataset
loader gives the policy for the same frame after bag_to_lerobot --depth."""

import json

import numpy as np
import pytest
import torch
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from tatbot_bringup.robot_config import load_robot_config
from tatbot_recorder.bag_to_lerobot import main as bag_to_lerobot
from tatbot_recorder.synthetic import T0_NS, SyntheticBag, SyntheticEpisode, depth_frame, write_bag
from tatbot_vla_policy.conversions import ImageEncodingError, image_to_depth
from tatbot_vla_policy.core.datasets import load_local_dataset
from tatbot_vla_policy.core.features import Feature, check_features
from tatbot_vla_policy.core.observation import depth_formats

CONFIG = load_robot_config()
FPS = 10


def depth_msg(depth: np.ndarray, stamp_ns: int) -> Image:
    """The aligned depth message as realsense2_camera / sim_camera publish it (a real rclpy message)."""
    h, w = depth.shape
    return Image(
        header=Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="realsense1"),
        height=h,
        width=w,
        encoding="16UC1",
        is_bigendian=0,
        step=2 * w,
        data=depth.tobytes(),
    )


@pytest.mark.parametrize("storage", [[], ["--images", "--image-size", "24x32"]], ids=["video", "images-resized"])
def test_the_node_serves_depth_as_the_dataset_loader_gave_it_in_training(tmp_path, storage):
    spec = SyntheticBag(
        CONFIG.joint_names,
        [(c.name, c.topic) for c in CONFIG.cameras],
        duration_s=1.2,
        episodes=[SyntheticEpisode(0.2, 1.0, "t")],
        depth=True,
    )
    bag = write_bag(tmp_path / "bag", spec)
    root = tmp_path / "ds"
    assert (
        bag_to_lerobot([str(bag), "--output", str(root), "--fps", str(FPS), "--vcodec", "h264", "--depth", *storage])
        == 0
    )
    ds = load_local_dataset(root)
    # the checkpoint's input features, as lerobot-train makes them from this dataset
    from lerobot.utils.feature_utils import dataset_to_policy_features

    features = {
        k: Feature(f.type.name, tuple(f.shape)) for k, f in dataset_to_policy_features(ds.meta.features).items()
    }
    outputs = {k: f for k, f in features.items() if f.type == "ACTION"}
    inputs = {k: f for k, f in features.items() if k not in outputs}
    input_spec = check_features(inputs, outputs, [c.name for c in CONFIG.cameras], 14)
    assert [d.key for d in input_spec.depths] == [f"observation.images.{c.name}_depth" for c in CONFIG.cameras]
    # what the node reads at configure (core.runner.dataset_info: the checkpoint's training dataset)
    formats, notes = depth_formats(input_spec, json.loads((root / "meta" / "info.json").read_text()))
    assert not notes
    d = input_spec.depths[0]
    stamps = spec.camera_stamps(0)
    start = T0_NS + round(spec.episodes[0].start_s * 1e9)
    for k in range(ds.meta.total_frames):
        t = start + k * 10**9 // FPS
        i = int(np.searchsorted(stamps, t, side="right")) - 1  # the message the converter took
        msg = depth_msg(depth_frame(0, i, spec.size), int(stamps[i]))
        served = torch.from_numpy(formats[d.key].to_model(image_to_depth(msg), d.height, d.width))
        loaded = ds[k][d.key]
        assert served.dtype == loaded.dtype == torch.float32 and served.shape == loaded.shape
        assert torch.equal(served, loaded), (k, (served - loaded).abs().max())


def test_a_depth_message_the_node_cannot_read_is_named():
    msg = depth_msg(np.zeros((2, 3), np.uint16), 0)
    msg.encoding = "32FC1"
    with pytest.raises(ImageEncodingError, match="'32FC1' is not supported: publish 16UC1 or mono16"):
        image_to_depth(msg)


def test_without_the_training_dataset_the_node_serves_lerobots_default_depth_video_and_says_so():
    from lerobot.configs.video import DepthEncoderConfig

    inputs = {
        "observation.state": Feature("STATE", (14,)),
        "observation.images.realsense1_depth": Feature("VISUAL", (1, 4, 4)),
    }
    input_spec = check_features(inputs, {"action": Feature("ACTION", (14,))}, ["realsense1"], 14)
    formats, notes = depth_formats(input_spec, None)
    assert formats["observation.images.realsense1_depth"].quantizer == DepthEncoderConfig()
    assert len(notes) == 1 and "training dataset is not on this machine" in notes[0]
    served = formats["observation.images.realsense1_depth"].to_model(np.zeros((4, 4), np.uint16), 4, 4)
    assert np.all(served == 10.0)  # no depth: depth_min, as the loader reads it back
