"""Turn a system description into ROS 2 launch actions (used by launch/*.launch.py).

Imports ``launch`` and ``launch_ros``, so it is only used on a ROS 2 distro;
the decisions themselves live in tatbot_bringup.system (pure, tested without launch).
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, Shutdown
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from tatbot_bringup.system import NodeSpec, SystemDescription


def declare_arguments(system: SystemDescription) -> list[DeclareLaunchArgument]:
    return [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description, choices=a.choices)
        for a in system.arguments
    ]


def _resolve_share(arguments: tuple[str, ...], context) -> list[str]:
    """Replace '{share:pkg}' in arguments with the package's share directory."""
    out = []
    for arg in arguments:
        if arg.startswith("{share:"):
            pkg, rest = arg[len("{share:") :].split("}", 1)
            arg = FindPackageShare(pkg).perform(context) + rest
        out.append(arg)
    return out


def to_action(node: NodeSpec, context):
    on_exit = Shutdown() if node.required else None
    if node.command:
        return ExecuteProcess(cmd=list(node.command), name=node.name, output="screen", on_exit=on_exit)
    return Node(
        package=node.package,
        executable=node.executable,
        name=node.name,
        parameters=[dict(node.parameters)] if node.parameters else [],
        remappings=list(node.remappings),
        arguments=_resolve_share(node.arguments, context),
        output="screen",
        on_exit=on_exit,
    )


def launch_system(system: SystemDescription) -> list:
    """Launch entities: the declared arguments, then an OpaqueFunction that builds the nodes."""

    def build(context, *args, **kwargs):
        values = {a.name: context.launch_configurations[a.name] for a in system.arguments}
        return [to_action(node, context) for node in system.nodes(values)]

    return [*declare_arguments(system), OpaqueFunction(function=build)]
