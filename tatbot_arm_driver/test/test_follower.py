"""Splicing, interpolation, hold, command timeout, stale feedback, mock backend (pure core, no ROS)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tatbot_arm_driver.backends import BackendFault
from tatbot_arm_driver.backends.mock import MockBackend
from tatbot_arm_driver.core.follower import FollowerState, HoldReason, Outcome, TrajectoryFollower
from tatbot_arm_driver.core.interpolation import (
    HermiteSpline,
    estimate_velocities,
    minimum_move_duration,
    smooth_move,
)
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectorySpec, validate_trajectory
from tatbot_arm_driver.core.watchdog import FeedbackWatchdog, LoopTiming
from tatbot_bringup.robot_config import load_robot_config

CONFIG = load_robot_config()
LIMITS = SafetyLimits.from_config(CONFIG)
NAMES = tuple(CONFIG.joint_names)
READY = CONFIG.pose("ready")
PERIOD = LIMITS.control_period
NOW = 500.0


def sine_chunk(t0: float, n: int = 10, dt: float = 0.1, amplitude: float = 0.2, phase: float = 0.0):
    """Points of a 0.5 Hz sine around READY on every revolute joint, sampled at absolute t0 + k dt."""
    t = t0 + dt * np.arange(1, n + 1)
    wave = amplitude * np.sin(2 * np.pi * 0.5 * (t - NOW) + phase)
    q = np.tile(READY, (n, 1))
    revolute = CONFIG.revolute
    q[:, revolute] += wave[:, None] * np.where(READY[revolute] >= 0, -1, 1)[None, :] * 0.5
    return TrajectorySpec(NAMES, stamp=t0, time_from_start=t - t0, positions=q)


def run(follower: TrajectoryFollower, start: float, stop: float):
    times = np.arange(start, stop, PERIOD)
    samples = [follower.step(t) for t in times]
    return times, np.array([s.position for s in samples]), np.array([s.velocity for s in samples]), samples


def test_interpolation_passes_through_points_with_continuous_velocity():
    spec = sine_chunk(NOW)
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    follower.submit(spec, NOW)
    for t in NOW + spec.time_from_start[:-1]:
        np.testing.assert_allclose(follower.current(t - 1e-7)[1], follower.current(t + 1e-7)[1], atol=1e-4)
    times, q, v, _ = run(follower, NOW, NOW + 1.2)
    for k, t in enumerate(NOW + spec.time_from_start):
        i = int(np.argmin(np.abs(times - t)))
        if abs(times[i] - t) < 1e-6:
            np.testing.assert_allclose(q[i], spec.positions[k], atol=1e-9)
    assert np.max(np.abs(v)) > 0.1
    # holds the last point with zero velocity afterwards
    np.testing.assert_allclose(q[-1], spec.positions[-1])
    np.testing.assert_allclose(v[-1], 0.0)


def test_splice_mid_trajectory_has_no_jump():
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    follower.submit(sine_chunk(NOW), NOW)
    _, q1, v1, _ = run(follower, NOW, NOW + 0.435)
    # a new chunk whose points disagree with the running one by up to 0.02 rad
    splice = NOW + 0.435
    second = sine_chunk(splice - 0.03, phase=0.15)
    follower.submit(second, splice)
    _, q2, v2, samples = run(follower, splice, splice + 1.5)
    q = np.vstack((q1, q2))
    max_step = np.max(np.abs(np.diff(q, axis=0)) / (LIMITS.max_velocity * PERIOD))
    assert max_step <= 1.0 + 1e-9, "a step larger than one control period at the velocity limit"
    # the splice itself is smooth: velocity right after equals velocity right before
    np.testing.assert_allclose(v2[0], v1[-1], atol=0.05)
    assert not any(s.clamped for s in samples)


def test_first_point_within_a_control_period_steps_at_most_one_period_at_max_velocity():
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    follower.step(NOW - PERIOD)
    q = np.tile(READY, (3, 1))
    q[:, 0] += 0.03  # under 3.375 rad/s x 10 ms
    spec = TrajectorySpec(NAMES, 0.0, np.array([0.002, 0.1, 0.2]), q)
    follower.submit(spec, NOW)
    setpoint = follower.step(NOW)
    assert abs(setpoint.position[0] - READY[0]) <= LIMITS.max_velocity[0] * PERIOD + 1e-12


def test_end_hold_then_command_timeout_at_the_right_tick():
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    spec = sine_chunk(NOW, n=5)
    trajectory = follower.submit(spec, NOW)
    end = NOW + 0.5
    times, q, _, samples = run(follower, NOW, NOW + 1.2)
    states = [s.state for s in samples]
    first_settling = times[states.index(FollowerState.SETTLING)]
    first_holding = times[states.index(FollowerState.HOLDING)]
    assert end <= first_settling < end + PERIOD + 1e-9
    assert end + 0.5 <= first_holding < end + 0.5 + PERIOD + 1e-9
    assert follower.hold_reason == HoldReason.COMMAND_TIMEOUT
    assert follower.outcome(trajectory) == (Outcome.REACHED, None)
    np.testing.assert_array_equal(q[times >= end], np.tile(spec.positions[-1], (np.sum(times >= end), 1)))


def test_hold_freezes_within_the_same_step_and_records_outcomes():
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    first = follower.submit(sine_chunk(NOW), NOW)
    run(follower, NOW, NOW + 0.2)
    second = follower.submit(sine_chunk(NOW + 0.2 - 0.05), NOW + 0.2)
    assert follower.outcome(first) == (Outcome.PREEMPTED, None)
    _, q, _, _ = run(follower, NOW + 0.2, NOW + 0.4)
    follower.hold(HoldReason.REQUESTED)
    _, held, v, _ = run(follower, NOW + 0.4, NOW + 0.6)
    np.testing.assert_array_equal(held, np.tile(q[-1], (len(held), 1)))
    np.testing.assert_array_equal(v, 0.0)
    assert follower.outcome(second) == (Outcome.HELD, HoldReason.REQUESTED)
    assert follower.state == FollowerState.HOLDING


def test_safety_clamp_keeps_setpoints_inside_position_and_velocity_limits():
    # given velocities that make the Hermite curve overshoot the upper limit of left/joint_1
    upper = CONFIG.joints[1].upper
    q = np.tile(READY, (3, 1))
    q[:, 1] = [upper - 0.1, upper, upper - 0.1]
    start = q[0].copy()
    start[1] -= 0.05
    v = np.zeros((3, 14))
    v[:2, 1] = 3.3
    spec = TrajectorySpec(NAMES, 0.0, np.array([0.1, 0.2, 0.3]), q, v)
    follower = TrajectoryFollower(LIMITS, start, command_timeout=0.5)
    follower.submit(spec, NOW)
    _, positions, velocities, samples = run(follower, NOW, NOW + 0.4)
    assert np.all(positions <= LIMITS.upper + 1e-12) and np.all(positions >= LIMITS.lower - 1e-12)
    assert np.all(np.abs(np.diff(positions, axis=0)) <= LIMITS.max_velocity * PERIOD + 1e-12)
    assert np.all(np.abs(velocities) <= LIMITS.max_velocity)
    assert any(s.clamped for s in samples)


def test_monotone_velocity_estimate_never_overshoots():
    times = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    positions = np.array([[0.0], [1.0], [1.0], [0.5], [0.6]])
    spline = HermiteSpline(times, positions, estimate_velocities(times, positions))
    samples = np.array([spline.sample(t)[0][0] for t in np.linspace(0, 0.4, 401)])
    for k in range(4):
        segment = samples[(np.linspace(0, 0.4, 401) >= times[k]) & (np.linspace(0, 0.4, 401) <= times[k + 1])]
        lo, hi = sorted(positions[k : k + 2, 0])
        assert np.all(samples.size) and np.all((segment >= lo - 1e-12) & (segment <= hi + 1e-12))


def test_smooth_move_respects_limits_at_the_minimum_duration():
    start, goal = CONFIG.pose("sleep"), CONFIG.pose("ready")
    duration = minimum_move_duration(start, goal, LIMITS.max_velocity)
    spec = smooth_move(NAMES, start, goal, duration, PERIOD)
    validated = validate_trajectory(spec, LIMITS, start, NOW)
    np.testing.assert_array_equal(validated.positions[-1], goal)
    follower = TrajectoryFollower(LIMITS, start, command_timeout=0.5)
    follower.submit(spec, NOW)
    _, q, _, samples = run(follower, NOW, NOW + duration + 0.1)
    np.testing.assert_allclose(q[-1], goal)
    assert not any(s.clamped for s in samples)
    too_short = smooth_move(NAMES, start, goal, 0.8 * duration, PERIOD)
    with pytest.raises(ValueError, match="velocity"):
        validate_trajectory(too_short, LIMITS, start, NOW)


def test_watchdog_flags_one_silent_source():
    watchdog = FeedbackWatchdog(timeout=0.1)
    assert watchdog.stale(0.0)
    watchdog.update((1, 1), 0.0)
    watchdog.update((2, 2), 0.05)
    assert not watchdog.stale(0.12)
    watchdog.update((3, 2), 0.12)  # the second arm stopped answering at 0.05
    assert watchdog.age(0.16) == pytest.approx(0.11)
    assert watchdog.stale(0.16)
    with pytest.raises(ValueError):
        FeedbackWatchdog(0.0)


def test_loop_timing_reports_the_longest_gap_per_window_and_counts_late_steps():
    timing = LoopTiming(period=0.01, late_periods=1.5)
    assert timing.take_window() == 0.0
    for now in (0.0, 0.01, 0.02, 0.05, 0.06):  # one step 3 periods after the previous
        timing.step(now)
    assert timing.take_window() == pytest.approx(0.03)
    assert timing.late == 1
    timing.step(0.074)  # 1.4 periods: not late
    assert timing.take_window() == pytest.approx(0.014)
    assert (timing.longest, timing.late) == (pytest.approx(0.03), 1)


class FakeClock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_mock_backend_is_a_deterministic_lag_plus_latency():
    clock = FakeClock()
    mock = MockBackend(np.zeros(2), lag=0.02, latency=0.005, clock=clock)
    with pytest.raises(BackendFault):
        mock.read()
    mock.open()
    mock.command(np.array([1.0, -1.0]), np.zeros(2))
    clock.t = 0.004
    np.testing.assert_array_equal(mock.read().position, [0.0, 0.0])  # still in flight
    clock.t = 0.025
    first = mock.read()
    np.testing.assert_allclose(first.position, [1 - np.exp(-1.0), -(1 - np.exp(-1.0))])
    np.testing.assert_allclose(first.velocity, (np.array([1.0, -1.0]) - first.position) / 0.02)
    assert mock.read().sequence != first.sequence
    replay = MockBackend(np.zeros(2), lag=0.02, latency=0.005, clock=FakeClock())
    replay.open()
    replay.command(np.array([1.0, -1.0]), np.zeros(2))
    replay._clock.t = 0.025
    np.testing.assert_array_equal(replay.read().position, first.position)


def test_mock_tracking_noise_is_a_smooth_seeded_error_around_the_exact_position():
    def readings(seed: int, std=(0.003, 0.0)) -> np.ndarray:
        clock = FakeClock()
        mock = MockBackend(np.array([0.5, 0.02]), lag=0.02, latency=0.0, clock=clock, noise_std=std, seed=seed)
        mock.open()
        out = []
        for k in range(20000):  # 200 s at 100 Hz, holding still
            clock.t = 0.01 * k
            out.append(mock.read().position)
        return np.array(out)

    q = readings(seed=1)
    np.testing.assert_array_equal(q[:, 1], 0.02)  # a joint without noise is exact
    error = q[:, 0] - 0.5
    assert 0.0025 < error.std() < 0.0035 and abs(error.mean()) < 0.001
    assert np.abs(np.diff(error)).max() < 0.001, "smooth: 10 ms apart, readings barely differ"
    lag = 200  # 2 s, five correlation times apart: nearly independent
    assert abs(np.corrcoef(error[:-lag], error[lag:])[0, 1]) < 0.2
    np.testing.assert_array_equal(readings(seed=1), q)
    assert not np.array_equal(readings(seed=2), q)
    with pytest.raises(ValueError, match="noise"):
        MockBackend(np.zeros(2), lag=0.02, latency=0.0, noise_std=-1.0)


def test_mock_tracking_noise_never_crosses_a_joint_limit():
    clock = FakeClock()
    limits = (np.array([0.0, -1.0]), np.array([1.0, 1.0]))
    mock = MockBackend(np.array([0.0, 0.5]), lag=0.02, latency=0.0, clock=clock, noise_std=0.01, limits=limits)
    mock.open()
    q = []
    for k in range(2000):
        clock.t = 0.01 * k
        q.append(mock.read().position)
    q = np.array(q)
    assert q[:, 0].min() == 0.0 and q[:, 0].max() > 0.005, "at its lower limit the error only goes inward"
    assert q[:, 1].min() < 0.49 and q[:, 1].max() > 0.51


def test_partial_trajectory_holds_unnamed_joints():
    limits = dataclasses.replace(LIMITS, allow_partial=True)
    follower = TrajectoryFollower(limits, READY, command_timeout=0.5)
    spec = sine_chunk(NOW)
    follower.submit(dataclasses.replace(spec, joint_names=NAMES[7:], positions=spec.positions[:, 7:]), NOW)
    _, q, _, _ = run(follower, NOW, NOW + 1.1)
    np.testing.assert_allclose(q[:, :7], np.tile(READY[:7], (len(q), 1)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(q[-1, 7:], spec.positions[-1, 7:])


def ramp_chunk(t0: float, velocity: float, duration: float = 2.0, dt: float = 0.1, start=None):
    """left/joint_0 moving at ``velocity`` rad/s from ``start`` (READY), points at absolute t0 + k dt."""
    t = dt * np.arange(1, round(duration / dt) + 1)
    q = np.tile(READY if start is None else start, (len(t), 1))
    q[:, 0] += velocity * t
    return TrajectorySpec(NAMES, stamp=t0, time_from_start=t, positions=q)


A_MAX = LIMITS.max_acceleration[0]
V_STEP = LIMITS.max_velocity[0] * PERIOD  # the per-period velocity bound of left/joint_0


@pytest.mark.parametrize("stall", [0.1, 0.3, 1.0])
def test_after_a_stall_the_setpoint_resumes_where_it_was_with_bounded_velocity_and_acceleration(stall):
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    follower.submit(ramp_chunk(NOW, 1.5), NOW)
    _, before, _, _ = run(follower, NOW, NOW + 0.5)
    resume = NOW + 0.5 - PERIOD + stall  # the last step was at NOW + 0.49
    _, after, _, _ = run(follower, resume, resume + 0.5)
    q = np.vstack((before, after))[:, 0]
    steps = np.diff(q)
    first = abs(after[0, 0] - before[-1, 0])
    print(f"stall {stall:.1f} s: first step {first / V_STEP:.3f} x the velocity bound")
    assert first <= V_STEP, "the setpoint caught up the stalled time"
    # re-timed, not caught up: 0.5 s after the stall it is 1.5 rad/s x 0.5 s further, less half the
    # ramp from rest (1.5 / A_MAX s), and nothing of the stalled time
    assert after[-1, 0] - before[-1, 0] == pytest.approx(1.5 * (0.5 - 0.5 * 1.5 / A_MAX), abs=0.01)
    # the path speed ramps up from rest at the acceleration limit (speed changes per period)
    speeds = steps[len(before) - 1 :] / PERIOD
    assert speeds[0] >= 0 and np.all(np.abs(np.diff(np.concatenate([[0.0], speeds]))) <= A_MAX * PERIOD * 1.01)
    assert speeds[-1] == pytest.approx(1.5, rel=1e-3)


def test_jitter_below_the_stall_threshold_is_followed_in_time():
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5)
    follower.submit(ramp_chunk(NOW, 1.5), NOW)
    run(follower, NOW, NOW + 0.1 + PERIOD / 2)  # the last step at NOW + 0.1
    setpoint = follower.step(NOW + 0.1 + 1.4 * PERIOD)  # a late tick, not a stall
    assert setpoint.position[0] == pytest.approx(READY[0] + 1.5 * (0.1 + 1.4 * PERIOD), abs=1e-6)


STREAM_START = READY.copy()
STREAM_START[0] = -2.5  # room for 3 rad/s chunks towards the upper limit


def stream(follower, t0: float, messages: int, velocity: float, period: float = 0.1) -> float:
    """``messages`` 0.6 s chunks on the stream, one per ``period``, stepping in between; returns the
    time of the last one."""
    t = t0
    for k in range(messages):
        t = t0 + k * period
        start = follower.current(t)[0].copy()
        follower.submit(ramp_chunk(t, velocity, duration=0.6, dt=0.05, start=start), t, streamed=True)
        run(follower, t, t + period - 1e-9)
    return t


@pytest.mark.parametrize("velocity", [0.2, 3.0])
def test_a_stream_that_stops_decelerates_to_a_hold_along_its_path(velocity):
    timeout = 0.3
    follower = TrajectoryFollower(LIMITS, STREAM_START, command_timeout=0.5, stream_timeout=timeout)
    last = stream(follower, NOW, 5, velocity)
    assert follower.streaming
    times, q, _, samples = run(follower, last + 0.1, last + 1.0)
    moving = np.abs(np.diff(q[:, 0])) > 1e-12
    stopped_at = times[1:][moving][-1]
    bound = last + timeout + velocity / A_MAX + PERIOD
    print(f"{velocity} rad/s: stopped {stopped_at - last:.3f} s after the last message (bound {bound - last:.3f} s)")
    assert stopped_at <= bound + 1e-9
    assert follower.state == FollowerState.HOLDING and follower.hold_reason == HoldReason.STREAM_TIMEOUT
    # it kept the stream's path until the timeout, then slowed at the acceleration limit
    speeds = np.diff(q[:, 0]) / PERIOD
    keep = times[1:] <= last + timeout
    np.testing.assert_allclose(speeds[keep], velocity, rtol=1e-6)
    assert np.all(np.abs(np.diff(speeds)) <= A_MAX * PERIOD * 1.01)
    np.testing.assert_allclose(q[-1, 1:], STREAM_START[1:])  # on its path: only joint 0 ever moved
    assert samples[-1].velocity[0] == 0.0


def test_a_lone_trajectory_is_not_a_stream():
    follower = TrajectoryFollower(LIMITS, READY, command_timeout=0.5, stream_timeout=0.3)
    trajectory = follower.submit(ramp_chunk(NOW, 0.5, duration=1.0), NOW, streamed=True)  # first of a stream
    assert not follower.streaming
    run(follower, NOW, NOW + 1.1)
    assert follower.outcome(trajectory) == (Outcome.REACHED, None)
    # an action goal replacing a streamed trajectory ends the stream
    stream(follower, NOW + 2.0, 3, 0.5)
    assert follower.streaming
    goal = follower.submit(ramp_chunk(NOW + 2.3, 0.5, duration=1.0, start=follower.current(NOW + 2.3)[0]), NOW + 2.3)
    assert not follower.streaming
    run(follower, NOW + 2.3, NOW + 3.4)
    assert follower.outcome(goal) == (Outcome.REACHED, None)
