"""tatbot_bringup.parameters on real rclpy nodes: declarations, one-line errors, changes by `when`,
and the --help text."""

from __future__ import annotations

import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter

from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_help, help_text

pytestmark = pytest.mark.ros

SCHEMA = (
    Param("rate", 10.0, "loop rate, Hz", 0.5, 100.0),
    Param("mode", "fast", "how to run", choices=("fast", "safe")),
    Param("device", "cpu", "torch device", choices=("cpu", "cuda"), pattern=r"cuda:\d+", when="configure"),
    Param("count", 3, "how many", 1, 10, when="live"),
    Param("names", ["a"], "some names", when="live"),
)


def make_node(ros_context, overrides=(), configurable=None):
    node = Node("params_test", context=ros_context, parameter_overrides=list(overrides))
    try:
        return node, declare(node, SCHEMA, configurable)
    except ParameterError:
        node.destroy_node()
        raise


def test_declare_returns_the_values_and_describes_them(ros_context):
    node, values = make_node(ros_context, [Parameter("count", value=5), Parameter("device", value="cuda:1")])
    try:
        assert values == {"rate": 10.0, "mode": "fast", "device": "cuda:1", "count": 5, "names": ["a"]}
        descriptor = node.describe_parameter("rate")
        assert descriptor.read_only and descriptor.floating_point_range[0].to_value == 100.0
        assert descriptor.description == "loop rate, Hz [0.5, 100]"
        assert not node.describe_parameter("count").read_only
        assert node.describe_parameter("count").integer_range[0].from_value == 1
        assert "(one of: fast, safe)" in node.describe_parameter("mode").description
    finally:
        node.destroy_node()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (Parameter("rate", value=-5.0), r"^parameter rate:=-5.0 is out of its range \[0.5, 100\] \(loop rate, Hz\)$"),
        (Parameter("rate", value=5), r"^parameter rate:=5 has the wrong type \(integer\): it takes a float"),
        (Parameter("count", value="abc"), r"^parameter count:=abc has the wrong type \(string\): it takes an integer$"),
        (Parameter("mode", value="slow"), r"^parameter mode:='slow' is not allowed: use one of fast, safe$"),
        (Parameter("device", value="cuda:x"), r"use one of cpu, cuda \(or matching cuda:\\d\+\)$"),
    ],
)
def test_a_bad_start_value_is_one_line_naming_it(ros_context, override, message):
    with pytest.raises(ParameterError, match=message) as error:
        make_node(ros_context, [override])
    assert "\n" not in str(error.value)


def test_changes_follow_when_the_parameter_is_read(ros_context):
    configured = False
    node, _ = make_node(ros_context, configurable=lambda: not configured)
    try:
        # start: read-only; live: any time, within its choices and range
        assert not node.set_parameters([Parameter("rate", value=20.0)])[0].successful
        assert node.set_parameters([Parameter("count", value=7)])[0].successful
        assert not node.set_parameters([Parameter("count", value=70)])[0].successful
        # configure: while unconfigured only, and only to an allowed value
        assert node.set_parameters([Parameter("device", value="cuda")])[0].successful
        bad = node.set_parameters([Parameter("device", value="tpu")])[0]
        assert not bad.successful and "use one of cpu, cuda" in bad.reason
        configured = True
        late = node.set_parameters([Parameter("device", value="cpu")])[0]
        assert not late.successful and "read at configure" in late.reason
        assert node.get_parameter("device").value == "cuda"
        assert node.set_parameters([Parameter("count", value=2)])[0].successful
    finally:
        node.destroy_node()


def test_problem_checks_type_range_and_choices_without_rclpy():
    rate, mode = SCHEMA[0], SCHEMA[1]
    assert rate.problem(5.0) is None and mode.problem("safe") is None
    assert "wrong type: it takes a float" in rate.problem(5)  # rclpy refuses an int for a double too
    assert "wrong type" in rate.problem(True)
    assert "out of its range [0.5, 100]" in rate.problem(500.0)
    assert "use one of fast, safe" in mode.problem("slow")
    with pytest.raises(ValueError, match="both low and high"):
        Param("half", 1.0, "a range with one end", low=0.0)


def test_help_lists_every_parameter_and_exits_before_ros_starts(capsys):
    text = help_text("pkg exe", "does things.", SCHEMA)
    assert text.startswith("usage: ros2 run pkg exe")
    for p in SCHEMA:
        assert p.name in text and p.summary() in text
    with pytest.raises(SystemExit) as done:
        exit_on_help(["--help"], "pkg exe", "does things.", lambda: SCHEMA)
    assert done.value.code == 0 and "rate" in capsys.readouterr().out
    # -h after --ros-args belongs to ROS: no help, no exit
    exit_on_help(["--ros-args", "-p", "rate:=1.0"], "pkg exe", "", lambda: SCHEMA)
    assert capsys.readouterr().out == ""
