"""The ``ros2`` command-line verbs the READMEs use, for machines without a ROS distro.

PyPI has rclpy but not ros2cli, so ``./tatbot`` spells these few verbs with rclpy, with the
arguments and YAML values of their ``ros2`` twins::

    ./tatbot topic list | echo TOPIC [--once] | hz TOPIC [--window N]
    ./tatbot param get NODE NAME | set NODE NAME VALUE
    ./tatbot service call SERVICE TYPE [YAML]
    ./tatbot action send_goal ACTION TYPE YAML
    ./tatbot lifecycle get NODE | set NODE TRANSITION

With a distro, use ``ros2`` itself.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

import yaml

WAIT_S = 10.0  # how long a verb waits for its service, action server or first message


class CliError(RuntimeError):
    """What the user asked for cannot be done; the message says why."""


def interface(name: str, kind: str):
    """``pkg/msg/Name`` (or ``pkg/Name``) -> the Python class; ``kind`` is msg, srv or action."""
    parts = name.split("/")
    if len(parts) == 2:
        parts = [parts[0], kind, parts[1]]
    if len(parts) != 3 or parts[1] != kind:
        raise CliError(f"{name!r} is not a {kind} type: write it as package/{kind}/Name")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{kind}"), parts[2])
    except (ImportError, AttributeError):
        raise CliError(f"unknown {kind} type {name!r} (is its package built and sourced?)") from None


def fill(msg, values: dict | None):
    """Set ``msg``'s fields from a YAML mapping, as ``ros2 ... call/send_goal`` do; returns msg."""
    if values is None:
        return msg
    if not isinstance(values, dict):
        raise CliError(f"expected a YAML mapping of {type(msg).__name__}'s fields, got {values!r}")
    fields = msg.get_fields_and_field_types()
    for key, value in values.items():
        if key not in fields:
            raise CliError(f"{type(msg).__name__} has no field {key!r}; its fields: {sorted(fields)}")
        current = getattr(msg, key)
        if hasattr(current, "get_fields_and_field_types"):
            fill(current, value)
            continue
        element = _sequence_element(fields[key])
        if element is not None:
            value = [fill(element(), v) for v in value]
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(value, list) and ("double" in fields[key] or "float" in fields[key]):  # ints too
            value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        try:
            setattr(msg, key, value)
        except (AssertionError, TypeError, ValueError) as exc:
            raise CliError(f"{type(msg).__name__}.{key}: {value!r} does not fit {fields[key]} ({exc})") from None
    return msg


def _sequence_element(field_type: str):
    """The message class of a ``sequence<pkg/Name>`` or ``pkg/Name[N]`` field, else None."""
    inner = field_type.removeprefix("sequence<").split(",")[0].rstrip(">").split("[")[0]
    if "/" not in inner or inner == field_type:
        return None
    package, name = inner.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def to_python(msg) -> Any:
    """A message as plain data (for YAML), as ``ros2 topic echo`` prints it."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {key: to_python(getattr(msg, key)) for key in msg.get_fields_and_field_types()}
    if isinstance(msg, list | tuple):
        return [to_python(v) for v in msg]
    if hasattr(msg, "tolist"):  # numpy and array.array fields
        return msg.tolist()
    return msg


def dump(msg) -> str:
    return yaml.safe_dump(to_python(msg), sort_keys=False, default_flow_style=None).rstrip() + "\n---"


def parse_yaml(text: str | None):
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError(f"invalid YAML {text!r}: {exc}") from None


def wait(future, what: str, node, timeout: float = WAIT_S):
    import rclpy

    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    if not future.done():
        raise CliError(f"no answer from {what} within {timeout:g} s")
    return future.result()


def call(node, srv_type, name: str, request):
    client = node.create_client(srv_type, name)
    if not client.wait_for_service(timeout_sec=WAIT_S):
        raise CliError(f"service {name} is not available (is the node running? ./tatbot run ...)")
    return wait(client.call_async(request), f"service {name}", node)


# --- verbs --------------------------------------------------------------------------------------


def topic_list(node, args) -> None:
    time.sleep(2.0)  # discovery
    for name, types in sorted(node.get_topic_names_and_types()):
        print(f"{name} [{', '.join(types)}]" if args.show_types else name)


def _subscribe(node, topic: str, on_message: Callable) -> None:
    """Subscribe with a QoS every publisher matches: best effort, and transient local when a
    publisher is latched (the stencil, episode events) so that its last message arrives too."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        types = dict(node.get_topic_names_and_types()).get(topic)
        publishers = node.get_publishers_info_by_topic(topic)
        if types and publishers:
            latched = all(p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers)
            profile = QoSProfile(
                depth=10,
                reliability=ReliabilityPolicy.RELIABLE if latched else ReliabilityPolicy.BEST_EFFORT,
                durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
            )
            node.create_subscription(interface(types[0], "msg"), topic, on_message, profile)
            return
        time.sleep(0.1)
    raise CliError(f"no publisher of {topic} within {WAIT_S:g} s (./tatbot topic list shows what there is)")


def topic_echo(node, args) -> None:
    import rclpy

    seen = []

    def on_message(msg) -> None:
        print(dump(msg), flush=True)
        seen.append(1)

    _subscribe(node, args.topic, on_message)
    while rclpy.ok() and not (args.once and seen):
        rclpy.spin_once(node, timeout_sec=0.1)


def topic_hz(node, args) -> None:
    import rclpy

    stamps: list[float] = []
    _subscribe(node, args.topic, lambda _msg: stamps.append(time.monotonic()))
    last_print = time.monotonic()
    while rclpy.ok():
        rclpy.spin_once(node, timeout_sec=0.1)
        if time.monotonic() - last_print >= 1.0 and len(stamps) > 1:
            window = stamps[-args.window :]
            print(f"average rate: {(len(window) - 1) / (window[-1] - window[0]):.3f} Hz ({len(window)} messages)")
            last_print = time.monotonic()
            if args.once:
                return


def param_get(node, args) -> None:
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    result = call(node, GetParameters, f"{args.node}/get_parameters", GetParameters.Request(names=[args.name]))
    if not result.values or result.values[0].type == 0:
        raise CliError(f"{args.node} has no parameter {args.name!r}")
    print(f"{args.name}: {parameter_value_to_python(result.values[0])!r}")


def param_set(node, args) -> None:
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import get_parameter_value, parameter_value_to_python

    value = get_parameter_value(args.value)  # the YAML rules of ros2 param set ("" stays a string)
    request = SetParameters.Request(parameters=[ParameterMsg(name=args.name, value=value)])
    result = call(node, SetParameters, f"{args.node}/set_parameters", request).results[0]
    if not result.successful:
        raise CliError(f"setting {args.name} failed: {result.reason}")
    print(f"set {args.name} = {parameter_value_to_python(value)!r}")


def service_call(node, args) -> None:
    srv = interface(args.type, "srv")
    request = fill(srv.Request(), parse_yaml(args.values))
    print(f"requester: making request: {dump(request)}")
    print(f"response:\n{dump(call(node, srv, args.service, request))}")


def action_send_goal(node, args) -> None:
    from rclpy.action import ActionClient

    action = interface(args.type, "action")
    goal = fill(action.Goal(), parse_yaml(args.goal))
    client = ActionClient(node, action, args.action)
    if not client.wait_for_server(timeout_sec=WAIT_S):
        raise CliError(f"action server {args.action} is not available (is the node running and active?)")
    print(f"sending goal: {dump(goal)}")
    feedback = _print_feedback if args.feedback else None
    handle = wait(client.send_goal_async(goal, feedback_callback=feedback), f"action {args.action}", node)
    if not handle.accepted:
        raise CliError(f"goal rejected by {args.action}")
    print("goal accepted; waiting for the result (Ctrl-C cancels)")
    try:
        result = wait(handle.get_result_async(), f"action {args.action}", node, timeout=1e9)
    except KeyboardInterrupt:
        wait(handle.cancel_goal_async(), f"action {args.action} (cancel)", node)
        raise
    print(f"result (status {result.status}):\n{dump(result.result)}")


def _print_feedback(feedback) -> None:
    print(f"feedback:\n{dump(feedback.feedback)}", flush=True)


def lifecycle_get(node, args) -> None:
    from lifecycle_msgs.srv import GetState

    state = call(node, GetState, f"{args.node}/get_state", GetState.Request()).current_state
    print(f"{state.label} [{state.id}]")


def lifecycle_set(node, args) -> None:
    from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions

    available = call(
        node, GetAvailableTransitions, f"{args.node}/get_available_transitions", GetAvailableTransitions.Request()
    ).available_transitions
    by_label = {t.transition.label: t.transition for t in available}  # configure, activate, ..., shutdown
    if args.transition not in by_label:
        raise CliError(f"{args.node} cannot {args.transition!r} now; available: {sorted(by_label)}")
    request = ChangeState.Request(transition=by_label[args.transition])
    if not call(node, ChangeState, f"{args.node}/change_state", request).success:
        raise CliError(f"transition {args.transition} of {args.node} failed (see the node's log)")
    print("Transitioning successful")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="./tatbot", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    groups = parser.add_subparsers(dest="group", required=True)

    topic = groups.add_parser("topic", help="list, echo or measure topics").add_subparsers(dest="verb", required=True)
    p = topic.add_parser("list", help="topics in the graph")
    p.add_argument("-t", "--show-types", action="store_true")
    p.set_defaults(run=topic_list)
    p = topic.add_parser("echo", help="print a topic's messages as YAML")
    p.add_argument("topic")
    p.add_argument("--once", action="store_true", help="print one message and exit")
    p.set_defaults(run=topic_echo)
    p = topic.add_parser("hz", help="a topic's message rate")
    p.add_argument("topic")
    p.add_argument("-w", "--window", type=int, default=100, help="messages averaged (default 100)")
    p.add_argument("--once", action="store_true", help="print one rate and exit")
    p.set_defaults(run=topic_hz)

    param = groups.add_parser("param", help="get or set a node's parameter").add_subparsers(dest="verb", required=True)
    p = param.add_parser("get")
    p.add_argument("node", help="e.g. /vla_policy")
    p.add_argument("name")
    p.set_defaults(run=param_get)
    p = param.add_parser("set")
    p.add_argument("node")
    p.add_argument("name")
    p.add_argument("value", help="YAML: 0.5, true, cpu, \"['a', 'b']\"")
    p.set_defaults(run=param_set)

    service = groups.add_parser("service", help="call a service").add_subparsers(dest="verb", required=True)
    p = service.add_parser("call")
    p.add_argument("service", help="e.g. /arm_driver/hold")
    p.add_argument("type", help="e.g. std_srvs/srv/Trigger")
    p.add_argument("values", nargs="?", help='the request\'s fields as YAML, e.g. "{name: ready}"')
    p.set_defaults(run=service_call)

    action = groups.add_parser("action", help="send an action goal").add_subparsers(dest="verb", required=True)
    p = action.add_parser("send_goal")
    p.add_argument("action", help="e.g. /vla_policy/run")
    p.add_argument("type", help="e.g. tatbot_interfaces/action/RunPolicy")
    p.add_argument("goal", help='the goal\'s fields as YAML, e.g. "{task: draw, max_steps: 100}"')
    p.add_argument("-f", "--feedback", action="store_true", help="print feedback")
    p.set_defaults(run=action_send_goal)

    lifecycle = groups.add_parser("lifecycle", help="a lifecycle node's state").add_subparsers(
        dest="verb", required=True
    )
    p = lifecycle.add_parser("get")
    p.add_argument("node")
    p.set_defaults(run=lifecycle_get)
    p = lifecycle.add_parser("set")
    p.add_argument("node")
    p.add_argument("transition", help="configure, activate, deactivate, cleanup or shutdown")
    p.set_defaults(run=lifecycle_set)
    return parser


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    args = build_parser().parse_args(argv)
    # no rclpy signal handler: Ctrl-C must leave the context up, so that send_goal can cancel its goal
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(f"tatbot_cli_{args.group}_{args.verb}_{int(time.time() * 1e3) % 100000}")
    try:
        args.run(node, args)
    except CliError as exc:
        print(f"tatbot {args.group} {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`
        sys.stderr.close()
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
