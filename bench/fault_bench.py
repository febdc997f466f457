"""The fault table: each fault injected into the running two-machine stack, how fast the arms stop,
how far they move after it, and how long until the policy streams again.

The stack of bench/two_hosts_bench.py (robot and GPU namespaces joined by a veth pair, a tiny ACT
on the CPU, mock arms, simulated cameras) streams; then, one after the other: the link is cut,
the cameras are frozen (SIGSTOP), the policy node is frozen, the model process is killed (the run
ends, as on_model_failure=abort says, and a new run is sent once the policy is idle again), and
the policy node is killed. After each fault but the last, the next phase undoes it (plug, SIGCONT,
a new run) and the recovery is the time from then to the first chunk at the robot. Needs root::

    python bench/fault_bench.py
    python bench/fault_bench.py --hold 3 --settle 6
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
from tatbot_testing.two_hosts_probe import analyse, is_fault, run_two_machines  # noqa: E402

FAULTS = [  # (fault, what undoes it, what the table calls it)
    ("cut", "plug", "link cut (2 machines)"),
    ("stop:cameras", "cont:cameras", "cameras frozen (SIGSTOP)"),
    ("stop:policy", "cont:policy", "policy node frozen (SIGSTOP)"),
    ("kill:model", "run", "model process killed (run aborted, new run)"),
    ("kill:policy", None, "policy node killed"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hold", type=float, default=2.0, help="s each fault lasts")
    parser.add_argument("--settle", type=float, default=5.0, help="s of streaming after each recovery")
    args = parser.parse_args()
    if why := unavailable():
        print(f"fault_bench: {why}", file=sys.stderr)
        return 2

    from tatbot_bringup.robot_config import load_robot_config
    from tatbot_vla_policy.tiny_policy import make_tiny_dataset, train_tiny_checkpoint

    config = load_robot_config()
    phases = [["stream", args.settle]]
    for fault, undo, _ in FAULTS:
        phases.append([fault, args.hold])
        if undo:
            # a new run waits for the restarted model process (~10 s here)
            phases.append([undo, args.settle + (20.0 if undo == "run" else 0.0)])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        checkpoint = train_tiny_checkpoint(make_tiny_dataset(Path(tmp) / "dataset"), Path(tmp) / "train", "act")
        print(f"tiny ACT checkpoint trained in {time.monotonic() - start:.1f} s", flush=True)
        rows = analyse(run_two_machines(checkpoint, phases, Path(tmp))[0])
    names = {fault: name for fault, _, name in FAULTS}
    print(
        f"\nfaults on two machines (veth, Fast DDS UDPv4), policy {config.policy_rate:g} Hz, stream timeout "
        f"{config.stream_timeout:.2f} s; a run that ends backs the needles out (retract): that motion is designed"
    )
    print(f"{'fault':<46} {'stop after fault s':>18} {'after last chunk s':>18} {'motion rad':>10} {'recovery s':>10}")
    for row, after in zip(rows, [*rows[1:], None], strict=True):
        if not is_fault(row["phase"]):
            continue
        recovery = after["recovery_s"] if after is not None and "recovery_s" in after else None
        shown = "-" if recovery is None else ("none" if recovery == float("inf") else f"{recovery:.2f}")
        print(
            f"{names[row['phase']]:<46} {row['stop_after_fault_s']:18.3f} {row['stop_after_last_chunk_s']:18.3f} "
            f"{row['motion_after_fault_rad']:10.4f} {shown:>10}"
        )
    print(f"(stream before the faults: {rows[0]['rate_hz']:.2f} Hz, p99 gap {rows[0]['p99_gap_ms']:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
