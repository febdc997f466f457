"""make demo's stage runner and its time budget (no training: small commands stand in for lerobot-train)."""

import os
import sys
import time

import pytest

from tatbot_bringup.demo import DemoError, Stage, progress_line


def _python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def test_stage_runs_a_command_to_its_end_and_logs_it(tmp_path, capsys):
    assert Stage(tmp_path, 1, 1).run("hello", _python("print('step: 1'); print('quiet')"), show=("step:",))
    assert (tmp_path / "logs" / "hello.log").read_text() == "step: 1\nquiet\n"
    shown = capsys.readouterr().out
    assert "step: 1" in shown and "quiet" not in shown and "hello: done" in shown


def test_stage_stops_a_command_at_its_deadline(tmp_path, capsys):
    start = time.monotonic()
    finished = Stage(tmp_path, 1, 1).run(
        "train",
        _python("import time\nfor i in range(600):\n    print(f'step: {i}'); time.sleep(0.1)"),
        deadline=start + 1.0,
    )
    assert finished is False
    assert 1.0 <= time.monotonic() - start < 10, "stopped at the deadline, not at the command's end"
    assert "step: 0" in (tmp_path / "logs" / "train.log").read_text()
    assert "stopped at its time budget" in capsys.readouterr().out


def test_a_command_that_fails_before_its_deadline_is_an_error(tmp_path):
    with pytest.raises(DemoError, match=r"train failed \(exit 3\).*train.log\n.*boom"):
        Stage(tmp_path, 1, 1).run(
            "train", _python("print('boom'); raise SystemExit(3)"), deadline=time.monotonic() + 60
        )


def test_commands_run_together_each_with_its_log(tmp_path, capsys):
    start = time.monotonic()
    sleeper = "import time, os; time.sleep(1.0); print('step:', os.environ['RIG'])"
    jobs = {f"rig{i}": (_python(sleeper), {**os.environ, "RIG": str(i)}) for i in range(2)}
    assert Stage(tmp_path, 1, 1).run_together(jobs, show=("step:",))
    assert time.monotonic() - start < 1.9, "the two 1 s commands ran one after the other"
    for i in range(2):
        assert (tmp_path / "logs" / f"rig{i}.log").read_text() == f"step: {i}\n"
    shown = capsys.readouterr().out
    assert "[rig0] step: 0" in shown and "[rig1] step: 1" in shown


def test_the_first_failure_stops_the_commands_running_beside_it(tmp_path):
    jobs = {
        "slow": (_python("import time; time.sleep(60)"), None),
        "broken": (_python("import time; time.sleep(0.5); raise SystemExit(2)"), None),
    }
    start = time.monotonic()
    with pytest.raises(DemoError, match=r"broken failed \(exit 2\)"):
        Stage(tmp_path, 1, 1).run_together(jobs)
    assert time.monotonic() - start < 10, "the slow command was not stopped"


def test_progress_lines_drop_the_ros_log_prefix_and_keep_the_end_of_long_lines():
    line = "[stroke_demo] [INFO] [1796169037.671297252] [stroke_demo]: episode 14/50: left: zigzag 3.6 cm\n"
    assert progress_line(line) == "[stroke_demo] episode 14/50: left: zigzag 3.6 cm"
    assert progress_line("plain line\n") == "plain line"
    long = "x" * 200 + " step:600 loss:0.164"
    shown = progress_line(long, width=50)
    assert len(shown) == 50 and shown.startswith("…") and shown.endswith("step:600 loss:0.164")


def test_training_progress_shows_the_budget_not_lerobots_eta():
    from datetime import datetime

    from tatbot_bringup.demo import train_progress

    line = (
        "Training:   5%|▌         | 3/10000 [00:06<2:30:00,  1.71s/step]INFO 2026-12-03 07:46:28 ot_train.py:641 "
        "step:3 smpl:24 ep:1 epch:0.20 loss:2.324 grdn:3.010 lr:1.0e-03 updt_s:0.099\n"
    )
    shown = train_progress(line, steps=10000, until=datetime(2026, 12, 3, 7, 57, 42))
    assert shown == "step 3 of at most 10000, loss 2.324; the budget stops training by 07:57:42"
    assert train_progress("Error: out of memory\n", 10, datetime.now()) == "Error: out of memory"
    assert train_progress(line, steps=10000, until=None) == "step 3 of 10000, loss 2.324"  # a fine-tune: no budget
