"""The tatbot system description: launch arguments in, the list of processes out.

Pure Python (no ``launch`` import). The ROS 2 launch files in ``launch/`` are
thin wrappers over it, and ``./tatbot launch`` runs the same description on a
machine without a ROS distro, so both always start the same nodes with the
same parameters and remappings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

TRUE_FALSE = ("true", "false")
KIND_NAMES = {int: "an integer", float: "a number", str: "a string"}
# the module of each of our nodes whose schema() lists its parameters (tatbot_bringup.parameters):
# what a system passes a node is checked against it before anything starts
NODE_MODULES = {
    ("tatbot_arm_driver", "arm_driver"): "tatbot_arm_driver.arm_driver_node",
    ("tatbot_arm_driver", "sim_camera"): "tatbot_arm_driver.sim_camera_node",
    ("tatbot_arm_driver", "teleop"): "tatbot_arm_driver.teleop_node",
    ("tatbot_arm_driver", "sim_operator"): "tatbot_arm_driver.sim_operator_node",
    ("tatbot_recorder", "recorder"): "tatbot_recorder.recorder_node",
    ("tatbot_recorder", "stroke_demo"): "tatbot_recorder.stroke_demo_node",
    ("tatbot_vla_policy", "vla_policy"): "tatbot_vla_policy.vla_policy_node",
}


class LaunchArgumentError(ValueError):
    """A launch argument is unknown, of the wrong kind, outside its choices, or gives one of our
    nodes a parameter value it refuses."""


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None
    kind: type = str  # int, float or str: what the value is converted to for the system's build


def check_node_parameters(system: str, nodes: list[NodeSpec]) -> None:
    """Every parameter the system passes one of our nodes is one it declares, with a value it takes."""
    for node in nodes:
        module = NODE_MODULES.get((node.package, node.executable))
        if module is None:
            continue
        schema = {p.name: p for p in importlib.import_module(module).schema()}
        for name, value in node.parameters.items():
            param = schema.get(name)
            problem = f"parameter {name} is not declared" if param is None else param.problem(value)
            if problem:
                raise LaunchArgumentError(f"{system}: {node.name}: {problem}")


@dataclass(frozen=True)
class NodeSpec:
    """One process of the system: a ROS node (package/executable) or a plain command."""

    package: str
    executable: str
    name: str
    parameters: Mapping[str, object] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    arguments: tuple[str, ...] = ()
    needs_distro: bool = False  # only available from a ROS 2 distro (realsense2_camera, rviz2, ...)
    command: tuple[str, ...] | None = None  # a plain process (e.g. a simulator), not a ROS node
    required: bool = False  # when it exits, the whole system shuts down (launch's on_exit=Shutdown)


@dataclass(frozen=True)
class SystemDescription:
    name: str
    description: str
    arguments: tuple[Argument, ...]
    build: Callable[[dict[str, object]], list[NodeSpec]]

    def resolve(self, given: Mapping[str, str]) -> dict[str, object]:
        """Defaults merged with ``given``, converted to each argument's kind; unknown names, bad
        values and bad choices raise LaunchArgumentError."""
        known = {a.name: a for a in self.arguments}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise LaunchArgumentError(f"{self.name}: unknown argument(s) {unknown}; arguments: {sorted(known)}")
        values: dict[str, object] = {a.name: a.default for a in self.arguments}
        values.update(given)
        for arg in self.arguments:
            if arg.choices and values[arg.name] not in arg.choices:
                raise LaunchArgumentError(
                    f"{self.name}: {arg.name}:={values[arg.name]!r} is not one of {list(arg.choices)}"
                )
            try:
                values[arg.name] = arg.kind(values[arg.name])
            except ValueError:
                raise LaunchArgumentError(
                    f"{self.name}: {arg.name}:={values[arg.name]!r} is not {KIND_NAMES[arg.kind]}"
                ) from None
        return values

    def nodes(self, given: Mapping[str, str] | None = None) -> list[NodeSpec]:
        nodes = self.build(self.resolve(given or {}))
        check_node_parameters(self.name, nodes)
        return nodes


# --- shared arguments --------------------------------------------------------

CONFIG = Argument("config", "", "robot.yaml to use; empty = tatbot_bringup's installed config/robot.yaml")
BACKEND = Argument(
    "backend", "mock", "arm driver backend: kinematic mock arms or the trossen_arm SDK", ("mock", "trossen")
)
CAMERAS = Argument(
    "cameras",
    "sim",
    "wrist cameras: simulated from /joint_states, realsense2_camera, or none",
    ("sim", "realsense", "none"),
)
SIM_CAMERA_SIZE = (
    Argument("camera_width", "0", "simulated camera image width, px; 0 = robot.yaml's", kind=int),
    Argument("camera_height", "0", "simulated camera image height, px; 0 = robot.yaml's", kind=int),
    Argument("camera_fps", "0", "simulated camera frame rate, Hz; 0 = robot.yaml's", kind=float),
)
RVIZ = Argument(
    "rviz", "false", "start robot_state_publisher and rviz2 with rviz/tatbot.rviz (ROS 2 distro)", TRUE_FALSE
)
TELEOP = Argument(
    "teleop",
    "none",
    "corrections while a deadman is held, through our teleop node: gamepad (joy's game_controller_node, a ROS 2 "
    "distro) or sim (sim_operator, a simulated person who corrects strays from the stencil)",
    ("none", "gamepad", "sim"),
)


def _is_true(value: str) -> bool:
    return value == "true"


def _driver(args: dict[str, object], extra: Mapping[str, object] | None = None) -> NodeSpec:
    return NodeSpec(
        "tatbot_arm_driver",
        "arm_driver",
        "arm_driver",
        parameters={"backend": args["backend"], "config": args["config"], **(extra or {})},
    )


def _cameras(args: dict[str, object]) -> list[NodeSpec]:
    if args["cameras"] == "sim":
        params = {
            "config": args["config"],
            "width": args["camera_width"],
            "height": args["camera_height"],
            "fps": args["camera_fps"],
        }
        return [NodeSpec("tatbot_arm_driver", "sim_camera", "sim_camera", parameters=params)]
    if args["cameras"] == "realsense":
        from tatbot_bringup.robot_config import load_robot_config

        cfg = load_robot_config(args["config"] or None)
        return [
            NodeSpec(
                "realsense2_camera",
                "realsense2_camera_node",
                cam.name,
                parameters={
                    "camera_name": cam.name,
                    "camera_namespace": "",
                    cam.color_profile_parameter: f"{cam.width},{cam.height},{int(cam.fps)}",
                    # reliable, keep last 10 (qos.CAMERA_IMAGES); its own SYSTEM_DEFAULT keeps 1 and
                    # loses frames into the recorder (bench/camera_load_bench.py). The aligned depth
                    # publishes with the colour stream's QoS.
                    "color_qos": "DEFAULT",
                    "color_info_qos": "DEFAULT",
                    # depth aligned to colour on /<camera>/aligned_depth_to_color/{image_raw,camera_info},
                    # as sim_camera publishes it; the depth profile matches the colour one (on the D405
                    # both come from the depth module)
                    "enable_depth": True,
                    "depth_module.depth_profile": f"{cam.width},{cam.height},{int(cam.fps)}",
                    "align_depth.enable": True,
                    **({"serial_no": cam.serial_no} if cam.serial_no else {}),
                },
                needs_distro=True,
            )
            for cam in cfg.cameras
        ]
    return []


def _rviz(args: dict[str, object]) -> list[NodeSpec]:
    if not _is_true(args["rviz"]):
        return []
    from tatbot_bringup.urdf import robot_description

    return [
        NodeSpec(
            "robot_state_publisher",
            "robot_state_publisher",
            "robot_state_publisher",
            parameters={"robot_description": robot_description(args["config"] or None)},
            needs_distro=True,
        ),
        NodeSpec(
            "rviz2",
            "rviz2",
            "rviz2",
            arguments=("-d", "{share:tatbot_bringup}/rviz/tatbot.rviz"),
            needs_distro=True,
        ),
    ]


def _teleop(args: dict[str, object]) -> list[NodeSpec]:
    if args["teleop"] == "none":
        return []
    config = {"config": args["config"]}
    operator = (
        NodeSpec("joy", "game_controller_node", "joy", needs_distro=True)
        if args["teleop"] == "gamepad"
        else NodeSpec("tatbot_arm_driver", "sim_operator", "sim_operator", parameters=config)
    )
    return [operator, NodeSpec("tatbot_arm_driver", "teleop", "teleop", parameters=config)]


def _recorder(args: dict[str, object], extra: Mapping[str, object] | None = None) -> NodeSpec:
    return NodeSpec("tatbot_recorder", "recorder", "recorder", parameters={"config": args["config"], **(extra or {})})


# --- infer -------------------------------------------------------------------


def _build_infer(args: dict[str, object]) -> list[NodeSpec]:
    robot = [_driver(args), *_cameras(args), *_teleop(args)]
    if _is_true(args["record_eval"]):
        robot.append(_recorder(args, {"output_dir": args["bag_dir"]}))
    policy = [
        NodeSpec(
            "tatbot_vla_policy",
            "vla_policy",
            "vla_policy",
            parameters={
                "checkpoint": args["checkpoint"],
                "device": args["device"],
                "torch_threads": args["torch_threads"],
                "dry_run": _is_true(args["dry_run"]),
                "task": args["task"],
                "blend_mode": args["blend_mode"],
                # comma-separated hub_id=dir entries -> the node's string array ([""] = none)
                "hub_paths": [e.strip() for e in args["hub_paths"].split(",")] if args["hub_paths"] else [""],
                "config": args["config"],
            },
        )
    ]
    # two machines (the README's "Two machines"): the robot's nodes on the robot, the policy on the GPU box
    return {"both": robot + policy + _rviz(args), "robot": robot + _rviz(args), "gpu": policy}[args["host"]]


INFER = SystemDescription(
    name="infer",
    description="run a trained LeRobot policy on the (simulated or real) robot",
    arguments=(
        Argument("checkpoint", "", "LeRobot checkpoint directory (…/pretrained_model) to load"),
        Argument(
            "host",
            "both",
            "which machine's nodes: both (one machine), robot (driver, cameras, recorder), gpu (the policy alone)",
            ("both", "robot", "gpu"),
        ),
        BACKEND,
        CAMERAS,
        *SIM_CAMERA_SIZE,
        RVIZ,
        TELEOP,
        Argument("record_eval", "false", "also start the recorder so ~/run can record rollouts", TRUE_FALSE),
        Argument("bag_dir", "bags/eval", "where the recorder writes evaluation bags"),
        Argument("task", "", "default task prompt given to the policy"),
        Argument(
            "hub_paths",
            "",
            "comma-separated hub_id=local_dir for the Hub models the checkpoint names (offline VLA deployment)",
        ),
        Argument("device", "auto", "torch device for the policy", ("auto", "cpu", "cuda")),
        Argument(
            "torch_threads", "0", "CPU threads of the policy's model process; 0 = torch's default (all cores)", kind=int
        ),
        Argument(
            "dry_run",
            "false",
            "publish chunks only to ~/action_chunk_preview, never to the driver",
            TRUE_FALSE,
        ),
        Argument(
            "blend_mode",
            "crossfade",
            "how a new chunk joins the rest of the previous plan (ensemble: ACT's temporal ensemble; "
            "rtc: LeRobot's Real-Time Chunking, flow-matching policies)",
            ("none", "crossfade", "ensemble", "rtc"),
        ),
        CONFIG,
    ),
    build=_build_infer,
)


# --- record ------------------------------------------------------------------


def _build_record(args: dict[str, object]) -> list[NodeSpec]:
    noise = args["tracking_noise"]
    mock = {"mock_tracking_noise": noise, "mock_seed": args["seed"]} if args["backend"] == "mock" and noise else {}
    nodes = [_driver(args, mock), *_cameras(args), *_teleop(args), _recorder(args, {"output_dir": args["bag_dir"]})]
    if _is_true(args["stroke_demo"]):
        nodes.append(
            NodeSpec(
                "tatbot_recorder",
                "stroke_demo",
                "stroke_demo",
                parameters={
                    "config": args["config"],
                    "episodes": args["episodes"],
                    "seed": args["seed"],
                },
                required=True,
            )
        )
    return nodes + _rviz(args)


RECORD = SystemDescription(
    name="record",
    description="record demonstrations: driver, cameras, recorder and optionally scripted strokes",
    arguments=(
        BACKEND,
        CAMERAS,
        *SIM_CAMERA_SIZE,
        RVIZ,
        TELEOP,
        Argument("stroke_demo", "false", "run the stroke_demo node (one episode per stroke pair)", TRUE_FALSE),
        Argument("episodes", "20", "number of stroke pairs stroke_demo records", kind=int),
        Argument(
            "seed", "0", "seed of stroke_demo's stroke generator (and of the mock arms' tracking error)", kind=int
        ),
        Argument(
            "tracking_noise",
            "0",
            "mock arms: std of a smooth random tracking error, rad (0: exact); demonstrations with a few mrad "
            "teach a policy to correct its errors",
            kind=float,
        ),
        Argument("bag_dir", "bags/demo", "where the recorder writes bags"),
        CONFIG,
    ),
    build=_build_record,
)


# --- sim ---------------------------------------------------------------------


def _build_sim(args: dict[str, object]) -> list[NodeSpec]:
    from tatbot_bringup.robot_config import load_robot_config

    cfg = load_robot_config(args["config"] or None)
    nodes = [
        NodeSpec(
            "trossen_arm_sim",
            "trossen-arm-sim",
            f"trossen_arm_sim_{arm.name}",
            command=("trossen-arm-sim", "--host", arm.sim_host, "--ws-port", str(arm.sim_ws_port)),
        )
        for arm in cfg.arms
    ]
    nodes.append(
        NodeSpec(
            "tatbot_arm_driver",
            "arm_driver",
            "arm_driver",
            parameters={"backend": "trossen", "config": args["config"], "trossen_use_sim": True},
        )
    )
    return nodes + _cameras(args) + _rviz(args)


SIM = SystemDescription(
    name="sim",
    description="trossen-arm-sim servers (one per arm) and the driver on the trossen backend",
    arguments=(CAMERAS, *SIM_CAMERA_SIZE, RVIZ, CONFIG),
    build=_build_sim,
)

SYSTEMS = {s.name: s for s in (INFER, RECORD, SIM)}
