"""Evaluation report: per-episode records → metrics, markdown and PNG plots (no rclpy)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tatbot_vla_policy.core.scoring import StrokeCriteria


@dataclass
class EpisodeRecord:
    index: int
    task: str
    success: bool
    arms: dict  # arm -> StrokeScore.as_dict()
    joint_rmse: float  # rad, executed vs reference joint path (revolute joints)
    tip_error_mm: float  # mean distance of the inked tip samples to the stencil, both arms
    chunk_rate_hz: float  # chunks per second published during the rollout
    steps: int
    message: str
    bag_path: str
    families: dict = field(default_factory=dict)  # arm -> Stroke.families() (shape, length, position)


WILSON_Z = 1.96  # 95 % interval


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate (sound for few trials and rates near 0 or 1)."""
    if trials == 0:
        return 0.0, 1.0
    p, z2 = successes / trials, WILSON_Z**2
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = WILSON_Z * np.sqrt(p * (1 - p) / trials + z2 / (4 * trials**2)) / (1 + z2 / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def summarize(records: list[EpisodeRecord], inference_p95_ms: float) -> dict:
    ok = [r for r in records if np.isfinite(r.tip_error_mm)]
    successes = sum(r.success for r in records)
    return {
        "episodes": len(records),
        "success_rate": successes / len(records) if records else 0.0,
        "success_ci95": list(wilson_interval(successes, len(records))),
        "joint_rmse_rad": float(np.mean([r.joint_rmse for r in records])) if records else float("nan"),
        "tip_error_mm": float(np.mean([r.tip_error_mm for r in ok])) if ok else float("nan"),
        "achieved_hz": float(np.mean([r.chunk_rate_hz for r in records])) if records else 0.0,
        "inference_p95_ms": float(inference_p95_ms),
    }


FAMILY_KINDS = ("shape", "length", "position")


def family_table(strokes: list[tuple[dict, bool]]) -> list[str]:
    """Markdown rows of success per stroke (one arm's) by family: ``strokes`` holds each stroke's
    Stroke.families() and whether it succeeded."""
    rows: dict[tuple[str, str], list[bool]] = {}
    for families, success in strokes:
        for kind, name in families.items():
            rows.setdefault((kind, name), []).append(success)
    order = {kind: i for i, kind in enumerate(FAMILY_KINDS)}
    lines = ["| family | strokes | success | 95% CI |", "|---|---|---|---|"]
    for (kind, name), ok in sorted(rows.items(), key=lambda r: (order.get(r[0][0], len(order)), r[0][1])):
        low, high = wilson_interval(sum(ok), len(ok))
        lines.append(f"| {kind}: {name} | {len(ok)} | {np.mean(ok):.0%} | {low:.0%}-{high:.0%} |")
    return lines


def record_strokes(records: list[EpisodeRecord]) -> list[tuple[dict, bool]]:
    """(families, success) of every arm's stroke of ``records``."""
    return [(r.families[arm], r.arms[arm]["success"]) for r in records for arm in r.arms if arm in r.families]


def millimetres(value: float) -> str:
    """``2.50 mm``, or ``n/a`` where nothing was inked (no deviation to measure)."""
    return f"{value:.2f} mm" if np.isfinite(value) else "n/a (no ink)"


def success_text(summary: dict) -> str:
    low, high = summary["success_ci95"]
    return f"{summary['success_rate']:.0%} (95% CI {low:.0%}-{high:.0%}, n={summary['episodes']})"


def metrics_line(summary: dict) -> str:
    return (
        f"episodes={summary['episodes']} success_rate={success_text(summary)} "
        f"joint_rmse={summary['joint_rmse_rad']:.4f} rad tip_error={millimetres(summary['tip_error_mm'])} "
        f"achieved_hz={summary['achieved_hz']:.2f} inference_p95={summary['inference_p95_ms']:.1f} ms"
    )


def _plot_episode(path: Path, index: int, trace: dict, joint_names: list[str]) -> None:
    """Every joint of each arm, commanded vs executed (top); each needle tip vs its stencil (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    t_exec, q_exec = trace["t_state"], trace["q_state"]
    t_cmd, q_cmd = trace["t_commanded"], trace["q_commanded"]
    half = len(joint_names) // 2  # the left arm's joints, then the right arm's (robot.yaml order)
    for k, (arm, joints) in enumerate((("left", range(half)), ("right", range(half, len(joint_names))))):
        ax = axes[0, k]
        for j in joints:
            (line,) = ax.plot(t_exec, q_exec[:, j], lw=1, label=joint_names[j])
            ax.plot(t_cmd, q_cmd[:, j], "--", lw=1, color=line.get_color())
        ax.set(title=f"episode {index}, {arm} arm: commanded (--) vs executed", xlabel="s", ylabel="rad or m")
        ax.legend(fontsize=6, ncol=2)
    for k, (arm, color) in enumerate((("left", "tab:blue"), ("right", "tab:red"))):
        ax = axes[1, k]
        stencil, tip = trace[f"stencil_{arm}"], trace[f"tip_{arm}"]
        ax.plot(stencil[:, 0] * 1e3, stencil[:, 1] * 1e3, "k-", lw=3, alpha=0.3, label="stencil")
        inked = tip[:, 2] <= trace["surface_z"] + trace["contact_tolerance"]
        ax.plot(tip[:, 0] * 1e3, tip[:, 1] * 1e3, ":", color=color, lw=0.8, label="tip (hover)")
        ax.plot(tip[inked, 0] * 1e3, tip[inked, 1] * 1e3, ".", color=color, ms=2, label="tip (ink)")
        ax.set(title=f"{arm} needle tip vs stencil", xlabel="x mm", ylabel="y mm", aspect="equal", adjustable="datalim")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_timing(path: Path, latencies_ms: list[float], chunk_times: list[list[float]]) -> None:
    """Latency histogram; chunk rate within each episode (the pauses between episodes are not gaps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    if latencies_ms:
        axes[0].hist(latencies_ms, bins=30)
    axes[0].set(title="observation-to-publish latency", xlabel="ms", ylabel="chunks")
    start = min((times[0] for times in chunk_times if times), default=0.0)
    for times in chunk_times:
        if len(times) > 1:
            t = np.asarray(times) - start
            axes[1].plot(t[1:], 1.0 / np.maximum(np.diff(t), 1e-6), ".", ms=2, color="tab:blue")
    axes[1].set(title="chunk rate within each episode", xlabel="s since the first chunk", ylabel="Hz", ylim=(0, 20))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(
    output: Path,
    records: list[EpisodeRecord],
    traces: list[dict],
    summary: dict,
    criteria: StrokeCriteria,
    joint_names: list[str],
    latencies_ms: list[float],
    chunk_times: list[list[float]],
    header: str = "",
) -> Path:
    """results.json, report.md and plots in ``output``; returns the report path. ``chunk_times``:
    the monotonic publish times of each episode's chunks."""
    output.mkdir(parents=True, exist_ok=True)
    for record, trace in zip(records, traces, strict=True):
        _plot_episode(output / f"episode_{record.index:03d}.png", record.index, trace, joint_names)
    _plot_timing(output / "timing.png", latencies_ms, chunk_times)
    (output / "results.json").write_text(
        json.dumps(
            {"summary": summary, "criteria": asdict(criteria), "episodes": [asdict(r) for r in records]},
            indent=2,
        )
    )
    lines = [
        "# tatbot evaluation",
        "",
        header,
        "",
        "## Success criterion",
        "",
        f"An arm's stroke succeeds when at least {criteria.min_coverage:.0%} of the stencil's length has ink "
        f"within {criteria.tolerance * 1e3:.1f} mm of it and 95 % of the ink lies within "
        f"{criteria.tolerance * 1e3:.1f} mm of the stencil line (ink = needle tip within "
        f"{criteria.contact_tolerance * 1e3:.1f} mm of the surface), and the ink passes within "
        f"{criteria.tolerance * 1e3:.1f} mm of every sharp corner of the stencil (a turn of more than "
        f"{np.degrees(criteria.corner_angle):.0f} deg within {criteria.corner_span * 1e3:.0f} mm either side). "
        "An episode succeeds when both arms do.",
        "",
        "## Summary",
        "",
        "| metric | value |",
        "|---|---|",
        f"| success rate | {success_text(summary)} |",
        f"| tip error (mean) | {millimetres(summary['tip_error_mm'])} |",
        *(
            f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
            for k, v in summary.items()
            if k not in ("success_rate", "success_ci95", "tip_error_mm")
        ),
        "",
        "## Strokes by family",
        "",
        f"Each arm's stroke scored alone: {sum(len(r.arms) for r in records)} strokes in {len(records)} episodes. "
        "Shape: the stroke's kind (or the design it comes from); length: its drawn length; position: how far "
        "its centre lies from the centre of the arm's drawing region.",
        "",
        *family_table(record_strokes(records)),
        "",
        "## Episodes",
        "",
        "| # | success | left coverage | left p95 mm | left corners mm | right coverage | right p95 mm "
        "| right corners mm | joint RMSE rad | chunk Hz | task |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def arm_cells(arm: dict) -> str:
        corner = arm.get("corner_error_mm", float("nan"))
        corner = f"{corner:.2f} ({arm['corners']})" if np.isfinite(corner) else "-"
        return f"{arm['coverage']:.0%} | {arm['deviation_p95_mm']:.2f} | {corner}"

    for r in records:
        lines.append(
            f"| {r.index} | {'yes' if r.success else 'no'} | {arm_cells(r.arms['left'])} "
            f"| {arm_cells(r.arms['right'])} | {r.joint_rmse:.4f} | {r.chunk_rate_hz:.2f} | {r.task} |"
        )
    lines += ["", "![timing](timing.png)", ""]
    lines += [f"![episode {r.index}](episode_{r.index:03d}.png)" for r in records]
    path = output / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
