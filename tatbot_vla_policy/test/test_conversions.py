"""conversions: the policy node's messages built from arrays (markers, diagnostics), without a node."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
from visualization_msgs.msg import Marker

from tatbot_interfaces.msg import PolicyStatus
from tatbot_vla_policy.conversions import status_diagnostics, tip_path_markers


def test_tip_paths_are_one_line_strip_per_arm_in_the_base_frame():
    tips = np.arange(4 * 2 * 3, dtype=float).reshape(4, 2, 3)  # 4 steps, 2 arms
    markers = tip_path_markers(tips, ["left", "right"], "world", Time(sec=3)).markers
    assert [(m.text, m.id, m.type, m.header.frame_id, m.header.stamp.sec) for m in markers] == [
        ("left", 0, Marker.LINE_STRIP, "world", 3),
        ("right", 1, Marker.LINE_STRIP, "world", 3),
    ]
    assert [[p.x, p.y, p.z] for p in markers[1].points] == tips[:, 1].tolist()
    assert markers[0].color != markers[1].color


def test_the_status_becomes_one_diagnostic_with_its_level_and_values():
    status = PolicyStatus(state=PolicyStatus.STATE_FAULT, detail="stale camera", model="act", step=7)
    status.inference_ms_p95 = 12.345
    status.header.stamp = Time(sec=5)
    diag = status_diagnostics(status, "vla_policy: policy", {"model_restarts": "2"})
    (entry,) = diag.status
    assert diag.header.stamp.sec == 5 and entry.level == DiagnosticStatus.ERROR and entry.message == "stale camera"
    values = {kv.key: kv.value for kv in entry.values}
    assert values["state"] == "FAULT" and values["step"] == "7" and values["inference_ms_p95"] == "12.3"
    assert values["model_restarts"] == "2" and entry.hardware_id == "act"
    levels = {
        state: status_diagnostics(PolicyStatus(state=state), "n", {}).status[0].level
        for state in (PolicyStatus.STATE_WAITING, PolicyStatus.STATE_RUNNING)
    }
    assert levels[PolicyStatus.STATE_WAITING] == DiagnosticStatus.WARN
    assert levels[PolicyStatus.STATE_RUNNING] == DiagnosticStatus.OK
    assert status_diagnostics(PolicyStatus(state=PolicyStatus.STATE_RUNNING), "n", {}).status[0].message == "streaming"
