"""Split-file bag writing, the write queue and episode bookkeeping (pure core, no ROS)."""

import shutil
import threading

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from tatbot_recorder.core.bag_types import tatbot_typestore
from tatbot_recorder.core.recording import (
    BagRecorder,
    EpisodeBook,
    EpisodeStateError,
    InvalidMetadataError,
    RecordingError,
    SplitBagWriter,
)

STORE = tatbot_typestore()


def joint_state(i):
    t = STORE.types
    msg = t["sensor_msgs/msg/JointState"](
        header=t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=i, nanosec=0), frame_id=""),
        name=["a"],
        position=np.array([float(i)]),
        velocity=np.zeros(0),
        effort=np.zeros(0),
    )
    return bytes(STORE.serialize_cdr(msg, msg.__msgtype__))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_closed_splits_survive_a_kill(tmp_path, storage):
    writer = SplitBagWriter(tmp_path / "bag", storage, STORE, split_seconds=1000)
    for i in range(5):
        writer.write("/joint_states", "sensor_msgs/msg/JointState", i + 1, joint_state(i))
        writer.rotate()  # as if split_seconds had passed
    writer.write("/joint_states", "sensor_msgs/msg/JointState", 99, joint_state(99))  # never closed: "killed"
    assert writer.closed_files == 5 and list((tmp_path / "bag").glob(".split_*"))
    with Reader(tmp_path / "bag") as reader:
        values = [STORE.deserialize_cdr(raw, c.msgtype).position[0] for c, _, raw in reader.messages()]
        assert reader.message_count == 5 and len(reader.connections) == 1
    assert values == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_writer_never_overwrites_and_rejects_unknown_types(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(RecordingError, match="exists already"):
        SplitBagWriter(tmp_path / "bag", "mcap", STORE, 1.0)
    writer = SplitBagWriter(tmp_path / "new", "mcap", STORE, 1.0)
    with pytest.raises(RecordingError, match="unknown to rosbags"):
        writer.write("/x", "nope_msgs/msg/Nope", 1, b"\x00\x01\x00\x00")
    with pytest.raises(RecordingError, match="storage must be"):
        SplitBagWriter(tmp_path / "other", "rosbag1", STORE, 1.0)


def test_recorder_drops_when_full_and_closes_cleanly(tmp_path):
    writer = SplitBagWriter(tmp_path / "bag", "mcap", STORE, split_seconds=0.05)
    gate = threading.Event()
    write = writer.write

    def slow_write(*args):
        gate.wait(10)
        write(*args)

    writer.write = slow_write  # the writer thread stalls until the gate opens
    recorder = BagRecorder(writer, queue_size=3)
    results = [recorder.put("/joint_states", "sensor_msgs/msg/JointState", i + 1, joint_state(i)) for i in range(10)]
    gate.set()
    recorder.close()
    stats = recorder.stats()["/joint_states"]
    assert stats.received == 10 and stats.dropped == results.count(False) >= 6
    assert stats.written == 10 - stats.dropped
    assert recorder.put("/joint_states", "sensor_msgs/msg/JointState", 50, joint_state(50)) is False
    with Reader(tmp_path / "bag") as reader:
        assert reader.message_count == stats.written
    assert not list((tmp_path / "bag").glob(".split_*"))
    shutil.rmtree(tmp_path / "bag")


def test_episode_book():
    book = EpisodeBook()
    with pytest.raises(EpisodeStateError):
        book.stop(0, 0)
    with pytest.raises(InvalidMetadataError, match="JSON object"):
        book.start("t", "[1]", 0, 0)
    with pytest.raises(InvalidMetadataError, match="not valid JSON"):
        book.start("t", "{", 0, 0)
    assert book.start("t", '{"a": 1}', 1_000_000_000, 10) == 0
    with pytest.raises(EpisodeStateError, match="stop it first"):
        book.start("t", "", 0, 0)
    assert book.stop(3_500_000_000, 110) == (0, 2.5, 100)
    assert book.start("u", "", 0, 0) == 1
