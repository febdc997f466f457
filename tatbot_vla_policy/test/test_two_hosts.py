"""Two machines: the robot's nodes (``./tatbot launch infer host:=robot``: mock arms, simulated
cameras) in one network namespace, the policy (``host:=gpu``, a tiny ACT) in another, joined by a
veth pair (tatbot_testing.netns). The policy streams to the robot across the link; the link is cut
for 2 s: the driver stops the arms within its stream timeout, and the stream comes back after.
bench/two_hosts_bench.py measures the same under bandwidth caps."""

from __future__ import annotations

import json

import pytest

from tatbot_bringup.robot_config import load_robot_config
from tatbot_testing.netns import unavailable
from tatbot_testing.two_hosts_probe import analyse, run_two_machines

CONFIG = load_robot_config()
PERIOD = 1.0 / CONFIG.joint_state_rate  # the control period
WHY_NOT = unavailable()

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(WHY_NOT is not None, reason=f"two network namespaces cannot be made here: {WHY_NOT}"),
    pytest.mark.flaky(reruns=2),  # real time on shared cores, like the node tests
]


def test_the_policy_streams_across_the_link_and_a_cut_link_stops_the_arms(act_checkpoint, tmp_path):
    timeline, exits = run_two_machines(act_checkpoint, [["stream", 4.0], ["cut", 2.0], ["plug", 6.0]], tmp_path)
    stream, cut, plug = analyse(timeline)
    print(json.dumps([stream, cut, plug], indent=1))
    assert stream["rate_hz"] >= 8.0, stream  # 10 Hz, across the link
    bound = CONFIG.stream_timeout + cut["speed_at_fault_rad_s"] / CONFIG.safety.max_acceleration_rad + 2 * PERIOD
    assert cut["stop_after_last_chunk_s"] <= bound + 0.05, (cut, bound)
    assert cut["stopped_before_the_end"], cut  # nothing moved the arms again while the link was down
    assert plug["recovery_s"] < 5.0 and plug["rate_hz"] >= 5.0, plug  # the run streams again on its own
    assert exits == (0, 0), exits  # robot, gpu
