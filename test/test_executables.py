"""Every executable as a user first meets it: it is in the README's table, ``--help`` explains it
and starts nothing; a node given a bad parameter value ends at once with one line naming the
parameter (exit status 2)."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path

import pytest

from tatbot_bringup.launch_runner import find_executable
from tatbot_bringup.system import NODE_MODULES

pytestmark = pytest.mark.ros

EXECUTABLES = NODE_MODULES  # (package, executable) of every node -> its module (with schema())
# one bad value per executable, and the start of the line that must name it
BAD_VALUES = {
    "arm_driver": ("rate:=-5.0", "parameter rate:=-5.0 is out of its range [0, 1000]"),
    "sim_camera": ("width:=-5", "parameter width:=-5 is out of its range [0, 4096]"),
    "teleop": ("max_depth:=0.5", "parameter max_depth:=0.5 is out of its range [0, 0.01]"),
    "sim_operator": ("rate:=0.0", "parameter rate:=0.0 is out of its range [1, 200]"),
    "recorder": ("storage:=zip", "parameter storage:='zip' is not allowed: use one of mcap, sqlite3"),
    "stroke_demo": ("episodes:=abc", "parameter episodes:=abc has the wrong type (string): it takes an integer"),
    "vla_policy": ("blend_mode:=foo", "parameter blend_mode:='foo' is not allowed: use one of none, crossfade"),
}
IDS = [exe for _, exe in EXECUTABLES]
ROOT = Path(__file__).resolve().parents[1]


def installed_executables() -> list[tuple[str, str]]:
    """(package, executable) of every console script of every tatbot package, as ./tatbot list."""
    install = find_executable("tatbot_bringup", "demo").parents[3]  # <install>/<pkg>/lib/<pkg>/demo
    found = []
    for package_dir in sorted(install.glob("tatbot_*/lib/tatbot_*")):
        found += [(package_dir.name, f.name) for f in sorted(package_dir.iterdir()) if f.is_file()]
    return found


def test_every_executable_is_in_the_readme_table_and_explains_itself(tmp_path):
    executables = installed_executables()
    assert set(EXECUTABLES) < set(executables)
    readme = (ROOT / "README.md").read_text()
    for package, executable in executables:
        assert f"| `{package} {executable}` |" in readme, f"{package} {executable} is not in README.md's table"
        proc = run(package, executable, "--help", cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith("usage: "), (executable, proc.stderr[-500:])
    assert list(tmp_path.iterdir()) == []


def run(package: str, executable: str, *args: str, cwd) -> subprocess.CompletedProcess:
    command = [str(find_executable(package, executable)), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.parametrize(("package", "executable"), EXECUTABLES, ids=IDS)
def test_help_explains_every_parameter_and_starts_nothing(package, executable, tmp_path):
    proc = run(package, executable, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: ros2 run {package} {executable}")
    for param in importlib.import_module(EXECUTABLES[package, executable]).schema():
        assert f"  {param.name} " in proc.stdout and param.summary() in proc.stdout, param.name
    assert list(tmp_path.iterdir()) == []  # e.g. the recorder made no bags/ folder
    assert "[INFO]" not in proc.stdout + proc.stderr  # no node was created


@pytest.mark.parametrize(("package", "executable"), EXECUTABLES, ids=IDS)
def test_a_bad_parameter_value_is_one_line_and_exit_2(package, executable, tmp_path):
    value, message = BAD_VALUES[executable]
    proc = run(package, executable, "--ros-args", "-p", value, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f"{executable}: error: {message}"), proc.stderr
    assert list(tmp_path.iterdir()) == []
