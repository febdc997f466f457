"""As-of resampling on the fps grid (pure core, no ROS)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tatbot_recorder.core.alignment import NS, Stream, SyncGapError, align, asof, grid


def test_grid_is_exact_integer_nanoseconds():
    times = grid(5 * NS, 6 * NS, 3)
    assert times.tolist() == [5 * NS, 5 * NS + 333_333_333, 5 * NS + 666_666_666, 6 * NS]
    assert len(grid(0, NS // 10 - 1, 10)) == 1
    assert len(grid(10, 5, 10)) == 0


def test_asof_picks_newest_at_or_before():
    stamps = np.array([10, 20, 30])
    assert asof(stamps, np.array([5, 10, 19, 20, 35])).tolist() == [-1, 0, 0, 1, 2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 10**9), min_size=1, max_size=60, unique=True),
    st.integers(1, 50),
    st.integers(0, 10**9),
)
def test_no_sample_from_the_future(stamps, fps, start):
    """Property: every sampled message is stamped at or before its frame's time, and is the newest such."""
    stamps = np.array(sorted(stamps), dtype=np.int64)
    try:
        sync = align(start, start + NS, fps, [Stream("s", stamps, None)])
    except SyncGapError:
        return  # no frame has a message yet: nothing to check
    picked = stamps[sync.streams["s"].indices]
    assert np.all(picked <= sync.times_ns)
    newer = np.searchsorted(stamps, sync.times_ns, side="right")
    assert np.all(newer - 1 == sync.streams["s"].indices)


def test_action_offset_samples_the_next_target():
    stamps = np.arange(0, 2 * NS, NS // 100)  # 100 Hz
    sync = align(0, NS, 10, [Stream("action", stamps, NS // 20, offset_ns=NS // 10)])
    assert stamps[sync.streams["action"].indices].tolist() == (sync.times_ns + NS // 10).tolist()


def test_stale_edges_are_trimmed_and_reported():
    fast = np.arange(0, 3 * NS, NS // 100)
    late = np.arange(NS // 2, 2 * NS, NS // 30)  # a camera that starts late and stops early
    sync = align(0, 3 * NS, 10, [Stream("state", fast, NS // 20), Stream("cam", late, NS // 10)])
    assert sync.dropped_start == 5 and sync.times_ns[0] == NS // 2
    assert sync.times_ns[-1] <= late[-1] + NS // 10
    assert sync.dropped_end > 0
    report = sync.report()
    assert report["frames"] == sync.frames and report["streams"]["cam"]["max_age_ms"] <= 100.0


def test_inner_gap_refuses_the_episode():
    stamps = np.concatenate([np.arange(0, NS, NS // 100), np.arange(NS + NS // 2, 3 * NS, NS // 100)])
    with pytest.raises(SyncGapError, match=r"stream 'state' has a gap at frame 11"):
        align(0, 2 * NS, 10, [Stream("state", stamps, NS // 20)])


def test_held_frames_are_counted():
    stamps = np.array([0, NS // 2])
    sync = align(0, NS // 2, 10, [Stream("stencil", stamps, None)])
    assert sync.streams["stencil"].held == 4
