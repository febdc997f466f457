"""The system description yields the expected processes for every argument combination."""

import itertools

import pytest

from tatbot_bringup.launch_runner import parse_launch_arguments
from tatbot_bringup.system import INFER, RECORD, SIM, SYSTEMS, LaunchArgumentError


def _by_name(nodes):
    names = [n.name for n in nodes]
    assert len(names) == len(set(names)), f"duplicate node names: {names}"
    return {n.name: n for n in nodes}


def test_infer_splits_into_the_robots_nodes_and_the_policy_for_two_machines():
    args = {"checkpoint": "/ckpt", "record_eval": "true", "rviz": "true"}
    both = _by_name(INFER.nodes(args))
    robot = _by_name(INFER.nodes({**args, "host": "robot"}))
    gpu = _by_name(INFER.nodes({**args, "host": "gpu"}))
    assert list(gpu) == ["vla_policy"] and gpu["vla_policy"] == both["vla_policy"]
    assert "vla_policy" not in robot and {"arm_driver", "sim_camera", "recorder"} <= set(robot)
    assert set(robot) | set(gpu) == set(both)
    with pytest.raises(LaunchArgumentError, match="host"):
        INFER.nodes({**args, "host": "laptop"})


@pytest.mark.parametrize(
    ("backend", "cameras", "rviz", "record_eval"),
    list(itertools.product(("mock", "trossen"), ("sim", "realsense", "none"), ("true", "false"), ("true", "false"))),
)
def test_infer_every_combination(backend, cameras, rviz, record_eval):
    args = {
        "backend": backend,
        "cameras": cameras,
        "rviz": rviz,
        "record_eval": record_eval,
        "checkpoint": "/ckpt",
    }
    nodes = _by_name(INFER.nodes(args))

    assert nodes["arm_driver"].package == "tatbot_arm_driver"
    assert nodes["arm_driver"].parameters["backend"] == backend
    policy = nodes["vla_policy"]
    assert (policy.package, policy.executable) == ("tatbot_vla_policy", "vla_policy")
    assert policy.parameters["checkpoint"] == "/ckpt"
    assert policy.parameters["dry_run"] is False
    assert policy.parameters["device"] == "auto"
    assert policy.parameters["torch_threads"] == 0  # the node's own default
    assert policy.parameters["blend_mode"] == "crossfade"  # the node's own default
    assert policy.parameters["hub_paths"] == [""]  # the node's own default: none

    assert ("sim_camera" in nodes) == (cameras == "sim")
    realsense = [n for n in nodes.values() if n.package == "realsense2_camera"]
    assert len(realsense) == (2 if cameras == "realsense" else 0)
    assert {n.name for n in realsense} <= {"realsense1", "realsense2"}
    assert all(n.needs_distro for n in realsense)
    if cameras == "realsense":
        # D405s: no RGB sensor, the colour profile is the depth module's; no serial_no = any camera
        assert realsense[0].parameters["depth_module.color_profile"] == "640,480,30"
        assert "rgb_camera.color_profile" not in realsense[0].parameters and "serial_no" not in realsense[0].parameters

    assert ("recorder" in nodes) == (record_eval == "true")
    if record_eval == "true":
        assert nodes["recorder"].parameters["output_dir"] == "bags/eval"
    assert ("rviz2" in nodes) == ("robot_state_publisher" in nodes) == (rviz == "true")
    if rviz == "true":
        urdf = nodes["robot_state_publisher"].parameters["robot_description"]
        assert urdf.startswith("<?xml") and 'joint name="left/joint_0"' in urdf

    expected = 2 + (cameras == "sim") + 2 * (cameras == "realsense") + (record_eval == "true") + 2 * (rviz == "true")
    assert len(nodes) == expected


def test_infer_passes_policy_arguments():
    nodes = _by_name(
        INFER.nodes(
            {
                "dry_run": "true",
                "device": "cuda",
                "torch_threads": "1",
                "task": "draw a line",
                "blend_mode": "rtc",
                "hub_paths": "HuggingFaceTB/SmolVLM2=/models/vlm, google/paligemma-3b-pt-224=/models/tok",
                "config": "/r.yaml",
            }
        )
    )
    params = nodes["vla_policy"].parameters
    assert params == {
        "checkpoint": "",
        "device": "cuda",
        "torch_threads": 1,
        "dry_run": True,
        "task": "draw a line",
        "blend_mode": "rtc",
        "hub_paths": ["HuggingFaceTB/SmolVLM2=/models/vlm", "google/paligemma-3b-pt-224=/models/tok"],
        "config": "/r.yaml",
    }
    assert nodes["arm_driver"].parameters["config"] == "/r.yaml"
    assert nodes["sim_camera"].parameters == {"config": "/r.yaml", "width": 0, "height": 0, "fps": 0.0}


def test_sim_camera_size_arguments():
    nodes = _by_name(RECORD.nodes({"camera_width": "128", "camera_height": "96", "camera_fps": "15"}))
    params = nodes["sim_camera"].parameters
    assert (params["width"], params["height"], params["fps"]) == (128, 96, 15.0)


@pytest.mark.parametrize("stroke_demo", ["true", "false"])
def test_record(stroke_demo):
    nodes = _by_name(RECORD.nodes({"stroke_demo": stroke_demo, "episodes": "3", "seed": "7"}))
    assert {"arm_driver", "sim_camera", "recorder"} <= set(nodes)
    assert nodes["recorder"].parameters["output_dir"] == "bags/demo"
    assert ("stroke_demo" in nodes) == (stroke_demo == "true")
    if stroke_demo == "true":
        demo = nodes["stroke_demo"]
        assert demo.required, "the record system ends when the demonstrations are done"
        assert demo.parameters["episodes"] == 3 and demo.parameters["seed"] == 7


def test_record_tracking_noise_reaches_the_mock_arms_only():
    exact = _by_name(RECORD.nodes({}))["arm_driver"].parameters
    assert "mock_tracking_noise" not in exact
    noisy = _by_name(RECORD.nodes({"tracking_noise": "0.003", "seed": "4"}))["arm_driver"].parameters
    assert noisy["mock_tracking_noise"] == 0.003 and noisy["mock_seed"] == 4
    real = _by_name(RECORD.nodes({"tracking_noise": "0.003", "backend": "trossen"}))["arm_driver"].parameters
    assert "mock_tracking_noise" not in real


def test_sim_starts_one_simulator_per_arm_and_a_trossen_driver():
    nodes = SIM.nodes({"cameras": "none"})
    sims = [n for n in nodes if n.command]
    assert len(sims) == 2
    assert all(n.command[0] == "trossen-arm-sim" for n in sims)
    hosts = {n.command[n.command.index("--host") + 1] for n in sims}
    ports = {n.command[n.command.index("--ws-port") + 1] for n in sims}
    assert len(hosts) == 2 and len(ports) == 2
    driver = _by_name(nodes)["arm_driver"]
    assert driver.parameters["backend"] == "trossen"


@pytest.mark.parametrize(
    ("system", "args", "message"),
    [
        (INFER, {"backend": "ur5"}, "backend:='ur5' is not one of ['mock', 'trossen']"),
        (INFER, {"camera": "sim"}, "unknown argument(s) ['camera']"),
        (RECORD, {"rviz": "yes"}, "rviz:='yes' is not one of ['true', 'false']"),
        (RECORD, {"episodes": "abc"}, "record: episodes:='abc' is not an integer"),
        (INFER, {"camera_fps": "fast"}, "infer: camera_fps:='fast' is not a number"),
        # values a node refuses: checked against its schema() before anything starts
        (
            RECORD,
            {"tracking_noise": "0.5"},
            "record: arm_driver: parameter mock_tracking_noise:=0.5 is out of its range [0, 0.05]",
        ),
        (SIM, {"camera_width": "-5"}, "sim: sim_camera: parameter width:=-5 is out of its range [0, 4096]"),
        (RECORD, {"stroke_demo": "true", "episodes": "0"}, "stroke_demo: parameter episodes:=0 is out of its range"),
    ],
)
def test_bad_arguments_are_named(system, args, message):
    with pytest.raises(LaunchArgumentError) as err:
        system.nodes(args)
    assert message in str(err.value)


def test_every_argument_is_documented():
    for system in SYSTEMS.values():
        for arg in system.arguments:
            assert arg.description and len(arg.description) > 10, (system.name, arg.name)
            if arg.choices:
                assert arg.default in arg.choices, (system.name, arg.name)


def test_parse_launch_arguments():
    assert parse_launch_arguments(["a:=1", "task:=draw a:b"]) == {"a": "1", "task": "draw a:b"}
    with pytest.raises(LaunchArgumentError, match="name:=value"):
        parse_launch_arguments(["backend=mock"])


def test_rviz_config_shows_robot_cameras_and_chunks():
    from pathlib import Path

    import yaml

    from tatbot_bringup.robot_config import load_robot_config

    rviz = yaml.safe_load((Path(__file__).resolve().parents[1] / "rviz" / "tatbot.rviz").read_text())
    displays = rviz["Visualization Manager"]["Displays"]
    topics = {d["Topic"]["Value"] for d in displays if "Topic" in d}
    assert {c.topic for c in load_robot_config().cameras} <= topics
    assert "/vla_policy/chunk_markers" in topics
    assert any(d["Class"] == "rviz_default_plugins/RobotModel" for d in displays)
    assert rviz["Visualization Manager"]["Global Options"]["Fixed Frame"] == "world"


def test_realsense_serial_numbers_and_models_come_from_robot_yaml(tmp_path):
    from tatbot_bringup.robot_config import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text()
    text = text.replace('arm: left, model: d405, serial_no: ""', 'arm: left, model: d435, serial_no: "130322271234"')
    config = tmp_path / "robot.yaml"
    config.write_text(text)
    nodes = _by_name(INFER.nodes({"cameras": "realsense", "checkpoint": "/ckpt", "config": str(config)}))
    left, right = nodes["realsense1"].parameters, nodes["realsense2"].parameters
    assert left["serial_no"] == "130322271234" and left["rgb_camera.color_profile"] == "640,480,30"
    assert "serial_no" not in right and right["depth_module.color_profile"] == "640,480,30"


@pytest.mark.parametrize("system", [RECORD, INFER], ids=lambda s: s.name)
def test_teleop_adds_the_teleop_node_and_its_operator_on_the_robot(system):
    args = {"checkpoint": "/ckpt"} if system is INFER else {}
    assert not {"teleop", "joy", "sim_operator"} & set(_by_name(system.nodes(args)))
    gamepad = _by_name(system.nodes({**args, "teleop": "gamepad"}))
    assert gamepad["joy"].needs_distro and (gamepad["joy"].package, gamepad["joy"].executable) == (
        "joy",
        "game_controller_node",
    )
    sim = _by_name(system.nodes({**args, "teleop": "sim"}))
    assert "joy" not in sim and sim["sim_operator"].package == "tatbot_arm_driver"
    assert gamepad["teleop"] == sim["teleop"] and gamepad["teleop"].package == "tatbot_arm_driver"
    if system is INFER:  # the operator stands at the robot
        assert {"teleop", "sim_operator"} <= set(_by_name(system.nodes({**args, "teleop": "sim", "host": "robot"})))
