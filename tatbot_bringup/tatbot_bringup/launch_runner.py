"""``./tatbot launch <system> [name:=value ...]``: run a system description without ROS 2 launch.

The no-distro equivalent of ``ros2 launch tatbot_bringup <system>.launch.py``:
it starts the same processes with the same parameters and remappings, prefixes
every output line with the node name, shuts everything down cleanly on Ctrl-C
(SIGINT, then SIGTERM, then SIGKILL), and exits non-zero if a node dies.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from tatbot_bringup.system import SYSTEMS, LaunchArgumentError, NodeSpec, SystemDescription

STOP_GRACE_S = 10.0


class LaunchError(RuntimeError):
    """The system cannot be started as described (missing executable, needs a distro, ...)."""


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """``["a:=1", "b:=x"]`` → ``{"a": "1", "b": "x"}``, as ``ros2 launch`` takes them."""
    values = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise LaunchArgumentError(f"launch arguments are name:=value, got {item!r}")
        values[name] = value
    return values


def find_executable(package: str, executable: str) -> Path:
    """The installed executable of a package, as ``ros2 run`` finds it."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = Path(get_package_prefix(package))
    except PackageNotFoundError:
        raise LaunchError(f"package {package!r} is not installed (not in AMENT_PREFIX_PATH)") from None
    path = prefix / "lib" / package / executable
    if not os.access(path, os.X_OK):
        raise LaunchError(f"package {package!r} has no executable {executable!r} (looked for {path})")
    return path


def node_command(node: NodeSpec, params_dir: Path) -> list[str]:
    """The command line that starts ``node`` with its name, parameters and remappings."""
    if node.command:
        program = shutil.which(node.command[0])
        if program is None:
            raise LaunchError(f"{node.name}: command {node.command[0]!r} not found on PATH")
        return [program, *node.command[1:]]
    cmd = [
        str(find_executable(node.package, node.executable)),
        *node.arguments,
        "--ros-args",
        "-r",
        f"__node:={node.name}",
    ]
    if node.parameters:
        params_file = params_dir / f"{node.name}.yaml"
        params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(node.parameters)}}))
        cmd += ["--params-file", str(params_file)]
    for source, target in node.remappings:
        cmd += ["-r", f"{source}:={target}"]
    return cmd


class Runner:
    """Starts the processes, relays their output, and stops them together."""

    def __init__(self, nodes: list[NodeSpec], out=sys.stdout):
        self.nodes = nodes
        self.out = out
        self.procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def _relay(self, name: str, stream) -> None:
        for line in stream:
            with self._lock:
                self.out.write(f"[{name}] {line}")
                self.out.flush()

    def start(self, params_dir: Path) -> None:
        for node in self.nodes:
            cmd = node_command(node, params_dir)
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
            self.procs[node.name] = proc
            threading.Thread(target=self._relay, args=(node.name, proc.stdout), daemon=True).start()
            self._say(f"started {node.name} (pid {proc.pid}): {' '.join(cmd)}")

    def _say(self, text: str) -> None:
        with self._lock:
            self.out.write(f"[launch] {text}\n")
            self.out.flush()

    def stop(self) -> None:
        """SIGINT to every running process, then SIGTERM, then SIGKILL, each after a grace period."""
        self._stopping = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in self.procs.values() if p.poll() is None]
            if not alive:
                return
            for proc in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
            deadline = time.monotonic() + STOP_GRACE_S
            while time.monotonic() < deadline and any(p.poll() is None for p in alive):
                time.sleep(0.05)

    def wait(self) -> int:
        """Block until a required node exits, a node dies, or all exit; return the exit code."""
        required = {n.name for n in self.nodes if n.required}
        while True:
            for name, proc in self.procs.items():
                code = proc.poll()
                if code is None:
                    continue
                if code != 0:
                    self._say(f"{name} died with exit code {code}: shutting down")
                    self.stop()
                    return 1
                if name in required:
                    self._say(f"{name} finished: shutting down")
                    self.stop()
                    return 0
            if all(p.poll() is not None for p in self.procs.values()):
                return 0
            time.sleep(0.05)


def run(system: SystemDescription, given: dict[str, str]) -> int:
    nodes = system.nodes(given)
    distro_only = [n for n in nodes if n.needs_distro]
    if distro_only and not os.environ.get("ROS_DISTRO"):
        names = ", ".join(f"{n.name} ({n.package})" for n in distro_only)
        raise LaunchError(
            f"{names} need(s) a ROS 2 distro, which is not sourced. Use `ros2 launch tatbot_bringup "
            f"{system.name}.launch.py ...` on a distro machine, or change the argument that selects them "
            "(e.g. cameras:=sim, rviz:=false)."
        )
    runner = Runner(nodes)
    interrupted = threading.Event()

    def on_signal(signum, _frame):
        interrupted.set()
        runner._say(f"received {signal.Signals(signum).name}: stopping all nodes")
        runner.stop()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix=f"tatbot-{system.name}-") as params_dir:
            runner.start(Path(params_dir))
            code = runner.wait()
    except BaseException:
        runner.stop()
        raise
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return 0 if interrupted.is_set() else code


def _describe(system: SystemDescription) -> str:
    lines = [f"{system.name}: {system.description}", "", "arguments (name:=value):"]
    for arg in system.arguments:
        choices = f" {{{'|'.join(arg.choices)}}}" if arg.choices else ""
        lines.append(f"  {arg.name}{choices} (default: {arg.default!r})\n      {arg.description}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tatbot launch",
        description="Run a tatbot system (as tatbot_bringup's launch files describe it) without ROS 2 "
        "launch. Systems: " + ", ".join(f"{s.name} ({s.description})" for s in SYSTEMS.values()),
    )
    parser.add_argument("system", choices=sorted(SYSTEMS), help="which system to start")
    parser.add_argument("arguments", nargs="*", help="launch arguments as name:=value")
    parser.add_argument("-s", "--show-args", action="store_true", help="list the system's arguments and exit")
    parser.add_argument("--print", action="store_true", help="print the processes that would start, and exit")
    ns = parser.parse_intermixed_args(argv)
    system = SYSTEMS[ns.system]
    if ns.show_args:
        print(_describe(system))
        return 0
    try:
        given = parse_launch_arguments(ns.arguments)
        if ns.print:
            for node in system.nodes(given):
                print(f"{node.name}: {node.package}/{node.executable} parameters={dict(node.parameters)}")
            return 0
        return run(system, given)
    except (LaunchArgumentError, LaunchError) as exc:
        print(f"tatbot launch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
