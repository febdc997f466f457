"""Two machines on one host: the policy streams to the robot across a link that is capped and cut.

The robot's nodes (``./tatbot launch infer host:=robot``: mock arms, simulated cameras) run in one
network namespace, the policy (``host:=gpu``: a tiny ACT trained here, CPU) in another, joined by
a veth pair with the README's two-machine DDS settings (test/tatbot_testing/netns.py). A probe on
the robot side starts a run, then steps through the phases: streaming, bandwidth caps (``tc tbf``,
each direction), a cut link (``ip link set down``) and the link back. Per phase it prints the
stream the robot received, and for the cut how long the arms kept moving after the last chunk,
how far they moved, and how long the stream took to come back. Needs root (network namespaces)::

    python bench/two_hosts_bench.py                      # 64x48 cameras, as the demo deploys
    python bench/two_hosts_bench.py --camera-size 320 240 --caps 50mbit 20mbit
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))  # the two-machine harness is shared with test_two_hosts.py

from tatbot_testing.netns import unavailable  # noqa: E402
from tatbot_testing.two_hosts_probe import analyse, run_two_machines  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--camera-size", type=int, nargs=2, default=(64, 48), metavar=("W", "H"))
    parser.add_argument("--caps", nargs="*", default=["10mbit", "4mbit", "2mbit"], help="tc rates, one phase each")
    parser.add_argument("--phase", type=float, default=5.0, help="s per streaming or capped phase")
    parser.add_argument("--cut", type=float, default=2.0, help="s the link is down")
    args = parser.parse_args()
    if why := unavailable():
        print(f"two_hosts_bench: {why}", file=sys.stderr)
        return 2

    from tatbot_bringup.robot_config import load_robot_config
    from tatbot_vla_policy.tiny_policy import make_tiny_dataset, train_tiny_checkpoint

    config = load_robot_config()
    phases = [["stream", args.phase]]
    phases += [[f"cap:{rate}", args.phase] for rate in args.caps]
    phases += [["uncap", args.phase], ["cut", args.cut], ["plug", args.phase]]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        dataset = make_tiny_dataset(Path(tmp) / "dataset", image_hw=(args.camera_size[1], args.camera_size[0]))
        checkpoint = train_tiny_checkpoint(dataset, Path(tmp) / "train", "act")
        print(f"tiny ACT checkpoint trained in {time.monotonic() - start:.1f} s", flush=True)
        rows = analyse(run_two_machines(checkpoint, phases, Path(tmp), tuple(args.camera_size))[0])
    w, h = args.camera_size
    print(
        f"\ntwo machines (veth between network namespaces, Fast DDS UDPv4), policy {config.policy_rate:g} Hz, "
        f"2 cameras {w}x{h} rgb8 @ 30 Hz; stream timeout {config.stream_timeout:.2f} s"
    )
    header = f"{'phase':<14} {'s':>5} {'chunks Hz':>9} {'p99 gap ms':>10} {'max gap ms':>10}"
    print(f"{header}  the cut, or what the policy said")
    for row in rows:
        extra = ""
        if "stop_after_last_chunk_s" in row:
            extra = (
                f"arms stopped {row['stop_after_last_chunk_s']:.3f} s after the last chunk, "
                f"moved {row['motion_after_fault_rad']:.4f} rad after the cut"
            )
        if "recovery_s" in row:
            extra = f"first chunk {row['recovery_s']:.2f} s after the link came back"
        print(
            f"{row['phase']:<14} {row['seconds']:5.1f} {row['rate_hz']:9.2f} "
            f"{row['p99_gap_ms']:10.0f} {row['max_gap_ms']:10.0f}  {extra or row['policy']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
