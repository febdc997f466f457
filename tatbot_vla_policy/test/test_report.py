"""Evaluation report: summary metrics, metrics line, markdown and plots."""

import json
from dataclasses import replace

import numpy as np
import pytest

from tatbot_vla_policy.core.report import EpisodeRecord, metrics_line, summarize, wilson_interval, write_report
from tatbot_vla_policy.core.scoring import StrokeCriteria, score_stroke

Z = 0.1


def _episode(index, offset):
    stencil = np.stack([np.linspace(0, 0.03, 20), np.zeros(20), np.full(20, Z)], axis=1)
    tip = stencil + np.array([0.0, offset, 0.0])
    scores = {arm: score_stroke(tip, stencil, Z) for arm in ("left", "right")}
    record = EpisodeRecord(
        index=index,
        task=f"left: line, right: line {index}",
        success=all(s.success for s in scores.values()),
        arms={a: s.as_dict() for a, s in scores.items()},
        joint_rmse=0.01 * (index + 1),
        tip_error_mm=scores["left"].deviation_mean_mm,
        chunk_rate_hz=10.0 - index * 0.1,
        steps=30,
        message="done",
        bag_path="",
    )
    t = np.linspace(0, 3, 31)
    q = np.zeros((31, 14))
    trace = {
        "t_state": t,
        "q_state": q,
        "t_commanded": t,
        "q_commanded": q,
        "tip_left": tip,
        "tip_right": tip,
        "stencil_left": stencil,
        "stencil_right": stencil,
        "surface_z": Z,
        "contact_tolerance": 0.001,
        "chunk_times": list(10.0 * index + np.arange(0, 3, 0.1)),
    }
    return record, trace


def test_summary_and_metrics_line():
    records = [_episode(0, 0.0)[0], _episode(1, 0.005)[0]]
    summary = summarize(records, inference_p95_ms=42.0)
    assert summary["episodes"] == 2 and summary["success_rate"] == 0.5
    assert summary["joint_rmse_rad"] == pytest.approx(0.015)
    assert summary["tip_error_mm"] == pytest.approx(2.5)
    line = metrics_line(summary)
    # success with its 95 % Wilson interval: 1 of 2 is anything from 9 % to 91 %
    assert line.startswith("episodes=2 success_rate=50% (95% CI 9%-91%, n=2) ")
    assert "tip_error=2.50 mm" in line and "achieved_hz=9.95" in line and "inference_p95=42.0 ms" in line
    no_ink = summarize([replace(records[0], tip_error_mm=float("nan"))], inference_p95_ms=42.0)
    assert "tip_error=n/a (no ink)" in metrics_line(no_ink) and "nan" not in metrics_line(no_ink)


def test_wilson_interval_matches_the_textbook_values():
    assert wilson_interval(7, 10) == pytest.approx((0.3968, 0.8922), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_write_report(tmp_path):
    episodes = [_episode(0, 0.0), _episode(1, 0.005)]
    records, traces = [e[0] for e in episodes], [e[1] for e in episodes]
    summary = summarize(records, 40.0)
    report = write_report(
        tmp_path,
        records,
        traces,
        summary,
        StrokeCriteria(),
        [f"j{i}" for i in range(14)],
        [30.0, 35.0],
        [t["chunk_times"] for t in traces],
        header="test run",
    )
    text = report.read_text()
    assert "within 2.0 mm" in text and "at least 90%" in text
    assert "| 1 | no |" in text and "| 0 | yes |" in text
    assert "| success rate | 50% (95% CI 9%-91%, n=2) |" in text and "nan" not in text
    for name in ("timing.png", "episode_000.png", "episode_001.png"):
        assert (tmp_path / name).stat().st_size > 1000
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["success_rate"] == 0.5 and len(results["episodes"]) == 2
