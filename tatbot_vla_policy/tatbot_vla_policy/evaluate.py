"""evaluate: run held-out strokes through the policy on the robot and score them.

For every stroke pair (generated like stroke_demo's, from another seed, so the
shapes and positions were never seen in training; or, with ``--design``, every
stroke of an SVG file or an upstream strokebatch, drawn by both arms, each in its
own region: tatbot_bringup.designs): publish its stencil
(/tatbot/stencil), move slowly to the pair's first pose, send a
``/vla_policy/run`` goal, and score the needle-tip paths (forward kinematics of
/joint_states) against the stencil with tatbot_vla_policy.core.scoring. With
``--record-eval`` each rollout is an episode of the recorder, stopped with the
scored success (the policy alone cannot tell whether it drew the stroke).
Writes ``results.json``, ``report.md`` and PNG plots to ``--output`` and
prints the metrics line last.

    ros2 run tatbot_vla_policy evaluate --episodes 10 --seed 1000 --output outputs/eval
    ros2 run tatbot_vla_policy evaluate --design tatbot_bringup/designs/sample.svg --output outputs/eval
    ./tatbot run tatbot_vla_policy evaluate --help
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from tatbot_arm_driver.client import DriverClient, DriverError, DriverTimeout, wait_until
from tatbot_bringup import topics
from tatbot_bringup.async_ros import send_goal
from tatbot_bringup.designs import load_design
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.qos import COMMANDS, JOINT_STATES, LATCHED, STATUS
from tatbot_bringup.robot_config import load_robot_config
from tatbot_bringup.stroke_messages import stencil_message
from tatbot_bringup.strokes import (
    DEFAULT_DEPTH,
    StrokeSpace,
    generate_stroke_pairs,
    plan_joint_path,
    stroke_space_for,
)
from tatbot_interfaces.action import RunPolicy
from tatbot_interfaces.msg import PolicyStatus, Stencil
from tatbot_interfaces.srv import StartEpisode, StopEpisode
from tatbot_vla_policy.core.report import EpisodeRecord, metrics_line, summarize, write_report
from tatbot_vla_policy.core.scoring import StrokeCriteria, score_stroke

DEFAULT_EPISODES = 10


class EvaluationError(RuntimeError):
    """The evaluation cannot go on (no policy action server, a goal rejected, ...)."""


class Evaluator(Node):
    def __init__(self, args: argparse.Namespace):
        super().__init__("evaluate")
        self.args = args
        self.config = load_robot_config(args.config or None)
        self.kin = RobotKinematics.from_config(self.config)
        self.names = self.config.joint_names
        self.driver = DriverClient(self, self.names)
        self.criteria = StrokeCriteria(tolerance=args.tolerance_mm / 1e3, min_coverage=args.min_coverage)
        self._lock = threading.Lock()
        self._recording = False
        self._states: list[tuple[float, np.ndarray]] = []
        self._commanded: list[tuple[float, np.ndarray]] = []
        self.chunk_times: list[float] = []
        self.latencies_ms: list[float] = []
        self.status: PolicyStatus | None = None
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_state, JOINT_STATES)
        self.create_subscription(JointState, topics.COMMANDED, self._on_commanded, JOINT_STATES)
        self.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, self._on_chunk, COMMANDS)
        self.create_subscription(PolicyStatus, topics.POLICY_STATUS, self._on_status, STATUS)
        self.stencil_pub = self.create_publisher(Stencil, topics.STENCIL, LATCHED)
        self.run_client = ActionClient(self, RunPolicy, args.action)
        self.start_client = self.create_client(StartEpisode, topics.RECORDER_START)
        self.stop_client = self.create_client(StopEpisode, topics.RECORDER_STOP)

    # --- capture -----------------------------------------------------------------------------

    def _vector(self, msg: JointState) -> np.ndarray | None:
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in self.names):
            return None
        return np.array([msg.position[index[n]] for n in self.names])

    def _on_state(self, msg: JointState) -> None:
        q = self._vector(msg)
        with self._lock:
            if self._recording and q is not None:
                self._states.append((time.monotonic(), q))

    def _on_commanded(self, msg: JointState) -> None:
        q = self._vector(msg)
        with self._lock:
            if self._recording and q is not None:
                self._commanded.append((time.monotonic(), q))

    def _on_chunk(self, _msg: JointTrajectory) -> None:
        with self._lock:
            if self._recording:
                self.chunk_times.append(time.monotonic())

    def _on_status(self, msg: PolicyStatus) -> None:
        self.status = msg

    # --- one rollout ---------------------------------------------------------------------------

    def _rollout(self, index: int, pair, reference: np.ndarray) -> tuple[EpisodeRecord, dict]:
        a = self.args
        self.stencil_pub.publish(
            stencil_message(
                pair,
                f"evaluate/{Path(a.design).stem if a.design else a.seed}/{index:04d}",
                self.config.base_frame,
                self.get_clock().now().to_msg(),
            )
        )
        self.driver.move_to(reference[0], self.config.goal_time_slow, a.pose_tolerance, a.timeout, "the first pose")
        if not a.record_eval:
            return self._run_and_score(index, pair, reference, bag_path="")
        bag_path = self._start_episode(index, pair)
        try:
            record, trace = self._run_and_score(index, pair, reference, bag_path)
        except BaseException:  # no episode left open in the bag, nor a half rollout in it
            self._stop_episode(index, success=False, discard=True)
            raise
        self._stop_episode(index, record.success)
        return record, trace

    def _run_and_score(self, index: int, pair, reference: np.ndarray, bag_path: str) -> tuple[EpisodeRecord, dict]:
        """Run the policy from the pair's first pose and score what it drew."""
        a = self.args
        with self._lock:
            self._states, self._commanded, self._recording = [], [], True
            first_chunk = len(self.chunk_times)
        goal = RunPolicy.Goal(task=pair.task, max_steps=len(reference) + a.extra_steps)
        feedback_latency = []
        t0 = time.monotonic()
        send = send_goal(
            self, self.run_client, goal, feedback_callback=lambda f: feedback_latency.append(f.feedback.latency_ms)
        )
        wait_until(send.done, a.timeout, "the policy to accept the goal", self)
        handle = send.result()
        if not handle.accepted:
            raise EvaluationError(f"episode {index}: /vla_policy/run rejected the goal")
        result_future = handle.get_result_async()
        overdue = ""
        try:
            run_time = len(reference) / self.config.policy_rate
            wait_until(result_future.done, 3 * run_time + a.timeout, "the policy run to finish", self)
        except DriverTimeout as exc:
            # e.g. every chunk rejected (FAULT) so max_steps is never reached: cancel the run (the
            # policy holds the driver) and score what was drawn; the other episodes still run
            overdue = f"{exc}; run canceled"
            self.get_logger().warning(f"episode {index}: {overdue}")
            handle.cancel_goal_async()
            wait_until(result_future.done, a.timeout, "the canceled policy run to end", self)
        result = result_future.result().result
        if result.error_code in (RunPolicy.Result.ERROR_NOT_ACTIVE, RunPolicy.Result.ERROR_RECORDER):
            raise EvaluationError(f"episode {index}: the policy did not run: {result.error_string or result.message}")
        with self._lock:
            self._recording = False
            states, commanded = list(self._states), list(self._commanded)
            chunks = self.chunk_times[first_chunk:]
        self.latencies_ms += feedback_latency
        if len(states) < 2:
            raise EvaluationError(f"episode {index}: no /joint_states received during the run")

        t_state = np.array([t for t, _ in states]) - t0
        q_state = np.stack([q for _, q in states])
        t_cmd = np.array([t for t, _ in commanded]) - t0 if commanded else t_state[:0]
        q_cmd = np.stack([q for _, q in commanded]) if commanded else q_state[:0]
        tips = self.kin.needle_tips(q_state)
        surface = self.config.work_surface.z
        scores = {
            arm: score_stroke(tips[:, i], stroke.drawn, surface, self.criteria)
            for i, (arm, stroke) in enumerate((("left", pair.left), ("right", pair.right)))
        }
        dt = 1.0 / self.config.policy_rate
        t_ref = dt * np.arange(len(reference))
        revolute = self.config.revolute
        executed = np.stack([np.interp(t_ref, t_state, q) for q in q_state[:, revolute].T], axis=1)
        joint_rmse = float(np.sqrt(np.mean((executed - reference[:, revolute]) ** 2)))
        deviations = [s.deviation_mean_mm for s in scores.values() if s.inked_samples]
        duration = (chunks[-1] - chunks[0]) if len(chunks) > 1 else 0.0
        record = EpisodeRecord(
            index=index,
            task=pair.task,
            success=all(s.success for s in scores.values()),
            arms={arm: s.as_dict() for arm, s in scores.items()},
            joint_rmse=joint_rmse,
            tip_error_mm=float(np.mean(deviations)) if deviations else float("nan"),
            chunk_rate_hz=(len(chunks) - 1) / duration if duration > 0 else 0.0,
            steps=int(result.steps),
            message=overdue or result.message or result.error_string,
            bag_path=bag_path,
            families={"left": pair.left.families(), "right": pair.right.families()},
        )
        trace = {
            "t_state": t_state,
            "q_state": q_state,
            "t_commanded": t_cmd,
            "q_commanded": q_cmd,
            "tip_left": tips[:, 0],
            "tip_right": tips[:, 1],
            "stencil_left": pair.left.drawn,
            "stencil_right": pair.right.drawn,
            "surface_z": surface,
            "contact_tolerance": self.criteria.contact_tolerance,
            "chunk_times": chunks,
        }
        return record, trace

    def _call(self, client, request, what: str):
        if not client.wait_for_service(timeout_sec=self.args.timeout):
            raise EvaluationError(f"{what}: {client.srv_name} is not available (--record-eval needs the recorder)")
        future = client.call_async(request)
        wait_until(future.done, self.args.timeout, what, self)
        return future.result()

    def _start_episode(self, index: int, pair) -> str:
        meta = {"evaluation": True, "seed": self.args.seed, "pair": index, **pair.metadata()}
        request = StartEpisode.Request(task=pair.task, metadata_json=json.dumps(meta))
        started = self._call(self.start_client, request, f"episode {index}: start recording")
        if started.error_code != StartEpisode.Response.SUCCESS:
            raise EvaluationError(f"episode {index}: the recorder refused to start: {started.error_string}")
        return started.bag_path

    def _stop_episode(self, index: int, success: bool, discard: bool = False) -> None:
        request = StopEpisode.Request(success=success, discard=discard)
        stopped = self._call(self.stop_client, request, f"episode {index}: stop recording")
        if stopped.error_code != StopEpisode.Response.SUCCESS:
            raise EvaluationError(f"episode {index}: the recorder refused to stop: {stopped.error_string}")

    def run(self) -> dict:
        a = self.args
        self.driver.wait_ready(a.timeout)
        if not self.run_client.wait_for_server(timeout_sec=a.timeout):
            raise EvaluationError(f"no RunPolicy action server on {a.action}: is vla_policy configured and active?")
        space = stroke_space_for(self.config, self.kin)
        if a.design:
            design = load_design(a.design, space, self.kin, a.design_size)
            pairs = design.pairs[: a.episodes]
            dropped = f"; {design.dropped} dots left out" if design.dropped else ""
            drawn_by = "each drawn by both arms in their own regions" if design.both_arms else "its stroke pairs"
            source = (
                f"Design {design.name} ({design.source}): {len(pairs)} of its {len(design.pairs)} strokes, "
                f"{drawn_by}{dropped}"
            )
        else:
            pairs = generate_stroke_pairs(a.episodes or DEFAULT_EPISODES, a.seed, space)
            source = f"Held-out strokes: {len(pairs)} pairs from seed {a.seed}"
        records, traces = [], []
        for index, pair in enumerate(pairs):
            reference = plan_joint_path(pair, self.kin, self.config.pose("ready"), a.depth)
            record, trace = self._rollout(index, pair, reference)
            records.append(record)
            traces.append(trace)
            self.get_logger().info(
                f"episode {index} ({index + 1} of {len(pairs)}): {'success' if record.success else 'fail'} "
                f"(left {record.arms['left']['coverage']:.0%} / {record.arms['left']['deviation_p95_mm']:.2f} mm, "
                f"right {record.arms['right']['coverage']:.0%} / {record.arms['right']['deviation_p95_mm']:.2f} mm, "
                f"{record.chunk_rate_hz:.1f} Hz)"
            )
        self.driver.move_to(self.config.pose("ready"), self.config.goal_time_slow, a.pose_tolerance, a.timeout, "ready")
        p95 = self.status.inference_ms_p95 if self.status is not None else float("nan")
        summary = summarize(records, p95)
        if a.design:  # the design as a whole: which of its strokes both arms drew
            drawn = [i for i, r in enumerate(records) if r.success]
            source += (
                f". Drawn by both arms: {len(drawn)} of {len(records)} strokes"
                f" ({', '.join(map(str, drawn)) or 'none'}); the design is "
                + ("complete" if len(drawn) == len(design.pairs) else "not complete")
            )
            self.get_logger().info(f"design {design.name}: {len(drawn)} of {len(records)} strokes drawn by both arms")
        report = write_report(
            Path(a.output),
            records,
            traces,
            summary,
            self.criteria,
            self.names,
            self.latencies_ms,
            [trace["chunk_times"] for trace in traces],
            header=f"{source}. Model: {self.status.model if self.status else 'unknown'}.",
        )
        self.get_logger().info(f"report: {report}")
        return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="evaluate",
        description="Run held-out stroke pairs through the running vla_policy node (RunPolicy action) and score "
        "the needle-tip paths against each stencil. Needs arm_driver, vla_policy (active) and, with "
        "--record-eval, the recorder.",
    )
    parser.add_argument(
        "--episodes",
        type=int,
        help=f"number of held-out stroke pairs (default {DEFAULT_EPISODES}; with --design: its first N strokes, "
        "default all)",
    )
    parser.add_argument(
        "--design",
        default="",
        help="score a design instead of generated strokes: an .svg file (every path and shape is a stroke) or a "
        "directory with upstream strokebatch.safetensors + strokes.yaml",
    )
    parser.add_argument(
        "--design-size",
        type=float,
        help="the SVG design's larger side on the surface, m (default: the drawing region, "
        f"{2 * StrokeSpace.extent:g})",
    )
    parser.add_argument(
        "--seed", type=int, default=1000, help="stroke seed; use one not used for training (default 1000)"
    )
    parser.add_argument("--output", required=True, help="directory for results.json, report.md and plots")
    parser.add_argument("--config", default="", help="robot.yaml (default: tatbot_bringup's)")
    parser.add_argument("--action", default=topics.POLICY_RUN, help="RunPolicy action name (default /vla_policy/run)")
    parser.add_argument(
        "--depth",
        type=float,
        default=DEFAULT_DEPTH,
        help=f"needle depth of the reference strokes below the surface, m, as stroke_demo (default {DEFAULT_DEPTH})",
    )
    parser.add_argument("--extra-steps", type=int, default=5, help="policy steps beyond the stroke length (default 5)")
    parser.add_argument("--record-eval", action="store_true", help="record every rollout with the recorder")
    parser.add_argument("--tolerance-mm", type=float, default=2.0, help="success tolerance, mm (default 2)")
    parser.add_argument("--min-coverage", type=float, default=0.9, help="stencil fraction to ink (default 0.9)")
    parser.add_argument("--pose-tolerance", type=float, default=0.01, help="rad/m for a pose to count as reached")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for nodes and poses")
    args = parser.parse_args(argv)
    if args.episodes is not None and args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.design_size is not None and not args.design:
        parser.error("--design-size needs --design")
    if args.design_size is not None and not args.design_size > 0:
        parser.error(f"--design-size must be > 0 m, got {args.design_size}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(rclpy.utilities.remove_ros_args(["evaluate", *argv])[1:])
    rclpy.init(args=["evaluate", *argv])
    node = None
    executor = SingleThreadedExecutor()  # the work runs in the main thread; callbacks only cache
    spinner = threading.Thread(target=executor.spin, daemon=True)
    code = 0
    try:
        node = Evaluator(args)
        executor.add_node(node)
        spinner.start()
        summary = node.run()
        print(metrics_line(summary), flush=True)
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 130
    except (EvaluationError, DriverError, ValueError) as exc:  # DesignError is a ValueError
        print(f"evaluate failed: {exc}", file=sys.stderr)
        code = 1
    finally:
        executor.shutdown()
        if spinner.is_alive():
            spinner.join(timeout=5.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
