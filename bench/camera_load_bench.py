"""Recording at the real camera load over DDS: 2 x 640x480 rgb8 at 30 Hz into the recorder.

For each camera QoS profile (``camera_images``, reliable keep last 10, is what sim_camera
publishes and what the infer and record systems start realsense2_camera with; ``system_default``
is realsense2_camera's own default) and each ``FASTDDS_BUILTIN_TRANSPORTS`` setting of both
processes (``DEFAULT``: Fast DDS's shared memory + UDPv4; ``shipped``: unset, so the camera process
is on Fast DDS's default and the recorder on its own UDPv4), a camera process publishes the
configured cameras for ``--seconds`` once the recorder has subscribed, the real ``recorder``
executable records them, and the bag is counted: frames published per camera, frames in the bag,
and drops. The harness is test/tatbot_testing/camera_load.py, shared with test_camera_load.py::

    python bench/camera_load_bench.py
    python bench/camera_load_bench.py --profiles system_default --transports DEFAULT UDPv4 --seconds 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test"))  # shared with test_camera_load.py
from tatbot_testing.camera_load import QOS_PROFILES, record_camera_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", choices=QOS_PROFILES, default=list(QOS_PROFILES))
    parser.add_argument(
        "--transports",
        nargs="+",
        default=["shipped", "DEFAULT", "UDPv4", "LARGE_DATA"],
        help="FASTDDS_BUILTIN_TRANSPORTS of both processes (DEFAULT: shared memory + UDPv4, UDPv4, LARGE_DATA, ...); "
        "shipped: unset in both (the camera on Fast DDS's default, the recorder on its own UDPv4)",
    )
    parser.add_argument(
        "--discovery-range",
        choices=["SUBNET", "LOCALHOST"],
        default="SUBNET",
        help="ROS_AUTOMATIC_DISCOVERY_RANGE of both processes (default SUBNET, ROS 2's)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="s of publishing per setting (default 10)")
    parser.add_argument("--runs", type=int, default=1, help="runs per setting; the table shows the worst")
    args = parser.parse_args(argv)
    from tatbot_bringup.robot_config import load_robot_config

    cams = load_robot_config().cameras
    print(
        f"camera_load_bench {time.strftime('%Y-%m-%d %H:%M')}: {len(cams)} x {cams[0].width}x{cams[0].height} rgb8 "
        f"at {cams[0].fps:g} Hz, ROS_AUTOMATIC_DISCOVERY_RANGE={args.discovery_range}, {args.seconds:g} s per run, "
        f"{args.runs} run(s) per setting, worst shown"
    )
    print("| camera QoS | FASTDDS_BUILTIN_TRANSPORTS | published per camera | in the bag | dropped | camera rate |")
    print("|---|---|---|---|---|---|")
    for profile in args.profiles:
        for transports in args.transports:
            runs = []
            try:
                for _ in range(args.runs):
                    with tempfile.TemporaryDirectory() as tmp:
                        value = None if transports == "shipped" else transports
                        runs.append(record_camera_load(Path(tmp), profile, args.seconds, value, args.discovery_range))
            except RuntimeError as exc:
                print(f"| {profile} | {transports} | no recording: {exc} | | | |", flush=True)
                continue
            worst = max(runs, key=lambda r: r.dropped)
            recorded = " / ".join(str(n) for n in worst.recorded.values())
            print(
                f"| {profile} | {transports} | {worst.published} | {recorded} | {worst.dropped} | "
                f"{min(r.rate for r in runs):.2f} Hz |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
