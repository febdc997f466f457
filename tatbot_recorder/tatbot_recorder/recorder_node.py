"""recorder: records a topic list into a rosbag2 bag and marks episodes in it.

Subscribes (serialized, no deserialization) to every configured topic as soon
as it appears in the graph, with the QoS its publishers offer; messages go
through a bounded queue to a writer thread (tatbot_recorder.core.recording),
which closes a split file every ``split_seconds`` so a killed recorder loses
at most that much. ``~/start_episode`` / ``~/stop_episode`` publish
EpisodeEvents on the episode topic (reliable, transient local), recorded like
any other topic. Per-topic counts and drops go to the log and /diagnostics.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from tatbot_bringup import topics
from tatbot_bringup.async_ros import spin
from tatbot_bringup.parameters import Param, ParameterError, declare, exit_on_error, exit_on_help
from tatbot_bringup.qos import LATCHED, STATUS, use_process_transports
from tatbot_bringup.robot_config import RobotConfig, RobotConfigError, aligned_depth_topic, load_robot_config
from tatbot_interfaces.msg import EpisodeEvent
from tatbot_interfaces.srv import StartEpisode, StopEpisode
from tatbot_recorder.core.bag_types import tatbot_typestore
from tatbot_recorder.core.recording import (
    STORAGES,
    BagRecorder,
    EpisodeBook,
    EpisodeStateError,
    InvalidMetadataError,
    RecordingError,
    SplitBagWriter,
    bag_name,
)


def _message_class(type_name: str):
    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


CONFIG = Param("config", "", "robot.yaml path; empty = tatbot_bringup's")


def parameters(config: RobotConfig) -> tuple[Param, ...]:
    """The recorder's parameters after ``config`` (whose cameras are recorded by default)."""
    sensors = [topics.JOINT_STATES, topics.COMMANDED, *(c.topic for c in config.cameras)]
    # the teleop node's: its intervention flag (std_msgs/Bool, latched) and the gamepad it reads;
    # present only while a teleop runs, so never required
    teleop = [topics.INTERVENTION, topics.JOY]
    # each camera's depth aligned to its colour (bag_to_lerobot --depth); a camera started without
    # depth publishes none, so never required
    depth = [aligned_depth_topic(c.name) for c in config.cameras]
    return (
        Param("episode_topic", topics.EPISODE, "EpisodeEvent topic (published and recorded)"),
        Param(
            "topics",
            [*sensors, *depth, topics.STENCIL, topics.JOINT_TRAJECTORY, *teleop],
            "topics to record (subscribed as soon as they appear, any type rosbags knows); the episode topic "
            "is always recorded too",
        ),
        Param("required_topics", sensors, "topics that must have a matched publisher before an episode may start"),
        Param("output_dir", "bags", "directory the bag is created in"),
        Param("bag_name", "", "bag directory name; empty = tatbot_<date>_<time>"),
        Param("storage", "mcap", "storage plugin", choices=STORAGES),
        Param("split_seconds", 1.0, "close a split file this often, s: the most a killed recorder loses", 0.1, 3600.0),
        Param(
            "queue_size",
            2000,
            "messages buffered for the writer thread; beyond, messages are dropped and counted",
            10,
            1_000_000,
        ),
        Param("discovery_period", 0.25, "how often the graph is checked for new topics, s", 0.05, 10.0),
        Param("diagnostics_period", 1.0, "period of /diagnostics and log reports, s", 0.1, 60.0),
    )


class Recorder(Node):
    def __init__(self, **kwargs):
        super().__init__("recorder", **kwargs)
        self._closed = True  # nothing to close until the bag writer exists (rclpy may destroy a half-built node)
        config = load_robot_config(declare(self, [CONFIG])["config"] or None)
        values = declare(self, parameters(config))
        self.episode_topic, recorded, output_dir, name, storage = (
            values[n] for n in ("episode_topic", "topics", "output_dir", "bag_name", "storage")
        )
        self.required = list(values["required_topics"])
        split_seconds, queue_size, self.discovery_period, diagnostics_period = (
            values[n] for n in ("split_seconds", "queue_size", "discovery_period", "diagnostics_period")
        )
        missing = sorted(set(self.required) - set(recorded))
        if missing:
            raise ParameterError(f"parameter required_topics: {missing} are not in topics {list(recorded)}")
        self.topics = list(dict.fromkeys([*recorded, self.episode_topic]))  # the episodes are always in the bag

        self.bag_path = (Path(output_dir) / (name or bag_name())).resolve()
        self.recorder = BagRecorder(
            SplitBagWriter(self.bag_path, storage, tatbot_typestore(), split_seconds),
            queue_size,
            on_error=lambda exc: self.get_logger().error(str(exc)),
        )
        self.book = EpisodeBook()
        self._closed = False
        self._recorded: dict[str, object] = {}
        self._group = MutuallyExclusiveCallbackGroup()  # services and timers; subscriptions stay parallel
        self.event_pub = self.create_publisher(EpisodeEvent, self.episode_topic, LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, STATUS)
        self.create_service(StartEpisode, "~/start_episode", self._on_start, callback_group=self._group)
        self.create_service(StopEpisode, "~/stop_episode", self._on_stop, callback_group=self._group)
        self.create_timer(self.discovery_period, self._discover, callback_group=self._group)
        self.create_timer(diagnostics_period, self._report, callback_group=self._group)
        self._discover()
        self.get_logger().info(
            f"recording {len(self.topics)} topics into {self.bag_path} ({storage}, splits every {split_seconds} s)"
        )

    # --- subscriptions -----------------------------------------------------------------------

    def _qos(self, topic: str) -> QoSProfile:
        """Match what the publishers offer: reliable / transient local only if every publisher is."""
        infos = self.get_publishers_info_by_topic(topic)
        reliable = all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
        latched = all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        return QoSProfile(
            depth=100,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )

    def _discover(self) -> None:
        wanted = [t for t in self.topics if t not in self._recorded]
        if not wanted:
            return
        graph = dict(self.get_topic_names_and_types())
        for topic in wanted:
            types = graph.get(topic)
            if not types or not self.get_publishers_info_by_topic(topic):
                continue
            msgtype = types[0]
            try:
                cls = _message_class(msgtype)
            except (ImportError, AttributeError, ValueError):
                self.get_logger().error(f"{topic}: message type {msgtype} is not importable; not recorded")
                self._recorded[topic] = None
                continue

            def callback(data: bytes, topic=topic, msgtype=msgtype) -> None:
                self.recorder.put(topic, msgtype, self.get_clock().now().nanoseconds, data)

            qos = self._qos(topic)
            self._recorded[topic] = self.create_subscription(cls, topic, callback, qos, raw=True)
            self.get_logger().info(
                f"subscribed to {topic} ({msgtype}, {qos.reliability.name.lower()}, {qos.durability.name.lower()})"
            )

    def unready(self) -> list[str]:
        """Why an episode cannot start now (empty = ready)."""
        problems = []
        for topic in self.required:
            sub = self._recorded.get(topic)
            if sub is None or sub.get_publisher_count() == 0:
                problems.append(f"{topic} has no matched publisher")
        sub = self._recorded.get(self.episode_topic)
        if sub is None or sub.get_publisher_count() == 0:
            problems.append(f"{self.episode_topic} is not subscribed yet")
        return problems

    # --- episodes ----------------------------------------------------------------------------

    def _publish_event(self, event: int, index: int, task: str, success: bool = False, metadata: str = "") -> None:
        msg = EpisodeEvent(event=event, index=index, task=task, success=success, metadata_json=metadata)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.event_pub.publish(msg)

    def _on_start(self, request: StartEpisode.Request, response: StartEpisode.Response):
        response.bag_path = str(self.bag_path)
        problems = self.unready()
        if problems:
            response.error_code = StartEpisode.Response.ERROR_NOT_READY
            response.error_string = "not ready: " + "; ".join(problems)
            return response
        try:
            index = self.book.start(
                request.task, request.metadata_json, self.get_clock().now().nanoseconds, self.recorder.total_received
            )
        except EpisodeStateError as exc:
            response.error_code, response.error_string = StartEpisode.Response.ERROR_ALREADY_RECORDING, str(exc)
            return response
        except InvalidMetadataError as exc:
            response.error_code, response.error_string = StartEpisode.Response.ERROR_INVALID_METADATA, str(exc)
            return response
        self._publish_event(EpisodeEvent.START, index, request.task, metadata=request.metadata_json)
        response.index = index
        self.get_logger().info(f"episode {index} started: {request.task!r}")
        return response

    def _on_stop(self, request: StopEpisode.Request, response: StopEpisode.Response):
        task = self.book.task
        try:
            index, duration, count = self.book.stop(self.get_clock().now().nanoseconds, self.recorder.total_received)
        except EpisodeStateError as exc:
            response.error_code, response.error_string = StopEpisode.Response.ERROR_NOT_RECORDING, str(exc)
            return response
        kind = EpisodeEvent.DISCARD if request.discard else EpisodeEvent.STOP
        self._publish_event(kind, index, task, success=request.success)
        response.index, response.duration, response.message_count = index, duration, count
        verdict = "discarded" if request.discard else ("success" if request.success else "failure")
        self.get_logger().info(f"episode {index} stopped ({verdict}): {duration:.1f} s, {count} messages")
        return response

    # --- reporting ---------------------------------------------------------------------------

    def _report(self) -> None:
        stats = self.recorder.stats()
        dropped = sum(s.dropped for s in stats.values())
        status = DiagnosticStatus(
            name=f"{self.get_name()}: bag",
            hardware_id=str(self.bag_path),
            level=DiagnosticStatus.WARN if dropped else DiagnosticStatus.OK,
            message=f"{dropped} messages dropped" if dropped else "recording",
        )
        status.values = [
            KeyValue(key="episode", value="none" if not self.book.recording else str(self.book.current)),
            KeyValue(key="queue_depth", value=str(self.recorder.queue_depth)),
            KeyValue(key="closed_splits", value=str(self.recorder.writer.closed_files)),
            *(
                KeyValue(key=topic, value=f"received {s.received}, written {s.written}, dropped {s.dropped}")
                for topic, s in stats.items()
            ),
        ]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)
        if dropped:
            self.get_logger().warning(
                "drops: " + ", ".join(f"{t} {s.dropped}" for t, s in stats.items() if s.dropped),
                throttle_duration_sec=10.0,
            )

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()

    def close(self) -> None:
        """Write what is queued and close the bag (metadata.yaml lists every split); once."""
        if self._closed:
            return
        self._closed = True
        if self.book.recording:
            self.get_logger().warning(f"episode {self.book.current} was never stopped: converters will drop it")
        self.recorder.close()
        summary = json.dumps({t: s.__dict__ for t, s in self.recorder.stats().items()})
        self.get_logger().info(f"bag closed: {self.bag_path}; per topic: {summary}")


def schema() -> tuple[Param, ...]:
    """Every parameter of this node (defaults after the installed robot.yaml): its --help."""
    return (CONFIG, *parameters(load_robot_config()))


def main(args=None) -> int:
    exit_on_help(args, "tatbot_recorder recorder", __doc__, schema)
    use_process_transports()  # full-resolution frames lose nothing over UDP (qos.py)
    # single-threaded (spin): callbacks only queue messages; a MultiThreadedExecutor busy-waits under
    # this message rate and starves the writer thread of the GIL
    try:
        spin(Recorder, args)
    except (ParameterError, RobotConfigError) as exc:
        return exit_on_error("recorder", exc)
    except (RecordingError, ValueError) as exc:
        print(f"recorder: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
