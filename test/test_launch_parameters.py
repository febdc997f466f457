"""Every parameter a system description passes to one of our nodes is one that node declares.

rclpy ignores parameter overrides a node never declares, so a misspelled launch parameter (the
sim system once passed ``use_sim_hosts`` to a driver that declares ``trossen_use_sim``, and the
"simulated" arms talked to the real arm addresses) would otherwise start silently. Each system is
built for its defaults and for every choice of every argument; each of our nodes is then
constructed (not configured) with the parameters it was given, which also checks their types.
"""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter

from tatbot_arm_driver.arm_driver_node import ArmDriverNode
from tatbot_arm_driver.sim_camera_node import SimCameraNode
from tatbot_arm_driver.sim_operator_node import SimOperatorNode
from tatbot_arm_driver.teleop_node import TeleopNode
from tatbot_bringup.system import SYSTEMS
from tatbot_recorder.recorder_node import Recorder
from tatbot_recorder.stroke_demo_node import StrokeDemo
from tatbot_vla_policy.vla_policy_node import VlaPolicyNode

pytestmark = pytest.mark.ros

NODE_CLASSES = {
    ("tatbot_arm_driver", "arm_driver"): ArmDriverNode,
    ("tatbot_arm_driver", "sim_camera"): SimCameraNode,
    ("tatbot_arm_driver", "teleop"): TeleopNode,
    ("tatbot_arm_driver", "sim_operator"): SimOperatorNode,
    ("tatbot_recorder", "recorder"): Recorder,
    ("tatbot_recorder", "stroke_demo"): StrokeDemo,
    ("tatbot_vla_policy", "vla_policy"): VlaPolicyNode,
}
# values that change which parameters a system passes, beyond the arguments' choices
EXTRA_VALUES = {"tracking_noise": "0.003"}


def variants(system):
    yield {}
    for arg in system.arguments:
        for value in arg.choices or ((EXTRA_VALUES[arg.name],) if arg.name in EXTRA_VALUES else ()):
            yield {arg.name: value}


def passed_parameters() -> list[tuple[str, tuple[str, str], dict]]:
    """(where, (package, executable), parameters) for each of our nodes in every variant."""
    out = []
    for system in SYSTEMS.values():
        for given in variants(system):
            for spec in system.nodes(given):
                if spec.needs_distro or spec.command is not None:
                    continue
                where = f"{system.name} {' '.join(f'{k}:={v}' for k, v in given.items()) or '(defaults)'}: {spec.name}"
                out.append((where, (spec.package, spec.executable), dict(spec.parameters)))
    return out


def test_every_node_a_system_starts_is_checked():
    started = {key for _, key, _ in passed_parameters()}
    assert started <= set(NODE_CLASSES), f"add these nodes to NODE_CLASSES: {sorted(started - set(NODE_CLASSES))}"


@pytest.mark.parametrize("key", sorted(NODE_CLASSES), ids=lambda k: k[1])
def test_launch_parameters_are_declared_by_the_node(key, ros_context, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nodes that write relative paths write them here
    given = [(where, params) for where, k, params in passed_parameters() if k == key]
    assert given, f"no system starts {key}"
    names = sorted({name for _, params in given for name in params})
    values = {name: value for _, params in given for name, value in params.items()}
    overrides = [Parameter(name, value=value) for name, value in values.items()]
    if key[1] in ("arm_driver", "vla_policy"):
        overrides.append(Parameter("autostart", value=False))  # declare only: no arms, no model
    node = NODE_CLASSES[key](context=ros_context, parameter_overrides=overrides)
    try:
        undeclared = [name for name in names if not node.has_parameter(name)]
        where = {name: next(w for w, params in given if name in params) for name in undeclared}
        assert not undeclared, f"passed but not declared by {key[1]}: {where}"
        for name, value in values.items():  # the node took the value (types match its declaration)
            assert node.get_parameter(name).value == value, name
    finally:
        node.destroy_node()
