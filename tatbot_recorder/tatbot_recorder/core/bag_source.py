"""Reading rosbag2 bags (MCAP, sqlite3, split, recovered) with rosbags, no ROS installed.

One :class:`Bag` is one recording: a rosbag2 directory (metadata.yaml plus one
or more storage files) or a single ``.mcap`` / ``.db3`` file. :meth:`Bag.scan`
reads every wanted topic in one pass: small messages are deserialized, camera
messages are only *indexed* (header stamp peeked from the CDR bytes) so that
:meth:`Bag.messages_at` can later decode just the frames a dataset uses.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys.store import Typestore

from tatbot_recorder.core.episodes import EpisodeMark, EventKind

STORAGE_SUFFIXES = (".mcap", ".db3")
MCAP_MAGIC = b"\x89MCAP0\r\n"  # an MCAP file starts and ends with it (the end one is written on close)


class BagError(RuntimeError):
    """A bag cannot be converted; the message names the bag, the problem and what to do."""


class CorruptBagError(BagError):
    """The bag's files cannot be read (truncated, not a rosbag2, missing metadata.yaml)."""


class EmptyBagError(BagError):
    """The bag holds no messages."""


class UnknownTopicError(BagError):
    """A topic the conversion needs is not in the bag."""


class MissingCameraError(BagError):
    """A camera has neither its raw nor its compressed topic in the bag (or no messages on it)."""


class JointNameError(BagError):
    """A JointState message lacks joints of the robot config."""


def header_stamp_ns(raw: bytes | memoryview) -> int:
    """header.stamp of a CDR message that starts with std_msgs/Header, without deserializing it."""
    endian = "<" if raw[1] == 1 else ">"
    sec, nanosec = struct.unpack_from(endian + "iI", raw, 4)
    return sec * 1_000_000_000 + nanosec


@dataclass
class TopicData:
    """Messages of one topic, sorted by stamp (header stamp; receive time where that was zero or
    the message has no header)."""

    stamps_ns: np.ndarray  # int64
    log_ns: np.ndarray  # int64, bag receive time of the same messages
    values: list  # decoded values (None for indexed-only topics)
    zero_stamps: int  # messages whose header stamp was zero (receive time used instead)

    def __len__(self) -> int:
        return len(self.stamps_ns)

    @property
    def median_period_s(self) -> float | None:
        if len(self.stamps_ns) < 3:
            return None
        return float(np.median(np.diff(self.stamps_ns))) / 1e9


class JointOrder:
    """Reorders JointState positions by name into the configured (canonical) order."""

    def __init__(self, names: list[str], topic: str):
        self.names, self.topic = list(names), topic
        self._cache: dict[tuple[str, ...], np.ndarray] = {}

    def __call__(self, msg) -> np.ndarray:
        key = tuple(msg.name)
        perm = self._cache.get(key)
        if perm is None:
            where = {name: i for i, name in enumerate(key)}
            missing = [n for n in self.names if n not in where]
            if missing:
                raise JointNameError(f"{self.topic}: JointState lacks joints {missing} (it names {list(key)})")
            perm = self._cache[key] = np.array([where[n] for n in self.names])
        if len(msg.position) != len(msg.name):
            raise JointNameError(f"{self.topic}: JointState has {len(msg.name)} names, {len(msg.position)} positions")
        return np.asarray(msg.position, dtype=np.float64)[perm]


def _truncated_mcap(path: Path) -> bool:
    """An .mcap file that does not end with the MCAP magic (cut before it was closed)."""
    if path.suffix != ".mcap":
        return False
    with path.open("rb") as f:
        f.seek(0, 2)
        if f.tell() < 2 * len(MCAP_MAGIC):
            return True
        f.seek(-len(MCAP_MAGIC), 2)
        return f.read() != MCAP_MAGIC


class Bag:
    """An open rosbag2 recording (context manager)."""

    def __init__(self, path: str | Path, typestore: Typestore):
        self.path = Path(path)
        self.typestore = typestore
        self._reader: Reader | None = None

    def __enter__(self) -> Bag:
        if not self.path.exists():
            raise CorruptBagError(f"{self.path}: no such bag")
        if self.path.is_dir() and not (self.path / "metadata.yaml").exists():
            stray = [p.name for p in self._storage_files_on_disk()]
            raise CorruptBagError(
                f"{self.path}: no metadata.yaml"
                + (
                    f" next to {stray}: the recording was killed before its index was written; `ros2 bag reindex` it"
                    if stray
                    else ": not a rosbag2 directory"
                )
            )
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except (ReaderError, OSError, KeyError, ValueError) as exc:
            truncated = [f for f in self._storage_files_on_disk() if _truncated_mcap(f)]
            if truncated:
                raise CorruptBagError(
                    f"{self.path}: {', '.join(str(f) for f in truncated)} is truncated (no MCAP end magic: the "
                    "recording was cut before the file was closed, e.g. the recorder was killed or the disk filled). "
                    "Leave this bag out, or recover its complete chunks with the mcap CLI "
                    "(`mcap recover FILE -o FIXED.mcap`, then replace FILE and run `ros2 bag reindex` on the bag)"
                ) from exc
            raise CorruptBagError(f"{self.path}: cannot open the bag: {exc}") from exc
        if self._reader.message_count == 0:
            self._reader.close()
            raise EmptyBagError(f"{self.path}: the bag has no messages")
        return self

    def __exit__(self, *exc) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            raise RuntimeError("the bag is not open: use it as a context manager")
        return self._reader

    @property
    def topics(self) -> dict[str, str]:
        """topic -> message type of every connection with messages."""
        return {c.topic: c.msgtype for c in self.reader.connections if c.msgcount}

    def _storage_files_on_disk(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.iterdir() if p.suffix in STORAGE_SUFFIXES)

    def storage_files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        info = yaml.safe_load((self.path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return [self.path / Path(p).name for p in info["relative_file_paths"]]

    def content_hash(self) -> str:
        """sha256 of the bag's storage files, in order: the identity used by --resume."""
        digest = hashlib.sha256()
        for path in self.storage_files():
            with path.open("rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
        return digest.hexdigest()

    def _connections(self, topics) -> list:
        return [c for c in self.reader.connections if c.topic in topics]

    def _iterate(self, connections, start=None, stop=None):
        try:
            yield from self.reader.messages(connections=connections, start=start, stop=stop)
        except (ReaderError, OSError, struct.error) as exc:
            raise CorruptBagError(f"{self.path}: reading failed: {exc}") from exc

    def scan(self, decoders: dict[str, Callable | None]) -> dict[str, TopicData]:
        """One pass over ``decoders``' topics: decoder(msg) -> value, or None to index stamps only."""
        found = {t: ([], [], []) for t in decoders}
        zero = dict.fromkeys(decoders, 0)
        for conn, log_ns, raw in self._iterate(self._connections(decoders)):
            decode = decoders[conn.topic]
            if decode is None:
                stamp, value = header_stamp_ns(raw), None
            else:
                msg = self.typestore.deserialize_cdr(raw, conn.msgtype)
                header = getattr(msg, "header", None)
                # a message without a header (std_msgs/Bool) is stamped with its bag receive time
                stamp = log_ns if header is None else header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
                value = decode(msg)
            if stamp == 0:
                stamp = log_ns
                zero[conn.topic] += 1
            stamps, logs, values = found[conn.topic]
            stamps.append(stamp)
            logs.append(log_ns)
            values.append(value)
        out = {}
        for topic, (stamps, logs, values) in found.items():
            stamps, logs = np.asarray(stamps, dtype=np.int64), np.asarray(logs, dtype=np.int64)
            order = np.argsort(stamps, kind="stable")
            out[topic] = TopicData(stamps[order], logs[order], [values[i] for i in order], zero[topic])
        return out

    def messages_at(self, wanted: dict[str, set[tuple[int, int]]]) -> Iterator[tuple[str, tuple[int, int], object]]:
        """Deserialize only the messages keyed (receive time, stamp) in ``wanted`` (topic -> keys).

        Yields (topic, key, message) in storage order; reads only the receive-time
        window the keys span.
        """
        keys = [k for ks in wanted.values() for k in ks]
        if not keys:
            return
        start = min(k[0] for k in keys)
        stop = max(k[0] for k in keys) + 1
        for conn, log_ns, raw in self._iterate(self._connections(wanted), start, stop):
            topic_keys = wanted[conn.topic]
            stamp = header_stamp_ns(raw)
            key = (log_ns, stamp if stamp else log_ns)
            if key in topic_keys:
                yield conn.topic, key, self.typestore.deserialize_cdr(raw, conn.msgtype)


def episode_marks(typestore: Typestore, msgtype: str) -> Callable:
    """Decoder: EpisodeEvent message -> EpisodeMark (kinds from the message's constants)."""
    cls = typestore.types[msgtype]
    kinds = {cls.START: EventKind.START, cls.STOP: EventKind.STOP, cls.DISCARD: EventKind.DISCARD}

    def decode(msg) -> EpisodeMark:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if msg.event not in kinds:
            raise BagError(f"EpisodeEvent with unknown event {msg.event} (index {msg.index})")
        return EpisodeMark(stamp, kinds[msg.event], int(msg.index), msg.task, bool(msg.success), msg.metadata_json)

    return decode


def stencil_paths(msg) -> tuple[np.ndarray, np.ndarray]:
    """Stencil message -> (left (N,3), right (M,3)) metres, base frame."""
    return tuple(
        np.array([[p.x, p.y, p.z] for p in side], dtype=np.float64).reshape(-1, 3) for side in (msg.left, msg.right)
    )
