"""Chunk re-timing, expiry, blending and the worker/publisher hand-over (no ROS)."""

import math
import threading

import numpy as np
import pytest

from tatbot_vla_policy.core.chunks import (
    BlendConfig,
    BlendMode,
    ChunkScheduler,
    InvalidChunk,
    TimedChunk,
    blend,
    check_chunk,
    far_start,
    inference_start,
    snap_to_limits,
)

DT = 0.1


def chunk(values, start=0.0, seq=1, joints=2):
    actions = np.repeat(np.asarray(values, dtype=float)[:, None], joints, axis=1)
    return TimedChunk(start=start, dt=DT, actions=actions, obs_stamp=start, seq=seq)


def test_from_prediction_offsets_the_first_action():
    c = TimedChunk.from_prediction(np.zeros((5, 3)), obs_stamp=10.0, dt=DT, offset_steps=1)
    assert c.start == pytest.approx(10.1)
    assert c.end == pytest.approx(10.5)
    np.testing.assert_allclose(c.times, 10.1 + DT * np.arange(5))


def test_from_time_drops_expired_actions_and_keeps_the_grid():
    c = chunk(np.arange(5.0), start=1.0)
    assert c.from_time(0.5) is c
    assert c.from_time(1.0) is c  # due exactly now: kept
    later = c.from_time(1.15)
    assert later.start == pytest.approx(1.2)
    np.testing.assert_array_equal(later.actions[:, 0], [2, 3, 4])
    assert c.from_time(1.4).actions.shape == (1, 2)
    assert c.from_time(1.41) is None


def test_sample_interpolates_inside_and_flags_outside():
    c = chunk([0.0, 1.0, 2.0], start=1.0)
    values, counts, covered = c.sample(np.array([0.9, 1.05, 1.2, 1.25]))
    np.testing.assert_allclose(values[:, 0], [0.0, 0.5, 2.0, 2.0])
    np.testing.assert_array_equal(covered, [False, True, True, False])
    np.testing.assert_array_equal(counts, [1, 1, 1, 1])


def test_check_chunk_rejects_nan_inf_and_bad_shapes():
    good = check_chunk(np.zeros((3, 14), dtype=np.float32), 14)
    assert good.dtype == np.float64
    bad = np.zeros((3, 14))
    bad[1, 4] = np.nan
    with pytest.raises(InvalidChunk, match="step 1 joint 4"):
        check_chunk(bad, 14)
    bad[1, 4] = np.inf
    with pytest.raises(InvalidChunk, match="non-finite"):
        check_chunk(bad, 14)
    with pytest.raises(InvalidChunk, match="shape"):
        check_chunk(np.zeros((3, 7)), 14)
    with pytest.raises(InvalidChunk, match="shape"):
        check_chunk(np.zeros((0, 14)), 14)


def test_blend_none_replaces():
    old, new = chunk(np.zeros(5)), chunk(np.ones(5), start=0.2)
    assert blend(old, new, BlendConfig(BlendMode.NONE)) is new


def test_crossfade_starts_on_the_old_plan_and_ends_on_the_new():
    old = chunk(np.zeros(10), start=0.0)
    new = chunk(np.ones(6), start=0.3)
    out = blend(old, new, BlendConfig(BlendMode.CROSSFADE, crossfade_time=0.2))
    np.testing.assert_allclose(out.actions[:, 0], [0.0, 0.5, 1.0, 1.0, 1.0, 1.0])
    assert out.start == new.start and out.seq == new.seq


def test_crossfade_beyond_the_old_plan_is_the_new_chunk():
    old = chunk(np.zeros(2), start=0.0)  # ends at 0.1
    new = chunk(np.ones(3), start=0.1)
    out = blend(old, new, BlendConfig(BlendMode.CROSSFADE, crossfade_time=1.0))
    np.testing.assert_allclose(out.actions[:, 0], [0.0, 1.0, 1.0])


def test_crossfade_without_overlap_is_the_new_chunk():
    new = chunk(np.ones(3), start=5.0)
    assert blend(chunk(np.zeros(3)), new, BlendConfig(BlendMode.CROSSFADE)) is new


def test_ensemble_matches_act_temporal_ensembling():
    m = 0.5
    config = BlendConfig(BlendMode.ENSEMBLE, ensemble_coeff=m)
    first = chunk([1.0, 1.0, 1.0], start=0.0)
    second = blend(first, chunk([4.0, 4.0, 4.0], start=0.0), config)
    w0, w1, w2 = 1.0, math.exp(-m), math.exp(-2 * m)
    np.testing.assert_allclose(second.actions[:, 0], (1 * w0 + 4 * w1) / (w0 + w1))
    np.testing.assert_array_equal(second.counts, [2, 2, 2])
    third = blend(second, chunk([7.0, 7.0, 7.0, 7.0], start=0.0), config)
    expected = (1 * w0 + 4 * w1 + 7 * w2) / (w0 + w1 + w2)
    np.testing.assert_allclose(third.actions[:3, 0], expected)
    assert third.actions[3, 0] == 7.0 and third.counts[3] == 1


def test_rtc_splice_is_crossfaded_like_crossfade():
    """RTC guidance leaves a small residual at the splice: the first action is still the old plan's."""
    old = chunk(np.zeros(10), start=0.0)
    new = chunk(np.full(6, 0.05), start=0.3)
    out = blend(old, new, BlendConfig(BlendMode.RTC, crossfade_time=0.2))
    np.testing.assert_allclose(out.actions[:, 0], [0.0, 0.025, 0.05, 0.05, 0.05, 0.05])


def test_ensemble_with_zero_coeff_is_the_plain_mean():
    config = BlendConfig(BlendMode.ENSEMBLE, ensemble_coeff=0.0)
    out = blend(chunk([0.0, 0.0]), chunk([3.0, 3.0]), config)
    np.testing.assert_allclose(out.actions[:, 0], 1.5)


def test_blend_config_validates():
    with pytest.raises(ValueError):
        BlendConfig("bogus")
    with pytest.raises(ValueError, match="crossfade_time"):
        BlendConfig(BlendMode.CROSSFADE, crossfade_time=0.0)
    with pytest.raises(ValueError, match="crossfade_time must be > 0 for rtc"):
        BlendConfig(BlendMode.RTC, crossfade_time=0.0)
    with pytest.raises(ValueError, match="ensemble_coeff"):
        BlendConfig(BlendMode.ENSEMBLE, ensemble_coeff=-1)


def test_scheduler_retimes_the_plan_every_tick():
    s = ChunkScheduler(BlendConfig())
    assert s.next_plan(0.0) is None
    s.offer(chunk(np.arange(10.0), start=1.0))
    plan = s.next_plan(1.25)  # 1.0 and 1.1, 1.2 expired
    assert plan.start == pytest.approx(1.3) and plan.actions[0, 0] == 3
    plan = s.next_plan(1.35)  # no new chunk: same plan, re-timed
    assert plan.start == pytest.approx(1.4) and plan.actions[0, 0] == 4
    assert s.next_plan(2.0) is None  # everything expired
    assert (s.offered, s.adopted, s.dropped) == (1, 1, 0)


def test_scheduler_counts_replaced_and_expired_chunks_as_dropped():
    s = ChunkScheduler(BlendConfig())
    s.offer(chunk(np.zeros(3), seq=1))
    s.offer(chunk(np.ones(3), seq=2))  # replaces seq 1 before it was taken
    assert s.next_plan(0.0).seq == 2
    s.offer(chunk(np.ones(3), start=0.0, seq=3))
    assert s.next_plan(5.0) is None  # seq 3 expired before its first publish
    assert s.dropped == 2


def test_scheduler_blends_with_the_rest_of_the_previous_plan():
    s = ChunkScheduler(BlendConfig(BlendMode.CROSSFADE, crossfade_time=0.2))
    s.offer(chunk(np.zeros(10), start=0.0, seq=1))
    s.next_plan(0.0)
    s.offer(chunk(np.ones(10), start=0.1, seq=2))
    plan = s.next_plan(0.25)
    assert plan.seq == 2 and plan.start == pytest.approx(0.3)
    np.testing.assert_allclose(plan.actions[:3, 0], [0.0, 0.5, 1.0])


def test_scheduler_clear_forgets_everything_and_wakes_the_worker():
    s = ChunkScheduler(BlendConfig())
    s.offer(chunk(np.zeros(3)))
    assert s.pending
    woke = threading.Event()

    def wait():
        s.wait_for_change(timeout=5.0)
        woke.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    s.clear()
    waiter.join(timeout=5.0)
    assert woke.is_set()
    assert not s.pending
    assert s.next_plan(0.0) is None


def test_a_fast_model_starts_just_in_time_for_the_next_tick():
    # 15 ms model, 10 Hz ticks: start 15 ms before the tick that will take the chunk
    assert inference_start(now=1.0, next_tick=1.1, period=0.1, pending=False, estimate=0.015) == pytest.approx(1.085)
    # a chunk still waits for the next tick: the new one is for the tick after
    assert inference_start(now=1.0, next_tick=1.1, period=0.1, pending=True, estimate=0.015) == pytest.approx(1.185)


def test_a_model_slower_than_the_period_runs_back_to_back():
    assert inference_start(now=1.0, next_tick=1.05, period=0.1, pending=False, estimate=0.25) == 1.0
    assert inference_start(now=1.0, next_tick=1.05, period=0.1, pending=True, estimate=0.25) == 1.0


def test_float32_round_off_at_a_limit_is_snapped_and_a_real_overshoot_is_kept():
    lower, upper = np.array([0.0, -1.0]), np.array([0.04, 1.0])
    actions = np.array([[np.float32(0.04) + 2e-7, 0.5], [-3e-6, 1.2]])
    out = snap_to_limits(actions, lower, upper)
    np.testing.assert_array_equal(out, [[0.04, 0.5], [0.0, 1.2]])  # 1.2 is left for the validator


def test_ensemble_of_actions_on_a_limit_can_pass_it_by_a_float_step_and_is_snapped_back():
    config = BlendConfig(BlendMode.ENSEMBLE, ensemble_coeff=0.01)
    plan, highest = None, 0.0
    for i in range(30):
        plan = blend(plan.from_time(i * DT) if plan else None, chunk(np.full(10, 0.04), start=i * DT, seq=i), config)
        highest = max(highest, plan.actions.max())
    assert highest > 0.04  # what the validator would reject
    assert snap_to_limits(plan.actions, np.zeros(2), np.full(2, 0.04)).max() == 0.04


def test_a_chunk_that_starts_a_plan_ramps_from_the_robot_position_in_every_mode():
    for mode in BlendMode:
        s = ChunkScheduler(BlendConfig(mode, crossfade_time=0.2))
        s.offer(chunk(np.ones(10), start=0.0, seq=1))
        plan = s.next_plan(0.0, hold=np.zeros(2))
        np.testing.assert_allclose(plan.actions[:4, 0], [0.0, 0.5, 1.0, 1.0])  # from 0 to the chunk in 0.2 s
        s.offer(chunk(np.full(10, 2.0), start=0.1, seq=2))
        assert s.next_plan(0.1, hold=np.zeros(2)).actions[0, 0] != 0.0  # later chunks blend with the plan


def test_far_start_names_the_joints_beyond_the_max_jump_and_what_to_do():
    names = [f"j{i}" for i in range(3)]
    max_jump = np.array([0.25, 0.25, 0.005])
    assert far_start(np.array([0.2, -0.2, 0.004]), np.zeros(3), names, max_jump) is None
    message = far_start(np.array([0.3, 0.6, 0.04]), np.zeros(3), names, max_jump)
    assert "(j2 0.040, j1 0.600, j0 0.300 rad/m away" in message  # 8x, 2.4x and 1.2x the max jump
    assert "go_to_pose" in message
