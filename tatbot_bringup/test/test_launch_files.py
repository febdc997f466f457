"""The real ROS 2 launch files describe exactly what tatbot_bringup.system describes.

Needs ``launch`` and ``launch_ros`` (a sourced ROS 2 distro); skipped otherwise.
"""

from pathlib import Path

import pytest

from tatbot_bringup.system import SYSTEMS

pytestmark = pytest.mark.distro

LAUNCH_DIR = Path(__file__).resolve().parents[1] / "launch"


def _load(name):
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    source = PythonLaunchDescriptionSource(str(LAUNCH_DIR / f"{name}.launch.py"))
    return source.get_launch_description(LaunchContext())


def _expand(description, overrides):
    """Run the argument declarations and the OpaqueFunction like `ros2 launch` would."""
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    context = LaunchContext()
    context.launch_configurations.update(overrides)
    actions = []
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.visit(context)
        elif isinstance(entity, OpaqueFunction):
            actions += entity.execute(context) or []
    return actions


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_arguments_match_the_system_description(name):
    from launch import LaunchContext
    from launch.utilities import perform_substitutions

    declared = {a.name: a for a in _load(name).get_launch_arguments()}
    system = SYSTEMS[name]
    assert set(declared) == {a.name for a in system.arguments}
    for arg in system.arguments:
        launch_arg = declared[arg.name]
        assert launch_arg.description.startswith(arg.description)  # launch appends the valid choices
        assert perform_substitutions(LaunchContext(), launch_arg.default_value) == arg.default
        assert (tuple(launch_arg.choices) if launch_arg.choices else None) == arg.choices


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("infer", {"checkpoint": "/ckpt", "record_eval": "true"}),
        ("infer", {"cameras": "none", "dry_run": "true"}),
        ("record", {"stroke_demo": "true", "episodes": "3"}),
        ("sim", {"cameras": "sim"}),
    ],
)
def test_launch_actions_match_the_system_description(name, overrides):
    from launch.actions import ExecuteProcess
    from launch_ros.actions import Node

    actions = _expand(_load(name), overrides)
    expected = SYSTEMS[name].nodes(overrides)
    assert len(actions) == len(expected)
    for action, spec in zip(actions, expected, strict=True):
        if spec.command:
            assert isinstance(action, ExecuteProcess)
            continue
        assert isinstance(action, Node)
        assert (action.node_package, action.node_executable) == (spec.package, spec.executable)
        assert action._Node__node_name == spec.name
