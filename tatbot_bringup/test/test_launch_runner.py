"""./tatbot launch's runner: output prefixes, clean Ctrl-C, exit code when a node dies."""

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tatbot_bringup.launch_runner import LaunchError, Runner, node_command
from tatbot_bringup.system import NodeSpec
from tatbot_testing.waiting import wait_until

pytestmark = pytest.mark.ros

PY = sys.executable


def _proc(name, code, required=False):
    return NodeSpec("none", "none", name, command=(PY, "-c", code), required=required)


SLEEPER = "import signal, sys, time\nprint('up', flush=True)\nwhile True: time.sleep(0.05)"


def test_node_command_passes_name_parameters_and_remappings(tmp_path):
    node = NodeSpec(
        "tatbot_arm_driver",
        "arm_driver",
        "my_node",
        parameters={"rate": 10.0, "names": ["a", "b"]},
        remappings=(("/joint_states", "/sim/joint_states"),),
    )
    cmd = node_command(node, tmp_path)
    assert cmd[0].endswith("/tatbot_arm_driver/lib/tatbot_arm_driver/arm_driver")  # in install or install-jazzy
    assert cmd[cmd.index("--ros-args") + 1 : cmd.index("--ros-args") + 3] == ["-r", "__node:=my_node"]
    params = yaml.safe_load(Path(cmd[cmd.index("--params-file") + 1]).read_text())
    assert params == {"/**": {"ros__parameters": {"rate": 10.0, "names": ["a", "b"]}}}
    assert cmd[-2:] == ["-r", "/joint_states:=/sim/joint_states"]


def test_unknown_package_and_executable_are_named(tmp_path):
    with pytest.raises(LaunchError, match="package 'no_such_pkg' is not installed"):
        node_command(NodeSpec("no_such_pkg", "x", "x"), tmp_path)
    with pytest.raises(LaunchError, match="command 'no-such-program' not found"):
        node_command(NodeSpec("x", "x", "x", command=("no-such-program",)), tmp_path)


def test_output_is_prefixed_and_a_dying_node_stops_the_rest(tmp_path):
    out = io.StringIO()
    runner = Runner([_proc("sleeper", SLEEPER), _proc("crasher", "print('bye'); raise SystemExit(3)")], out=out)
    runner.start(tmp_path)
    assert runner.wait() == 1
    text = out.getvalue()
    assert "[crasher] bye" in text
    assert "crasher died with exit code 3" in text
    assert all(p.poll() is not None for p in runner.procs.values())


def test_required_node_finishing_shuts_down_with_success(tmp_path):
    out = io.StringIO()
    runner = Runner([_proc("sleeper", SLEEPER), _proc("demo", "print('done')", required=True)], out=out)
    runner.start(tmp_path)
    assert runner.wait() == 0
    assert "demo finished: shutting down" in out.getvalue()
    assert runner.procs["sleeper"].poll() is not None


def test_ctrl_c_stops_every_node_cleanly():
    """The real CLI in a subprocess: SIGINT → every node gets SIGINT and the launcher exits 0."""
    script = (
        "import sys\n"
        "from tatbot_bringup import launch_runner as lr\n"
        "from tatbot_bringup.system import SystemDescription, NodeSpec\n"
        f"code = {SLEEPER!r}\n"
        "nodes = [NodeSpec('none','none',f'n{i}', command=(sys.executable,'-c',code)) for i in range(3)]\n"
        "sys.exit(lr.run(SystemDescription('t','test',(),lambda a: nodes), {}))\n"
    )
    proc = subprocess.Popen([PY, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 30
    while sum("] up" in line for line in lines) < 3 and time.monotonic() < deadline:
        lines.append(proc.stdout.readline())
    assert sum("] up" in line for line in lines) == 3, lines
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert "received SIGINT: stopping all nodes" in rest
    wait_until(lambda: proc.poll() is not None, 5, "launcher exit")
