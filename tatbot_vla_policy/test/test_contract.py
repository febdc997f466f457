"""The train <-> serve contract (tatbot_bringup.data_contract): written by bag_to_lerobot, put beside
the checkpoint, read by vla_policy with the training dataset absent from the robot; and colour
frames served exactly as LeRobot's dataset loader gave them in training (one resize, both sides)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from builtin_interfaces.msg import Time
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from tatbot_bringup.data_contract import CONTRACT_FILE, DataContract, copy_to_checkpoint
from tatbot_bringup.robot_config import load_robot_config
from tatbot_recorder.bag_to_lerobot import main as bag_to_lerobot
from tatbot_recorder.synthetic import T0_NS, SyntheticBag, SyntheticEpisode, frame_image, write_bag
from tatbot_vla_policy.conversions import image_to_rgb
from tatbot_vla_policy.core.datasets import load_local_dataset
from tatbot_vla_policy.core.features import cameras_by_topic
from tatbot_vla_policy.core.observation import image_to_chw
from tatbot_vla_policy.vla_policy_node import VlaPolicyNode

CONFIG = load_robot_config()
OK = TransitionCallbackReturn.SUCCESS


def convert(tmp_path, *flags: str, textured: bool = False, duration_s: float = 1.2):
    spec = SyntheticBag(
        CONFIG.joint_names,
        [(c.name, c.topic) for c in CONFIG.cameras],
        duration_s=duration_s,
        episodes=[SyntheticEpisode(0.1, duration_s - 0.2, "t")],
        textured=textured,
    )
    bag = write_bag(tmp_path / "bag", spec)
    root = tmp_path / "dataset"
    assert bag_to_lerobot([str(bag), "--output", str(root), *flags]) == 0
    return spec, root


def policy(ros_executor, checkpoint) -> VlaPolicyNode:
    overrides = {"checkpoint": str(checkpoint), "device": "cpu", "warmup_iterations": 0, "autostart": False}
    node = VlaPolicyNode(
        context=ros_executor.context, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]
    )
    return ros_executor.add(node)


def robot_checkpoint(act_checkpoint, tmp_path):
    """The checkpoint as a robot gets it: copied, its training dataset not on this machine."""
    checkpoint = tmp_path / "pretrained_model"
    shutil.copytree(act_checkpoint, checkpoint)
    train = json.loads((checkpoint / "train_config.json").read_text())
    train["dataset"]["root"] = str(tmp_path / "not_on_the_robot")
    (checkpoint / "train_config.json").write_text(json.dumps(train))
    return checkpoint


@pytest.mark.ros
def test_the_node_takes_fps_and_action_offset_from_the_checkpoints_contract_alone(
    tmp_path, ros_executor, act_checkpoint
):
    _, dataset = convert(tmp_path, "--fps", "5", "--action-offset", "2", "--images", "--no-cameras")
    checkpoint = robot_checkpoint(act_checkpoint, tmp_path)
    assert copy_to_checkpoint(dataset, checkpoint) == checkpoint / CONTRACT_FILE  # as training does
    shutil.rmtree(dataset)
    node = policy(ros_executor, checkpoint)
    assert node.trigger_configure() == OK
    assert (node._dt, node._offset_steps) == (0.2, 2)  # the 10 fps the tiny dataset has would give 0.1


@pytest.mark.ros
def test_without_a_contract_or_dataset_the_node_names_what_to_set(tmp_path, ros_executor, act_checkpoint):
    node = policy(ros_executor, robot_checkpoint(act_checkpoint, tmp_path))
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "set parameter action_fps" in node._detail


@pytest.mark.ros
def test_a_contract_of_other_joints_is_refused(tmp_path, ros_executor, act_checkpoint):
    checkpoint = robot_checkpoint(act_checkpoint, tmp_path)
    names = (*CONFIG.joint_names[7:], *CONFIG.joint_names[:7])  # the arms swapped
    DataContract(fps=10.0, action_offset_periods=1.0, joint_names=names).write(checkpoint / CONTRACT_FILE)
    node = policy(ros_executor, checkpoint)
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert "the checkpoint was trained on the joints" in node._detail


def test_the_contract_maps_training_cameras_to_the_robots_by_topic():
    robot = {c.name: c.topic for c in CONFIG.cameras}
    trained = {"wrist_left": CONFIG.cameras[0].topic, "realsense2": CONFIG.cameras[1].topic, "other": "/x"}
    assert cameras_by_topic(trained, robot) == {"wrist_left": CONFIG.cameras[0].name}


def test_the_node_serves_colour_as_the_dataset_loader_gave_it_in_training(tmp_path):
    size = (24, 32)  # from the cameras' 48x64: every frame is resized
    spec, root = convert(
        tmp_path, "--fps", "10", "--images", "--image-size", "x".join(map(str, size)), textured=True, duration_s=0.6
    )
    ds = load_local_dataset(root)
    key = f"observation.images.{CONFIG.cameras[0].name}"
    stamps = spec.camera_stamps(0)
    start = T0_NS + round(spec.episodes[0].start_s * 1e9)
    for k in range(ds.meta.total_frames):
        i = int(np.searchsorted(stamps, start + k * 10**8, side="right")) - 1  # the message the converter took
        pixels = frame_image(0, i, spec.size, textured=True)
        msg = Image(
            header=Header(stamp=Time(sec=int(stamps[i] // 10**9), nanosec=int(stamps[i] % 10**9))),
            height=spec.size[0],
            width=spec.size[1],
            encoding="rgb8",
            step=3 * spec.size[1],
            data=pixels.tobytes(),
        )
        served = torch.from_numpy(image_to_chw(image_to_rgb(msg), *size))
        loaded = ds[k][key]
        assert torch.equal(served, loaded), (k, (served - loaded).abs().max())
    # the skew this removed: the node's former torch bilinear resize of the same frame
    full = torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32) / 255)[None]
    bilinear = F.interpolate(full, size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    assert (bilinear - loaded).abs().max() > 0.05
