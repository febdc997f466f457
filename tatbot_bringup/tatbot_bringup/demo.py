"""make demo: the whole learning loop on the simulated robot, CPU only.

1. record   stroke_demo demonstrations (driver + sim cameras + recorder), the
            `record` system description, as `./tatbot launch record` runs it;
2. convert  the bags into a LeRobotDataset (bag_to_lerobot), with the stencil
            as observation.environment_state;
3. train    a small ACT policy with lerobot-train (no pretrained backbone) on relative
            actions (init_relative_policy: LeRobot's relative/absolute action steps);
4. deploy   the checkpoint with the `infer` system description and run
            held-out strokes (new shapes and positions) through ~/run with
            record_eval, the stencil shown to the simulated cameras;
5. score    tatbot_vla_policy's evaluate: report.md, plots, metrics line.

``--dagger`` then runs DAgger rounds: the policy draws new strokes with a simulated person at
the gamepad (sim_operator + teleop: the `infer` system's teleop:=sim), who takes over whenever a
needle strays from the stencil; those rollouts are converted (their intervention flags give the
rate), their corrections alone (the frames with the person in control: HG-DAgger) are merged
with the demonstrations by LeRobot's own tool, the policy is fine-tuned on the merge and scored
again; a round without corrections keeps its policy. The report gives the intervention rate per
round.

Everything lands in outputs/demo/<timestamp>/; the last line printed is the
metrics line. ``--quick`` runs the same pipeline in a few minutes (few
episodes, few training steps, no success target).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tatbot_bringup.data_contract import copy_to_checkpoint


@dataclass(frozen=True)
class DemoPlan:
    episodes: int  # demonstrations recorded
    train_steps: int  # at most; training also ends when the time budget says so
    eval_episodes: int
    # the last recorded demonstrations are not trained on: the checkpoint's loss on them is the
    # validation loss the demo prints (tatbot_vla_policy's validation_loss)
    validation_episodes: int
    # the whole demo (after set-up) should take at most this long, whatever the host's speed:
    # training is stopped when `evaluation_minutes` are left, and its newest checkpoint is deployed
    budget_minutes: float = 30.0
    evaluation_minutes: float = 3.0
    # simulated robots recording at once (one ROS domain each): the mock arms, cameras and recorder
    # of one robot use a fraction of the 2 cores, so two record nearly twice as many demonstrations
    rigs: int = 2
    # the mock arms record with a smooth random tracking error of this std (rad; DART): the labels stay
    # the planned setpoints, so the demonstrations show how to steer back to the line from a few mm off
    # it (bench/learnability_bench.py --tracking-noise: held-out success 75 % -> 95 %). The evaluation
    # runs on exact arms.
    tracking_noise: float = 0.003
    checkpoint_every: int = 250  # steps; a budget stop keeps the newest checkpoint
    # ACT learns from the joint state and the stencil ahead of each needle, not from the cameras:
    # the simulated cameras show the same stencil, ACT's ResNet-18 has no pretrained weights here
    # (nothing is downloaded), and with the images a step costs ~10x as much (LeRobot's loader
    # decodes 22 PNGs per sample, the random backbone learns slowly): on 2 cores the training
    # then depended on how many steps a host managed in the budget (1250-2250; 70-100 % held-out).
    # The bags still hold the images; images=True (demo --images) trains on them as before.
    images: bool = False
    batch_size: int = 64
    camera_width: int = 32  # simulated cameras render at the size the policy sees: no resizing
    camera_height: int = 24
    camera_fps: float = 15.0
    dim_model: int = 256
    chunk_size: int = 10
    learning_rate: float = 2e-4
    # the image backbone has no pretrained weights (nothing is downloaded) and learns 20x slower: a
    # fast-changing random ResNet slowed the whole policy down (100 pairs, 1750 steps: 70 % held-out
    # success at 2e-4, 80 % at 1e-5, 90 % without images)
    backbone_learning_rate: float = 1e-5
    # ACT's temporal ensemble averages every chunk's prediction of a step: closed-loop tracing
    # error roughly halves against crossfading to the newest chunk (bench/learnability_bench.py)
    blend_mode: str = "ensemble"
    train_seed: int = 0
    eval_seed: int = 1000  # held-out strokes: a seed never used for training
    # DAgger (--dagger): rounds of corrected rollouts (new strokes, seeds dagger_seed + round, never
    # the held-out ones) and fine-tuning on the demonstrations plus every round's corrections
    dagger_rounds: int = 0
    dagger_episodes: int = 20  # corrected rollouts per round
    dagger_steps: int = 1000  # fine-tuning steps per round
    dagger_seed: int = 2000


FULL = DemoPlan(episodes=200, train_steps=4000, eval_episodes=20, validation_episodes=10)
QUICK = DemoPlan(
    episodes=4,
    train_steps=60,
    eval_episodes=2,
    validation_episodes=1,
    budget_minutes=15.0,
    batch_size=8,
    dagger_episodes=2,
    dagger_steps=20,
)
DAGGER_ROUNDS = 2  # --dagger: rounds of the full plan (--quick: 1)
FINE_TUNE_HOURS = 2.0  # a fine-tune is bounded by its steps; this only stops a hung one


class DemoError(RuntimeError):
    """A stage of the demo failed; the message says which and where its log is."""


class Stage:
    """Runs commands, writes each one's output to a log, and shows selected lines as progress."""

    def __init__(self, root: Path, number: int, total: int):
        self.root, self.number, self.total = root, number, total
        self.started = time.monotonic()

    def banner(self, title: str) -> None:
        print(f"\n[demo {self.number}/{self.total}] {title}", flush=True)

    def run(self, name: str, cmd: list[str], show=("",), env=None, deadline: float | None = None, shown=None) -> bool:
        """Runs ``cmd`` to the end (True) or, given a ``deadline`` (time.monotonic()), until then:
        SIGTERM at the deadline and False. Any other failure raises DemoError. Lines containing one
        of ``show`` are printed through ``shown`` (default: progress_line)."""
        return self.run_together({name: (cmd, env)}, show, deadline, shown)

    def run_together(
        self, jobs: dict[str, tuple[list[str], dict | None]], show=("",), deadline=None, shown=None
    ) -> bool:
        """Runs every ``name: (cmd, env)`` at once, as run() runs one; the first to fail stops the others."""
        t0 = time.monotonic()
        procs, readers = {}, []
        for name, (cmd, env) in jobs.items():
            log = self.root / "logs" / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
            prefix = f"[{name}] " if len(jobs) > 1 else ""
            args = (procs[name], log, show, prefix, shown or progress_line)
            readers.append(threading.Thread(target=self._copy, args=args, daemon=True))
            readers[-1].start()
        timer = None
        if deadline is not None:
            timer = threading.Timer(max(0.0, deadline - t0), lambda: [p.terminate() for p in procs.values()])
            timer.start()
        failed = None
        try:
            while failed is None and any(p.poll() is None for p in procs.values()):
                failed = next((n for n, p in procs.items() if p.poll() not in (None, 0)), None)
                time.sleep(0.1)
            failed = failed or next((n for n, p in procs.items() if p.returncode != 0), None)
        finally:
            if timer:
                timer.cancel()
            for p in procs.values():  # a failure stops the others; normally all have ended
                if p.poll() is None:
                    p.terminate()
                p.wait()
            for reader in readers:
                reader.join()
        stopped = deadline is not None and time.monotonic() >= deadline
        if failed is not None and not (stopped and procs[failed].returncode == -signal.SIGTERM):
            log = self.root / "logs" / f"{failed}.log"
            tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
            raise DemoError(f"{failed} failed (exit {procs[failed].returncode}); log: {log}\n{tail}")
        end = "stopped at its time budget" if failed is not None else "done"
        for name in jobs:
            log = self.root / "logs" / f"{name}.log"
            print(f"  {name}: {end} after {time.monotonic() - t0:.0f} s (log: {log})", flush=True)
        return failed is None

    @staticmethod
    def _copy(proc: subprocess.Popen, log: Path, show, prefix: str, shown) -> None:
        with log.open("w") as out:
            for line in proc.stdout:
                out.write(line)
                if any(key in line for key in show if key):
                    print(f"  {prefix}{shown(line)}", flush=True)


# what a ROS 2 node's log line starts with when ./tatbot launch prefixes it: "[node] [INFO] [stamp] [name]: "
_ROS_LOG_PREFIX = re.compile(r"^\[[\w./-]+\] \[(?:DEBUG|INFO|WARN|ERROR|FATAL)\] \[[\d.]+\] \[([\w./-]+)\]: ")


def progress_line(line: str, width: int = 150) -> str:
    """A log line shortened for the progress display: a ROS log prefix becomes "[name] ", a long
    line keeps its end, where the news is."""
    text = _ROS_LOG_PREFIX.sub(r"[\1] ", line.rstrip())
    return text if len(text) <= width else "…" + text[-(width - 1) :]


_TRAIN_STEP = re.compile(r"\bstep:(\S+) .*?\bloss:(\S+)")


def train_progress(line: str, steps: int, until: datetime | None) -> str:
    """lerobot-train's log line as the demo's progress: the step, the loss and when the time budget
    stops training (lerobot-train's own bar counts to --steps, which the budget may cut short);
    ``until`` None: no budget, the steps bound it."""
    match = _TRAIN_STEP.search(line)
    if match is None:
        return progress_line(line)
    if until is None:
        return f"step {match[1]} of {steps}, loss {match[2]}"
    return f"step {match[1]} of at most {steps}, loss {match[2]}; the budget stops training by {until:%H:%M:%S}"


def _launch(system: str, **arguments) -> list[str]:
    return [sys.executable, "-m", "tatbot_bringup.launch_runner", system, *(f"{k}:={v}" for k, v in arguments.items())]


def _cameras(plan: DemoPlan) -> dict:
    return {"camera_width": plan.camera_width, "camera_height": plan.camera_height, "camera_fps": plan.camera_fps}


def _tool(package: str, executable: str) -> str:
    from tatbot_bringup.launch_runner import find_executable

    return str(find_executable(package, executable))


def record(stage: Stage, plan: DemoPlan, bags: Path) -> None:
    """``plan.rigs`` simulated robots record at once, each a whole `record` system in its own ROS
    domain (the first is this process's ROS_DOMAIN_ID) with its own stroke seed and bag directory."""
    stage.banner(
        f"record {plan.episodes} stroke demonstrations ({plan.rigs} simulated robot(s) at once: mock arms, "
        "simulated cameras)"
    )
    domain = int(os.environ.get("ROS_DOMAIN_ID", "0"))
    jobs = {}
    for rig in range(plan.rigs):
        episodes = plan.episodes // plan.rigs + (rig < plan.episodes % plan.rigs)
        cmd = _launch(
            "record",
            stroke_demo="true",
            episodes=episodes,
            seed=plan.train_seed + rig,
            tracking_noise=plan.tracking_noise,
            bag_dir=bags / f"rig{rig}",
            **_cameras(plan),
        )
        name = f"record_rig{rig}" if plan.rigs > 1 else "record"
        jobs[name] = (cmd, {**os.environ, "ROS_DOMAIN_ID": str(domain + rig)})
    stage.run_together(jobs, show=("stroke_demo]: episode ", "died", "failed"))


def convert(
    stage: Stage, plan: DemoPlan, bags: list[Path], dataset: Path, repo_id: str, name: str = "convert", *options: str
) -> None:
    stage.banner(f"convert {len(bags)} bag(s) into the LeRobot dataset {repo_id}")
    cmd = [
        _tool("tatbot_recorder", "bag_to_lerobot"),
        *options,
        *sorted(str(p) for p in bags),
        "--output",
        str(dataset),
        "--repo-id",
        repo_id,
        "--fps",
        "10",
        "--environment-state",
        *(["--images"] if plan.images else ["--no-cameras"]),
        # 2 shared cores run two simulated robots: tolerate a control-loop or camera stall of up to
        # 1.5 dataset periods instead of dropping the episode (the sync report still shows it)
        "--state-max-age",
        "0.15",
        "--action-max-age",
        "0.15",
        "--image-max-age",
        "0.15",
    ]
    stage.run(name, cmd, show=("episode", "frames", "wrote", "error"))


POLICIES = ("act", "smolvla")
# SmolVLA on local_backbone's tiny SmolVLM (random init, tokenizer trained on the dataset's tasks):
# it sees the images, the joint state and the prompt; SmolVLA takes no environment_state (stencil)
SMOLVLA_LEARNING_RATE = 1e-3  # the tiny SmolVLA's action expert from random init (tiny_policy measured it)


def policy_args(plan: DemoPlan, policy: str, backbone: Path | None) -> list[str]:
    """lerobot-train's --policy.* options of the demo's policy (smolvla: on the local ``backbone``)."""
    common = [
        f"--policy.type={policy}",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        f"--policy.chunk_size={plan.chunk_size}",
        f"--policy.n_action_steps={plan.chunk_size}",
    ]
    if policy == "smolvla":  # images resized (with padding) to the backbone's vision tower input
        size = json.loads((backbone / "config.json").read_text())["vision_config"]["image_size"]
        return [
            *common,
            f"--policy.vlm_model_name={backbone}",
            f"--policy.resize_imgs_with_padding=[{size},{size}]",
            f"--policy.optimizer_lr={SMOLVLA_LEARNING_RATE}",
            "--policy.scheduler_warmup_steps=10",
        ]
    return [
        *common,
        f"--policy.optimizer_lr={plan.learning_rate}",
        "--policy.pretrained_backbone_weights=null",
        f"--policy.dim_model={plan.dim_model}",
        f"--policy.dim_feedforward={plan.dim_model * 4}",
        "--policy.n_encoder_layers=2",
        "--policy.n_decoder_layers=1",
        "--policy.use_vae=false",
        # ACT normalizes images, state and actions only: without ENV the stencil (metres, a few cm
        # of spread) would reach the transformer unscaled, next to unit-variance state
        '--policy.normalization_mapping={"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ENV": "MEAN_STD", '
        '"ACTION": "MEAN_STD"}',
        f"--policy.optimizer_lr_backbone={plan.backbone_learning_rate}",
    ]


def train(stage: Stage, plan: DemoPlan, policy: str, dataset: Path, output: Path, deadline: float) -> tuple[Path, int]:
    """lerobot-train on all but the last ``plan.validation_episodes`` episodes until ``plan.train_steps``
    or ``deadline``; the newest checkpoint and its step."""
    until = datetime.now().timestamp() + deadline - time.monotonic()
    stage.banner(
        f"train {policy} (CPU, no pretrained weights) for {plan.train_steps} steps or until "
        f"{datetime.fromtimestamp(until):%H:%M:%S}, the demo's {plan.budget_minutes:g} min budget, "
        f"checkpoint every {plan.checkpoint_every} steps"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    init = output.parent / "init_policy"
    backbone = None
    if policy == "smolvla":  # a SmolVLM-shaped backbone whose tokenizer knows the dataset's tasks
        backbone = output.parent / "backbone"
        tasks = sorted({json.loads(line)["task"] for line in (dataset / "meta" / "tatbot_episodes.jsonl").open()})
        stage.run("backbone", [_tool("tatbot_vla_policy", "local_backbone"), str(backbone), "--tasks", *tasks])
    policy_options = policy_args(plan, policy, backbone)
    if policy == "act":
        # relative actions (targets minus the observed state) through LeRobot's own processor steps:
        # LeRobot's stats for them (--recompute-stats), a checkpoint whose processors carry the steps,
        # lerobot-train continuing from it. SmolVLA learns absolute targets: its training batches
        # carry the state with a time axis (observation_delta_indices [0]), which LeRobot 0.6.1's
        # relative-actions step cannot broadcast.
        init_cmd = [
            _tool("tatbot_vla_policy", "init_relative_policy"),
            f"--dataset={dataset}",
            "--repo-id=tatbot/demo",
            "--recompute-stats",
            f"--output={init}",
        ]
        stage.run("init_policy", [*init_cmd, *policy_options], show=("error",), env=env)
        policy_options = [f"--policy.path={init}"]
    episodes = f"--dataset.episodes=[{','.join(map(str, training_episodes(dataset, plan)))}]"
    return lerobot_train(stage, plan, [*policy_options, episodes], dataset, "tatbot/demo", output, deadline, dataset)


def lerobot_train(
    stage: Stage,
    plan: DemoPlan,
    options: list[str],
    dataset: Path,
    repo_id: str,
    output: Path,
    deadline: float | None,
    contract_from: Path,
    steps: int | None = None,
    name: str = "train",
) -> tuple[Path, int]:
    """lerobot-train with ``options`` (the policy's, the episodes) for ``steps`` (default the plan's) or
    until ``deadline`` (time.monotonic(); None: no budget, FINE_TUNE_HOURS stops a hung one); the
    newest checkpoint, with the data contract of the dataset ``contract_from`` beside it
    (lerobot-train saves only LeRobot's files), and its step."""
    steps = steps or plan.train_steps
    until = (
        None if deadline is None else datetime.fromtimestamp(datetime.now().timestamp() + deadline - time.monotonic())
    )
    if deadline is None:
        deadline = time.monotonic() + FINE_TUNE_HOURS * 3600
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    cmd = [
        "lerobot-train",
        f"--dataset.repo_id={repo_id}",
        f"--dataset.root={dataset}",
        *options,
        f"--batch_size={plan.batch_size}",
        f"--steps={steps}",
        f"--log_freq={min(200, max(1, steps // 20))}",
        f"--save_freq={min(plan.checkpoint_every, steps)}",
        "--num_workers=1",
        "--wandb.enable=false",
        f"--output_dir={output}",
    ]
    shown = functools.partial(train_progress, steps=steps, until=until)
    finished = stage.run(name, cmd, show=("step:", "Error"), env=env, deadline=deadline, shown=shown)
    checkpoints = output / "checkpoints"
    last = checkpoints / "last"  # lerobot-train points it at a checkpoint once that is complete
    if not last.is_symlink():
        raise DemoError(
            f"training stopped at the time budget before its first checkpoint ({plan.checkpoint_every} steps): "
            "this machine is too slow for the plan; give the demo more time (--budget-minutes)"
        )
    newest = last.resolve()
    for old in checkpoints.iterdir():  # keep the disk use of one checkpoint
        if old.is_dir() and not old.is_symlink() and old != newest:
            shutil.rmtree(old)
    checkpoint = newest / "pretrained_model"
    if not (checkpoint / "config.json").is_file():
        raise DemoError(f"lerobot-train finished but {checkpoint} has no config.json")
    copy_to_checkpoint(contract_from, checkpoint)
    steps = int(newest.name)
    print(f"  deploying the checkpoint of step {steps}{'' if finished else ' (the newest when time ran out)'}")
    return checkpoint, steps


def training_episodes(dataset: Path, plan: DemoPlan) -> list[int]:
    """The dataset's episodes but the last ``plan.validation_episodes`` (held out for validation)."""
    total = json.loads((dataset / "meta" / "info.json").read_text())["total_episodes"]
    if total <= plan.validation_episodes:
        raise DemoError(
            f"the dataset has {total} episodes: too few to hold {plan.validation_episodes} out for validation; "
            "record more (--episodes)"
        )
    return list(range(total - plan.validation_episodes))


def validate(stage: Stage, plan: DemoPlan, checkpoint: Path, dataset: Path) -> str:
    """The checkpoint's loss on the held-out recorded episodes (validation_loss's metrics line)."""
    total = json.loads((dataset / "meta" / "info.json").read_text())["total_episodes"]
    episodes = f"{total - plan.validation_episodes}-{total - 1}"
    cmd = [_tool("tatbot_vla_policy", "validation_loss"), f"--checkpoint={checkpoint}", f"--dataset={dataset}"]
    stage.run("validate", [*cmd, f"--episodes={episodes}"], show=("validation_loss=", "validation_loss:"))
    line = (stage.root / "logs" / "validate.log").read_text().strip().splitlines()[-1]
    if not line.startswith("validation_loss="):
        raise DemoError(f"validation_loss printed no metrics line; log: {stage.root / 'logs' / 'validate.log'}")
    return line


def deploy_and_evaluate(
    stage: Stage,
    plan: DemoPlan,
    checkpoint: Path,
    results: Path,
    eval_bags: Path,
    blend_mode: str,
    design: str = "",
    teleop: str = "none",
    seed: int | None = None,
    episodes: int | None = None,
    tag: str = "",
) -> str:
    """The checkpoint on the simulated robot, scored on held-out strokes, or on ``design`` (evaluate
    --design: an SVG file or a strokebatch directory); ``teleop``: the infer system's (sim: a
    simulated person corrects strays); ``seed``/``episodes``: other strokes than the held-out ones;
    ``tag``: suffix of the log names."""
    episodes = episodes or plan.eval_episodes
    what = f"the strokes of {design}" if design else f"{episodes} strokes (seed {seed or plan.eval_seed})"
    helped = " with a simulated person correcting strays" if teleop == "sim" else ""
    stage.banner(f"deploy the policy and run {what} through ~/run{helped}")
    log = stage.root / "logs" / f"infer{tag}.log"
    with log.open("w") as out:
        launcher = subprocess.Popen(
            _launch(
                "infer",
                checkpoint=checkpoint,
                record_eval="true",
                bag_dir=eval_bags,
                device="cpu",
                torch_threads=1,  # the driver, cameras and recorder share the CPU: see tatbot_vla_policy's README
                blend_mode=blend_mode,
                teleop=teleop,
                **_cameras(plan),
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            cmd = [
                _tool("tatbot_vla_policy", "evaluate"),
                *(["--design", design] if design else ["--episodes", str(episodes)]),
                "--seed",
                str(seed or plan.eval_seed),
                "--output",
                str(results),
                "--record-eval",
                "--timeout",
                "180",
            ]
            stage.run(f"evaluate{tag}", cmd, show=("episode ", "report", "failed", "episodes="))
        finally:
            launcher.send_signal(signal.SIGINT)
            try:
                launcher.wait(timeout=30)
            except subprocess.TimeoutExpired:
                launcher.kill()
    log = stage.root / "logs" / f"evaluate{tag}.log"
    line = log.read_text().strip().splitlines()[-1]
    if not line.startswith("episodes="):
        raise DemoError(f"evaluate did not print its metrics line; log: {log}")
    return line


@dataclass(frozen=True)
class DaggerRound:
    round: int
    checkpoint: Path  # the policy that drew the corrected rollouts
    intervention_rate: float  # fraction of the rollouts' frames with the person in control
    frames: int
    held_out: str  # evaluate's metrics line of this policy on the held-out strokes (no person)


def intervention_rate(dataset: Path) -> tuple[float, int]:
    """(mean of the dataset's intervention feature, frames): LeRobot's stats of the converted rollouts."""
    stats = json.loads((dataset / "meta" / "stats.json").read_text())["intervention"]
    return float(stats["mean"][0]), int(stats["count"][0])


def dagger(root: Path, plan: DemoPlan, checkpoint: Path, held_out: str, blend_mode: str) -> list[DaggerRound]:
    """``plan.dagger_rounds`` DAgger rounds from ``checkpoint`` (trained on the demonstrations); one
    more set of corrected rollouts measures the last policy's intervention rate."""
    rounds, corrections = [], []
    total = plan.dagger_rounds + 1
    for r in range(total):
        stage = Stage(root, 5 + r, 4 + total)
        work = root / f"dagger{r}"
        deploy_and_evaluate(
            stage,
            plan,
            checkpoint,
            work,
            work / "bags",
            blend_mode,
            teleop="sim",
            seed=plan.dagger_seed + r,
            episodes=plan.dagger_episodes,
            tag=f"_dagger{r}",
        )
        rollouts = work / "rollouts"
        bags = [p for p in (work / "bags").iterdir() if p.is_dir()]
        convert(stage, plan, bags, rollouts, f"tatbot/rollouts{r}", name=f"convert_dagger{r}")
        rate, frames = intervention_rate(rollouts)
        print(f"  round {r}: a person was in control on {rate:.1%} of {frames} rollout frames", flush=True)
        rounds.append(DaggerRound(r, checkpoint, rate, frames, held_out))
        if r == plan.dagger_rounds:
            break
        if rate == 0:  # nothing to learn from: fine-tuning on the policy's own actions only costs success
            print(f"  round {r}: no corrections, the policy is kept", flush=True)
            continue
        corrected = work / "corrections"  # HG-DAgger: the person's commands only, never the policy's
        repo_id = f"tatbot/corrections{r}"
        convert(stage, plan, bags, corrected, repo_id, f"convert_corrections{r}", "--interventions-only")
        corrections.append(corrected)
        checkpoint = fine_tune(stage, plan, root, checkpoint, corrections, work)
        held_out = deploy_and_evaluate(
            stage, plan, checkpoint, work / "held_out", work / "held_out_bags", blend_mode, tag=f"_dagger{r}_held_out"
        )
    return rounds


def fine_tune(stage: Stage, plan: DemoPlan, root: Path, checkpoint: Path, corrections: list[Path], work: Path) -> Path:
    """``checkpoint`` trained on, for ``plan.dagger_steps``, the demonstrations and every round's
    corrections (the frames with the person in control), merged with LeRobot's lerobot-edit-dataset
    (relative action statistics recomputed as for the first training)."""
    merged, repo_id = work / "merged", f"tatbot/{work.name}"
    sources = {"tatbot/demo": root / "dataset", **{f"tatbot/corrections{i}": c for i, c in enumerate(corrections)}}
    stage.run(
        f"merge_{work.name}",
        [
            "lerobot-edit-dataset",
            f"--new_repo_id={repo_id}",
            f"--new_root={merged}",
            "--operation.type=merge",
            f"--operation.repo_ids={list(sources)}",
            f"--operation.roots={[str(p) for p in sources.values()]}",
        ],
        show=("error", "Error"),
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    stats_cmd = [
        _tool("tatbot_vla_policy", "init_relative_policy"),
        f"--dataset={merged}",
        f"--repo-id={repo_id}",
        "--recompute-stats",
        f"--output={work / 'init_policy'}",
        *policy_args(plan, "act", None),
    ]
    stage.run(f"stats_{work.name}", stats_cmd, show=("error",), env={**os.environ, "HF_HUB_OFFLINE": "1"})
    stage.banner(f"fine-tune the policy on the demonstrations and {len(corrections)} round(s) of corrections")
    fine_tuned, _ = lerobot_train(
        stage,
        plan,
        [f"--policy.path={checkpoint}"],
        merged,
        repo_id,
        work / "train",
        None,  # bounded by its steps
        root / "dataset",  # the merge has no contract of its own: the demonstrations' (every round converts alike)
        steps=plan.dagger_steps,
        name=f"train_{work.name}",
    )
    return fine_tuned


def dagger_report(rounds: list[DaggerRound]) -> str:
    rows = [
        f"| {r.round} | `{r.checkpoint}` | {r.intervention_rate:.1%} of {r.frames} | {r.held_out} |" for r in rounds
    ]
    return (
        "\n## DAgger rounds\n\nEach round's policy drew new strokes while a simulated person (sim_operator) "
        "took over whenever a needle strayed more than 2 mm from its stencil line; the intervention rate is the "
        "fraction of those rollouts' frames with the person in control (the seed's target: < 10 %). The next "
        "policy is that one fine-tuned on the demonstrations plus every round's corrections, the frames with the "
        "person in control (HG-DAgger; a round without any keeps its policy); held-out: the policy alone on the "
        "held-out strokes.\n\n"
        "| round | policy | intervention rate (frames) | held-out, no person |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="demo",
        description="The tatbot learning loop on the simulated robot: record stroke demonstrations, convert them "
        "to a LeRobot dataset, train ACT, deploy it and score held-out strokes. Results in outputs/demo/<time>/.",
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes: 4 episodes, 60 steps, 2 evaluations")
    parser.add_argument("--output", default="outputs/demo", help="parent directory of the run (default outputs/demo)")
    parser.add_argument("--episodes", type=int, help="demonstrations to record (overrides the plan)")
    parser.add_argument("--steps", type=int, help="most training steps (overrides the plan)")
    parser.add_argument(
        "--budget-minutes",
        type=float,
        help="the demo's time budget after set-up: training ends in time for the evaluation (default 30; quick 15)",
    )
    parser.add_argument("--eval-episodes", type=int, help="held-out strokes to evaluate (overrides the plan)")
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="act",
        help="act (default), or smolvla on a tiny local SmolVLM backbone, deployed with Real-Time Chunking",
    )
    parser.add_argument(
        "--design",
        default="",
        help="score the trained policy on a design instead of generated held-out strokes: an .svg file "
        "(e.g. tatbot_bringup/designs/sample.svg) or an upstream strokebatch directory",
    )
    parser.add_argument(
        "--dagger",
        action="store_true",
        help=f"then DAgger rounds ({DAGGER_ROUNDS}; --quick: 1): rollouts corrected by a simulated person, "
        "fine-tuning on demonstrations + corrections; the report gives the intervention rate per round (act only)",
    )
    parser.add_argument(
        "--images",
        action="store_true",
        help="train ACT on the cameras' images too (~10x slower steps; smolvla always uses them)",
    )
    args = parser.parse_args(argv)
    if args.dagger and (args.policy != "act" or args.design):
        parser.error("--dagger runs with --policy act on generated strokes (no --design)")
    if args.design and not Path(args.design).exists():
        parser.error(f"--design {args.design}: no such file or directory (an .svg file or a strokebatch directory)")
    # the simulated robot lives on this machine: keep its DDS traffic on localhost
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    plan = QUICK if args.quick else FULL
    overrides = {
        "episodes": args.episodes,
        "train_steps": args.steps,
        "eval_episodes": args.eval_episodes,
        "budget_minutes": args.budget_minutes,
        "images": True if args.images or args.policy == "smolvla" else None,
        "dagger_rounds": (1 if args.quick else DAGGER_ROUNDS) if args.dagger else None,
    }
    plan = DemoPlan(**{**plan.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    root = Path(args.output).resolve() / datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True)
    print(f"tatbot demo ({'quick' if args.quick else 'full'}): {plan}\nresults: {root}", flush=True)
    t0 = time.monotonic()
    stages = 4 + (plan.dagger_rounds + 1 if plan.dagger_rounds else 0)
    rounds = []
    try:
        record(Stage(root, 1, stages), plan, root / "bags")
        bags = [p for p in (root / "bags").glob("*/*") if p.is_dir()]  # bags/<rig>/<bag>
        convert(Stage(root, 2, stages), plan, bags, root / "dataset", "tatbot/demo")
        deadline = t0 + (plan.budget_minutes - plan.evaluation_minutes) * 60
        stage = Stage(root, 3, stages)
        checkpoint, steps = train(stage, plan, args.policy, root / "dataset", root / "train", deadline)
        validation = validate(stage, plan, checkpoint, root / "dataset")
        blend_mode = "rtc" if args.policy == "smolvla" else plan.blend_mode
        design = str(Path(args.design).resolve()) if args.design else ""
        stage = Stage(root, 4, stages)
        metrics = deploy_and_evaluate(stage, plan, checkpoint, root, root / "eval_bags", blend_mode, design)
        if plan.dagger_rounds:
            rounds = dagger(root, plan, checkpoint, metrics, blend_mode)
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1
    minutes = (time.monotonic() - t0) / 60
    with (root / "report.md").open("a") as report:
        report.write(
            f"\n## Demo plan\n\n{plan.episodes} recorded demonstrations (seed {plan.train_seed}); {args.policy} "
            f"(chunk {plan.chunk_size}, batch {plan.batch_size}, {'with' if plan.images else 'without'} images, "
            f"deployed with {blend_mode}) trained {steps} steps on this machine's CPU on all but the last "
            f"{plan.validation_episodes} demonstrations ({validation} on those); "
            + (
                f"scored on the design {design}"
                if design
                else f"{plan.eval_episodes} held-out evaluations (seed {plan.eval_seed})"
            )
            + f"; {minutes:.1f} min in all (budget {plan.budget_minutes:g} min"
            + (", DAgger rounds after it" if rounds else "")
            + ").\n"
        )
        if rounds:
            report.write(dagger_report(rounds))
    print(f"\ndemo finished in {minutes:.1f} min (budget {plan.budget_minutes:g} min); report: {root / 'report.md'}")
    print(f"trained_steps={steps} {validation}")
    if rounds:
        print("dagger_intervention_rate=" + ",".join(f"{r.intervention_rate:.3f}" for r in rounds))
    print(metrics, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
