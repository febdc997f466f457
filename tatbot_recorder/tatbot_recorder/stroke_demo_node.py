"""stroke_demo: scripted stroke demonstrations, one episode per stroke pair.

For every pair (left + right stroke): publish its stencil (/tatbot/stencil,
latched), move slowly to the pair's first pose, start an episode (recorder's
~/start_episode, or an EpisodeEvent when running without our recorder), stream
the joint path to the driver at 10 Hz as short look-ahead chunks, stop the
episode. Strokes come from the seeded generator (planned by inverse
kinematics on the work surface) or from an upstream strokebatch directory.
The node exits when every pair is done (exit code 0) or on the first failure.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from tatbot_arm_driver.client import DriverClient, DriverError, wait_until
from tatbot_bringup import topics
from tatbot_bringup.designs import load_svg_design
from tatbot_bringup.kinematics import RobotKinematics
from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.qos import LATCHED
from tatbot_bringup.robot_config import RobotConfig, RobotConfigError, load_robot_config
from tatbot_bringup.stroke_messages import stencil_message
from tatbot_bringup.strokes import (
    DEFAULT_DEPTH,
    StrokePair,
    StrokeSpace,
    generate_stroke_pairs,
    load_strokebatch,
    plan_joint_path,
    stroke_space_for,
)
from tatbot_interfaces.msg import EpisodeEvent, Stencil
from tatbot_interfaces.srv import StartEpisode, StopEpisode


class StrokeDemoError(RuntimeError):
    """The demonstration cannot go on (driver or recorder missing, pose not reached, ...)."""


SOURCES = ("generate", "strokebatch", "design")
CONFIG = Param("config", "", "robot.yaml path; empty = tatbot_bringup's")


def parameters(config: RobotConfig) -> tuple[Param, ...]:
    """stroke_demo's parameters after ``config`` (whose policy rate it streams at by default)."""
    return (
        Param("episodes", 20, "number of stroke pairs (episodes) to record", 1, 100000),
        Param("seed", 0, "seed of the stroke generator", 0, 2**31 - 1),
        Param(
            "source",
            "generate",
            "stroke source: seeded shapes, an upstream strokebatch or an SVG design",
            choices=SOURCES,
        ),
        Param("strokebatch_dir", "", "directory with strokebatch.safetensors + strokes.yaml"),
        Param("design", "", "an .svg file (source:=design): every stroke drawn by both arms, each in its region"),
        Param("hover", StrokeSpace.hover, "approach/retreat height above the surface, m", 0.0, 0.05),
        Param(
            "extent", StrokeSpace.extent, "each arm draws within +-extent of its region's centre (x, y), m", 0.0, 0.2
        ),
        Param("min_length", StrokeSpace.min_length, "shortest generated stroke, m", 0.001, 0.5),
        Param("max_length", StrokeSpace.max_length, "longest generated stroke, m", 0.001, 0.5),
        Param("depth_offsets", [DEFAULT_DEPTH], "needle depth offsets below the surface, m (strokebatch: ignored)"),
        Param("random_depth", False, "pick a random depth-offset index per stroke (else the middle one)"),
        Param("rate", config.policy_rate, "streaming rate, Hz (1/fps of the recorded data)", 1.0, 100.0),
        Param("lookahead", 5, "points per streamed chunk", 1, 100),
        Param("use_recorder", True, "episodes via /recorder/start_episode|stop_episode; false: publish EpisodeEvents"),
        Param("timeout", 30.0, "seconds to wait for the driver, recorder or a pose", 1.0, 600.0),
        Param("pose_tolerance", 0.01, "max joint error (rad / m) for a pose to count as reached", 1e-4, 0.5),
        Param(
            "intervention_topic",
            topics.INTERVENTION,
            "std_msgs/Bool (the teleop node's): while true a human is in control and the stroke waits",
        ),
    )


class StrokeDemo(Node):
    def __init__(self, **kwargs):
        super().__init__("stroke_demo", **kwargs)
        self.config = load_robot_config(declare(self, [CONFIG])["config"] or None)
        v = declare(self, parameters(self.config))
        self.episodes, self.seed = v["episodes"], v["seed"]
        self.source, self.strokebatch_dir = v["source"], v["strokebatch_dir"]
        self.design, self.hover, self.extent = v["design"], v["hover"], v["extent"]
        self.min_length, self.max_length = v["min_length"], v["max_length"]
        self.depth_offsets, self.random_depth = list(v["depth_offsets"]), v["random_depth"]
        self.rate, self.lookahead, self.use_recorder = v["rate"], v["lookahead"], v["use_recorder"]
        self.timeout, self.tolerance = v["timeout"], v["pose_tolerance"]
        if self.max_length < self.min_length:
            raise ParameterError(
                f"parameter max_length:={self.max_length} is below min_length:={self.min_length}: raise max_length"
            )
        if self.source == "design" and not self.design:
            raise ParameterError("parameter source:=design needs design:=<file.svg>")

        self.driver = DriverClient(self, self.config.joint_names, intervention_topic=v["intervention_topic"])
        self.stencil_pub = self.create_publisher(Stencil, topics.STENCIL, LATCHED)
        self.event_pub = self.create_publisher(EpisodeEvent, topics.EPISODE, LATCHED)
        self.start_client = self.create_client(StartEpisode, topics.RECORDER_START)
        self.stop_client = self.create_client(StopEpisode, topics.RECORDER_STOP)
        self.kinematics = RobotKinematics.from_config(self.config)

    def _wait(self, predicate, what: str) -> None:
        wait_until(predicate, self.timeout, what, self)

    def _call(self, client, request, what: str):
        future = client.call_async(request)
        self._wait(future.done, what)
        return future.result()

    def move_to(self, target: np.ndarray, what: str) -> None:
        self.driver.move_to(target, self.config.goal_time_slow, self.tolerance, self.timeout, what)

    def _publish_stencil(self, pair: StrokePair, name: str) -> Stencil:
        msg = stencil_message(pair, name, self.config.base_frame, self.get_clock().now().to_msg())
        self.stencil_pub.publish(msg)
        return msg

    def _event(self, event: int, index: int, task: str, metadata: str = "", success: bool = False) -> None:
        msg = EpisodeEvent(event=event, index=index, task=task, metadata_json=metadata, success=success)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.event_pub.publish(msg)

    # --- the demonstration ------------------------------------------------------------------

    def episodes_to_run(self) -> list[tuple[str, StrokePair | None, np.ndarray]]:
        """(task, pair or None, joint path) per episode."""
        if self.source == "strokebatch":
            batch = load_strokebatch(self.strokebatch_dir)
            rng = np.random.default_rng(self.seed)
            out = []
            for i, (left, right) in enumerate(batch.descriptions[: self.episodes]):
                offset = int(rng.integers(batch.joints.shape[2])) if self.random_depth else None
                out.append((f"left: {left}, right: {right}", None, batch.trajectory(i, offset)))
            return out
        space = stroke_space_for(
            self.config,
            self.kinematics,
            extent=self.extent,
            min_length=self.min_length,
            max_length=self.max_length,
            hover=self.hover,
        )
        if self.source == "design":
            pairs = load_svg_design(self.design, space).pairs[: self.episodes]
        else:
            pairs = generate_stroke_pairs(self.episodes, self.seed, space)
        rng = np.random.default_rng(self.seed + 1)
        out = []
        for pair in pairs:
            depth = (
                self.depth_offsets[int(rng.integers(len(self.depth_offsets)))]
                if self.random_depth
                else (self.depth_offsets[len(self.depth_offsets) // 2])
            )
            out.append((pair.task, pair, plan_joint_path(pair, self.kinematics, self.config.pose("ready"), depth)))
        return out

    def _wait_for_human(self, resume_at: np.ndarray, index: int) -> None:
        """A human took over (teleop): stream nothing until they hand back, then return smoothly to
        the stroke where it paused (the episode records both)."""
        self.get_logger().info(f"episode {index}: a human is in control; the stroke waits")
        self.move_to(resume_at, f"episode {index}'s stroke where it paused")  # once they hand back

    def run(self) -> None:
        dt = 1.0 / self.rate
        self.driver.wait_ready(self.timeout)
        if self.use_recorder:
            for client in (self.start_client, self.stop_client):
                if not client.wait_for_service(timeout_sec=self.timeout):
                    raise StrokeDemoError(
                        f"service {client.srv_name} not available: start the recorder, or use_recorder:=false"
                    )
        plans = self.episodes_to_run()
        self.get_logger().info(f"{len(plans)} episodes planned; moving to ready")
        self.move_to(self.config.pose("ready"), "ready")
        for index, (task, pair, path) in enumerate(plans):
            metadata = {"source": self.source, "seed": self.seed}
            if pair is not None:
                stencil = self._publish_stencil(pair, f"stroke_demo/{self.seed}/{index:04d}")
                metadata.update(pair.metadata(), stencil=stencil.name)
            self.move_to(path[0], f"the first pose of episode {index}")
            if self.use_recorder:
                result = self._call(
                    self.start_client,
                    StartEpisode.Request(task=task, metadata_json=json.dumps(metadata)),
                    "start_episode",
                )
                if result.error_code != StartEpisode.Response.SUCCESS:
                    raise StrokeDemoError(f"recorder refused to start episode {index}: {result.error_string}")
            else:
                self._event(EpisodeEvent.START, index, task, json.dumps(metadata))
            self.get_logger().info(f"episode {index} ({index + 1} of {len(plans)}): {task}")
            next_tick = time.monotonic()
            for i in range(len(path) - 1):
                if self.driver.human_in_control:
                    self._wait_for_human(path[i], index)
                    next_tick = time.monotonic()
                self.driver.publish_path(path[i + 1 : i + 1 + self.lookahead], dt)
                next_tick += dt
                time.sleep(max(0.0, next_tick - time.monotonic()))
            self._wait(
                lambda p=path: np.max(np.abs(self.driver.current() - p[-1])) <= self.tolerance,
                "the last pose of the stroke",
            )
            if self.use_recorder:
                result = self._call(self.stop_client, StopEpisode.Request(success=True, discard=False), "stop_episode")
                if result.error_code != StopEpisode.Response.SUCCESS:
                    raise StrokeDemoError(f"recorder refused to stop episode {index}: {result.error_string}")
            else:
                self._event(EpisodeEvent.STOP, index, task, success=True)
        self.move_to(self.config.pose("ready"), "ready")
        self.get_logger().info(f"done: {len(plans)} episodes")


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return (CONFIG, *parameters(load_robot_config()))


def main(args=None) -> int:
    exit_on_help(args, "tatbot_recorder stroke_demo", __doc__, schema)
    rclpy.init(args=args)
    code = 0
    node = None
    executor = SingleThreadedExecutor()  # the work runs in the main thread; callbacks only cache
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        node = StrokeDemo()
        executor.add_node(node)
        spinner.start()
        node.run()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ParameterError, RobotConfigError) as exc:
        code = exit_on_error("stroke_demo", exc)
    except (StrokeDemoError, DriverError, ValueError) as exc:
        (node.get_logger().error if node else print)(f"stroke_demo failed: {exc}")
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
