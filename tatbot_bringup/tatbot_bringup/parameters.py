"""Node parameters as data: each node lists its parameters once (:class:`Param`), and that list
gives the declarations (type, range, choices, read-only), the one-line errors for bad values at
start and at ``ros2 param set``, and the node's ``--help``.

When a parameter is read decides whether it may change (``when``):

- ``start``: read once when the node starts (topics, rates): read-only afterwards;
- ``configure``: read by a lifecycle node's configure: settable only while it is unconfigured
  (the new value would otherwise be ignored);
- ``live``: read every time it is used: settable at any time.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

WHEN = ("start", "configure", "live")
HELP_FLAGS = ("-h", "--help")
USAGE_ERROR = 2  # exit status of a node started with a bad parameter value (as argparse's)


class ParameterError(ValueError):
    """A parameter value a node cannot use; the message is one line naming it and what to do."""


@dataclass(frozen=True)
class Param:
    name: str
    default: bool | int | float | str | list[str] | Parameter.Type  # a Type: no default (unset)
    description: str
    low: float | None = None  # numbers: inclusive range
    high: float | None = None
    choices: tuple[str, ...] = ()  # strings: allowed values ...
    pattern: str = ""  # ... or a regular expression they must match in full (with or instead of choices)
    when: str = "start"

    def __post_init__(self):
        if self.when not in WHEN:
            raise ValueError(f"Param {self.name}: when must be one of {WHEN}, not {self.when!r}")
        if (self.low is None) != (self.high is None):
            raise ValueError(f"Param {self.name}: give both low and high, or neither")

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(description=self.summary(), read_only=self.when == "start")
        if self.low is not None:  # and so high (__post_init__)
            if isinstance(self.default, bool) or not isinstance(self.default, int | float):
                raise ValueError(f"Param {self.name}: a range needs a numeric default")
            if isinstance(self.default, int):
                descriptor.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(from_value=self.low, to_value=self.high)]
        return descriptor

    def summary(self) -> str:
        """The description with the allowed values, as ``ros2 param describe`` and --help show it."""
        text = self.description
        if self.choices:
            text += f" (one of: {', '.join(self.choices)})"
        if self.low is not None:
            text += f" [{self.low:g}, {self.high:g}]"
        return text

    def out_of_range(self, value: Any) -> str:
        return f"parameter {self.name}:={value} is out of its range [{self.low:g}, {self.high:g}] ({self.description})"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (None when it is): its type, range and choices. rclpy checks
        type and range of declared parameters itself; a launch description is checked with this."""
        if not _has_type(value, self.default):
            return f"parameter {self.name}:={value!r} has the wrong type: it takes {type_name(self.default)}"
        if self.low is not None and not self.low <= value <= self.high:
            return self.out_of_range(value)
        if not (self.choices or self.pattern) or value in self.choices:
            return None
        if self.pattern and re.fullmatch(self.pattern, value):
            return None
        allowed = ", ".join(self.choices) + (f" (or matching {self.pattern})" if self.pattern else "")
        return f"parameter {self.name}:={value!r} is not allowed: use one of {allowed}"


def _has_type(value: Any, default: Any) -> bool:
    if isinstance(default, Parameter.Type):  # an IntEnum: before int; unset (None) is allowed
        return value is None or isinstance(value, list | tuple)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):  # rclpy's static typing refuses an int for a double
        return isinstance(value, float)
    if isinstance(default, list):
        return isinstance(value, list | tuple)
    return isinstance(value, str)


def declare(node: Node, params: Sequence[Param], configurable: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Declare ``params`` on ``node``, check their values and return them by name; a bad value raises
    :class:`ParameterError` naming it. Later changes are checked too: ``choices``, and ``when``
    (``configurable()`` tells a lifecycle node's ``configure`` parameters whether it is unconfigured)."""
    by_name = {p.name: p for p in params}
    values = {}
    for p in params:
        try:
            value = node.declare_parameter(p.name, p.default, p.descriptor()).value
        except InvalidParameterTypeException as exc:
            given = re.search(r"to '(.*)' of type '(\w+)'", str(exc))
            what = f":={given[1]} has the wrong type ({given[2].lower()})" if given else ""
            raise ParameterError(f"parameter {p.name}{what}: it takes {type_name(p.default)}") from None
        except InvalidParameterValueException as exc:
            given = re.search(r"value: ([^\s:]+)", str(exc))
            raise ParameterError(p.out_of_range(given[1] if given else "?")) from None
        problem = p.problem(value)
        if problem:
            raise ParameterError(problem)
        values[p.name] = value

    def on_set(changes) -> SetParametersResult:
        for change in changes:
            p = by_name.get(change.name)
            if p is None:
                continue
            problem = p.problem(change.value)
            if problem is None and p.when == "configure" and configurable is not None and not configurable():
                problem = f"parameter {p.name} is read at configure: deactivate and clean up the node first"
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return values


def type_name(default: Any) -> str:
    """The parameter type of ``default`` as a user writes it, with an article."""
    if isinstance(default, bool):
        return "a boolean (true or false)"
    if isinstance(default, int) and not isinstance(default, Parameter.Type):  # the Type is an IntEnum
        return "an integer"
    if isinstance(default, float):
        return "a float (write 5.0, not 5)"
    if isinstance(default, list) and default and isinstance(default[0], float):
        return "a list of floats (e.g. [0.001, 0.002])"
    if isinstance(default, list | Parameter.Type):  # a Type: an unset string array
        return "a list of strings (e.g. \"['a', 'b']\")"
    return "a string"


def help_text(executable: str, summary: str, params: Iterable[Param]) -> str:
    """What ``<executable> --help`` prints: how to run it, what it does, its parameters."""
    params = list(params)
    width = max((len(p.name) for p in params), default=0)
    lines = [
        f"usage: ros2 run {executable} [--ros-args -p NAME:=VALUE ...]",
        f"       (without a distro: ./tatbot run {executable} ...)",
        "",
        summary.strip(),
        "",
        "parameters (default; when it may change):",
    ]
    for p in params:
        default = "unset" if isinstance(p.default, Parameter.Type) else repr(p.default)
        lines.append(f"  {p.name:<{width}}  {default}; {p.when}")
        lines.append(f"  {'':<{width}}  {p.summary()}")
    return "\n".join(lines)


def exit_on_help(args: Sequence[str] | None, executable: str, summary: str, params: Callable[[], Iterable[Param]]):
    """In a node's main(): with -h/--help before any --ros-args, print :func:`help_text` and exit 0
    before rclpy starts (so nothing is created, connected or moved)."""
    argv = list(sys.argv[1:] if args is None else args)
    own = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if any(flag in own for flag in HELP_FLAGS):
        print(help_text(executable, summary, params()))
        sys.exit(0)


def exit_on_error(executable: str, exc: Exception) -> int:
    """In a node's main(): print a start-up error as one line and return USAGE_ERROR."""
    print(f"{executable}: error: {exc}", file=sys.stderr)
    return USAGE_ERROR
