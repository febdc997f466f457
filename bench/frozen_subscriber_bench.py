"""The driver's control loop while another process's /joint_states subscriber is frozen (SIGSTOP).

Starts ``arm_driver`` (mock arms, 100 Hz) and a second process that only subscribes to
``/joint_states`` (``sim_camera`` by default), then freezes that process ``--freezes`` times
(SIGSTOP for ``--freeze`` s, SIGCONT, ``--run`` s of normal operation) while this process records
the stamps of ``/arm_driver/commanded`` (one per control step). Prints the longest gap between
control steps, in control periods, and how many freezes stalled the loop (a gap over 2 periods),
once for each ``--transports`` setting: the value of ``FASTDDS_BUILTIN_TRANSPORTS`` for both
processes (``DEFAULT``: Fast DDS's shared memory + UDPv4), or ``shipped``: unset, so the driver
uses its own default (UDPv4, tatbot_bringup.qos.PROCESS_TRANSPORTS) and the other process Fast DDS's::

    python bench/frozen_subscriber_bench.py                                   # as shipped
    python bench/frozen_subscriber_bench.py --transports DEFAULT shipped --freezes 60 --freeze 0.4
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))  # shared with test_arm_driver_process
from tatbot_testing.frozen_subscriber import freeze_repeatedly, start_subscriber

FROZEN = {"sim_camera": ("tatbot_arm_driver", "sim_camera")}  # our nodes that subscribe /joint_states


def run(transport: str | None, frozen: str, freezes: int, freeze: float, run_time: float) -> tuple[float, int, float]:
    """(longest gap in periods, stalled freezes, period) for one transport setting."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import JointState

    from tatbot_bringup import qos
    from tatbot_bringup.launch_runner import find_executable
    from tatbot_bringup.robot_config import load_robot_config

    period = 1.0 / load_robot_config().joint_state_rate
    env = dict(os.environ)
    env.pop("FASTDDS_BUILTIN_TRANSPORTS", None)
    if transport is not None:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    driver = subprocess.Popen(
        [str(find_executable("tatbot_arm_driver", "arm_driver"))],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subscriber = (
        start_subscriber(env)
        if frozen == "subscriber"
        else subprocess.Popen(
            [str(find_executable(*FROZEN[frozen]))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("frozen_subscriber_bench", context=context)
    stamps: list[float] = []
    node.create_subscription(
        JointState,
        "/arm_driver/commanded",
        lambda m: stamps.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9),
        qos.JOINT_STATES,
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    worst, stalled = 0.0, 0
    try:
        subscriber.stdout.readline()  # "subscribed", or the node's first log line
        deadline = time.monotonic() + 30
        while len(stamps) < 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        if len(stamps) < 200:
            raise RuntimeError("no /arm_driver/commanded from the driver within 30 s")
        start = len(stamps)

        def measure() -> None:
            nonlocal worst, stalled, start
            gaps = np.diff(np.array(stamps[start - 1 :])) / period
            longest = float(gaps.max()) if len(gaps) else float("inf")
            worst = max(worst, longest)
            stalled += longest > 2.0
            start = len(stamps)

        freeze_repeatedly(subscriber, freezes, freeze, run_time, after_each=measure)
    finally:
        subscriber.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGINT
        for proc in (subscriber, driver):
            proc.send_signal(signal.SIGINT)
        for proc in (subscriber, driver):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return worst, stalled, period


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--transports",
        nargs="+",
        default=["shipped"],
        help="FASTDDS_BUILTIN_TRANSPORTS values to compare (DEFAULT, UDPv4, ...; 'shipped': unset)",
    )
    parser.add_argument(
        "--frozen",
        choices=["subscriber", *FROZEN],
        default="sim_camera",
        help="the process frozen: a bare /joint_states subscriber or one of our nodes (default sim_camera)",
    )
    parser.add_argument("--freezes", type=int, default=60, help="freezes per setting (default 60)")
    parser.add_argument("--freeze", type=float, default=0.4, help="s each freeze lasts (default 0.4)")
    parser.add_argument("--run", type=float, default=0.3, help="s between freezes (default 0.3)")
    args = parser.parse_args(argv)
    print(
        f"frozen_subscriber_bench {time.strftime('%Y-%m-%d %H:%M')}: {args.frozen} frozen {args.freezes} x "
        f"{args.freeze} s (SIGSTOP)"
    )
    print("| FASTDDS_BUILTIN_TRANSPORTS | longest control-step gap (periods) | freezes that stalled the loop |")
    print("|---|---|---|")
    for transport in args.transports:
        value = None if transport == "shipped" else transport
        worst, stalled, _ = run(value, args.frozen, args.freezes, args.freeze, args.run)
        label = "shipped (unset: the driver's UDPv4)" if value is None else value
        print(f"| {label} | {worst:.1f} | {stalled}/{args.freezes} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
