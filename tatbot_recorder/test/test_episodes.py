"""Episode segmentation from EpisodeEvents (pure core)."""

import pytest

from tatbot_recorder.core.episodes import EpisodeMark, EventKind, MissingTaskError, segment_episodes

S, T, D = EventKind.START, EventKind.STOP, EventKind.DISCARD


def mark(t, kind, index, task="", meta=""):
    return EpisodeMark(t, kind, index, task, kind is T, meta)


def test_start_stop_kept_discard_dropped_and_order_does_not_matter():
    marks = [
        mark(50, T, 1),
        mark(10, S, 0, "a", '{"stroke_left": {"description": "line"}}'),
        mark(20, T, 0),
        mark(30, S, 1, "b"),
        mark(60, S, 2, "c"),
        mark(70, D, 2),
    ]
    seg = segment_episodes(marks)
    assert [(e.index, e.start_ns, e.stop_ns, e.task, e.success) for e in seg.episodes] == [
        (0, 10, 20, "a", True),
        (1, 30, 50, "b", True),
    ]
    assert seg.episodes[0].metadata == {"stroke_left": {"description": "line"}}
    assert [(s.index, s.reason) for s in seg.skipped] == [(2, "discarded")]


def test_unterminated_episodes_are_dropped_with_a_reason():
    seg = segment_episodes([mark(0, S, 0, "a"), mark(10, S, 1, "b"), mark(20, T, 1), mark(30, S, 2, "c")])
    assert [e.index for e in seg.episodes] == [1]
    reasons = {s.index: s.reason for s in seg.skipped}
    assert "never stopped" in reasons[0] and "bag ends" in reasons[2]


def test_bad_metadata_and_mismatched_stop_are_skipped():
    seg = segment_episodes([mark(0, S, 0, "a", "[1, 2]"), mark(5, T, 0), mark(10, S, 1, "b"), mark(20, T, 7)])
    assert not seg.episodes
    assert "metadata_json" in seg.skipped[0].reason and "STOP names episode 7" in seg.skipped[1].reason


def test_bag_without_events_is_one_episode_with_the_given_task():
    seg = segment_episodes([], span=(100, 900), default_task="draw")
    assert [(e.start_ns, e.stop_ns, e.task, e.success) for e in seg.episodes] == [(100, 900, "draw", None)]
    with pytest.raises(MissingTaskError, match="--task"):
        segment_episodes([], span=(100, 900))
