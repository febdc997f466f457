"""Crash-safe rosbag2 recording with rosbags (no rclpy): split files, bounded queue, writer thread.

There is no rosbag2 Python API without a ROS distro, so the recorder writes
bags with rosbags' :class:`~rosbags.rosbag2.Writer`. An MCAP or sqlite3 file
is only readable once closed (MCAP needs its footer, rosbags needs
``metadata.yaml``), so :class:`SplitBagWriter` closes the current storage file
every ``split_seconds`` and rewrites the bag's ``metadata.yaml`` (atomic
rename) to list every closed file. After a SIGKILL the bag opens with every
closed split; at most the open split (``split_seconds``) plus the queue is lost.

:class:`BagRecorder` puts serialized messages on a bounded queue (a full queue
drops and counts, never blocks a subscription callback) and a writer thread
drains it into the SplitBagWriter.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
BAG_VERSION = 9


class RecordingError(RuntimeError):
    """The bag cannot be written (path exists, unsupported message type, ...)."""


class EpisodeStateError(RuntimeError):
    """start while recording, stop while not recording."""


class InvalidMetadataError(ValueError):
    """metadata_json is not a JSON object."""


class SplitBagWriter:
    """A rosbag2 directory written as a series of closed split files (one thread at a time)."""

    def __init__(self, path: str | Path, storage: str, typestore: Typestore, split_seconds: float):
        if storage not in STORAGES:
            raise RecordingError(f"storage must be one of {sorted(STORAGES)}, got {storage!r}")
        if split_seconds <= 0:
            raise RecordingError(f"split_seconds must be > 0, got {split_seconds}")
        self.path = Path(path)
        if self.path.exists():
            raise RecordingError(f"{self.path} exists already; a recording never overwrites a bag")
        self.path.mkdir(parents=True)
        self.storage, self.typestore, self.split_seconds = storage, typestore, split_seconds
        self._writer: Writer | None = None
        self._split_dir: Path | None = None
        self._opened_at = 0.0
        self._connections: dict[str, object] = {}
        self._files: list[dict] = []
        self._topics: dict[str, dict] = {}  # name -> topics_with_message_count entry

    def _open_split(self) -> None:
        self._split_dir = self.path / f".split_{len(self._files):06d}"
        self._writer = Writer(self._split_dir, version=BAG_VERSION, storage_plugin=STORAGES[self.storage])
        self._writer.open()
        self._connections = {}
        self._opened_at = time.monotonic()

    def write(self, topic: str, msgtype: str, log_ns: int, data: bytes) -> None:
        if self._writer is None:
            self._open_split()
        conn = self._connections.get(topic)
        if conn is None:
            try:
                conn = self._writer.add_connection(topic, msgtype, typestore=self.typestore)
            except Exception as exc:  # rosbags raises several types for an unknown message type
                raise RecordingError(f"cannot record {topic}: message type {msgtype} is unknown to rosbags") from exc
            self._connections[topic] = conn
        self._writer.write(conn, log_ns, data)

    @property
    def split_due(self) -> bool:
        return self._writer is not None and time.monotonic() - self._opened_at >= self.split_seconds

    def rotate(self) -> None:
        """Close the open split (if any), move its file into the bag and rewrite metadata.yaml."""
        if self._writer is None:
            return
        writer, split_dir, self._writer = self._writer, self._split_dir, None
        writer.close()
        info = yaml.safe_load((split_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        source = split_dir / info["relative_file_paths"][0]
        target = self.path / f"{self.path.name}_{len(self._files)}{source.suffix}"
        source.rename(target)
        shutil.rmtree(split_dir)
        entry = dict(info["files"][0], path=target.name)
        self._files.append(entry)
        for topic in info["topics_with_message_count"]:
            name = topic["topic_metadata"]["name"]
            if name in self._topics:
                self._topics[name]["message_count"] += topic["message_count"]
            else:
                self._topics[name] = topic
        self._write_metadata(info)

    def _write_metadata(self, last: dict) -> None:
        starts = [f["starting_time"]["nanoseconds_since_epoch"] for f in self._files]
        ends = [f["starting_time"]["nanoseconds_since_epoch"] + f["duration"]["nanoseconds"] for f in self._files]
        metadata = {
            "rosbag2_bagfile_information": dict(
                last,
                relative_file_paths=[f["path"] for f in self._files],
                files=self._files,
                starting_time={"nanoseconds_since_epoch": min(starts)},
                duration={"nanoseconds": max(ends) - min(starts)},
                message_count=sum(f["message_count"] for f in self._files),
                topics_with_message_count=list(self._topics.values()),
            )
        }
        tmp = self.path / "metadata.yaml.tmp"
        with tmp.open("w") as f:
            yaml.safe_dump(metadata, f, sort_keys=False)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path / "metadata.yaml")

    @property
    def closed_files(self) -> int:
        return len(self._files)

    def close(self) -> None:
        self.rotate()


@dataclass(frozen=True)
class TopicStats:
    received: int
    written: int
    dropped: int


class BagRecorder:
    """Bounded queue + writer thread in front of a SplitBagWriter. put() never blocks."""

    def __init__(self, writer: SplitBagWriter, queue_size: int, on_error=lambda exc: None):
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._received: Counter = Counter()
        self._written: Counter = Counter()
        self._dropped: Counter = Counter()
        self._failed: set[str] = set()
        self._closed = False
        self._on_error = on_error
        self._poll = min(0.1, writer.split_seconds / 4)
        self._thread = threading.Thread(target=self._run, name="bag-writer", daemon=True)
        self._thread.start()

    def put(self, topic: str, msgtype: str, log_ns: int, data: bytes) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._received[topic] += 1
            if topic in self._failed:
                self._dropped[topic] += 1
                return False
        try:
            self._queue.put_nowait((topic, msgtype, log_ns, data))
            return True
        except queue.Full:
            with self._lock:
                self._dropped[topic] += 1
            return False

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._poll)
            except queue.Empty:
                item = ()
            if item is None:
                break
            if item:
                topic = item[0]
                try:
                    self.writer.write(*item)
                    with self._lock:
                        self._written[topic] += 1
                except RecordingError as exc:
                    with self._lock:
                        self._failed.add(topic)
                        self._dropped[topic] += 1
                    self._on_error(exc)
            if self.writer.split_due:
                self.writer.rotate()

    @property
    def total_received(self) -> int:
        with self._lock:
            return sum(self._received.values())

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def stats(self) -> dict[str, TopicStats]:
        with self._lock:
            topics = set(self._received) | set(self._written)
            return {t: TopicStats(self._received[t], self._written[t], self._dropped[t]) for t in sorted(topics)}

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, close the last split, write metadata.yaml."""
        with self._lock:
            self._closed = True
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self.writer.close()


@dataclass
class EpisodeBook:
    """Which episode is being recorded; validates start/stop requests."""

    next_index: int = 0
    current: int | None = None
    started_ns: int = 0
    task: str = ""
    started_messages: int = 0

    @property
    def recording(self) -> bool:
        return self.current is not None

    def start(self, task: str, metadata_json: str, now_ns: int, messages: int) -> int:
        if self.current is not None:
            raise EpisodeStateError(f"episode {self.current} is being recorded: stop it first")
        if metadata_json:
            try:
                value = json.loads(metadata_json)
            except ValueError as exc:
                raise InvalidMetadataError(f"metadata_json is not valid JSON: {exc}") from None
            if not isinstance(value, dict):
                raise InvalidMetadataError(f"metadata_json must be a JSON object, got {type(value).__name__}")
        self.current, self.started_ns, self.task, self.started_messages = self.next_index, now_ns, task, messages
        self.next_index += 1
        return self.current

    def stop(self, now_ns: int, messages: int) -> tuple[int, float, int]:
        """(index, duration s, messages recorded during the episode)."""
        if self.current is None:
            raise EpisodeStateError("no episode is being recorded")
        index, self.current = self.current, None
        return index, (now_ns - self.started_ns) / 1e9, messages - self.started_messages


def bag_name(prefix: str = "tatbot") -> str:
    return time.strftime(f"{prefix}_%Y%m%d_%H%M%S")
