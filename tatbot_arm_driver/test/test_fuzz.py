"""Hypothesis fuzz of the core: 10,000 generated trajectories, no exception escapes, accepted ones stay safe."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tatbot_arm_driver.core.follower import TrajectoryFollower
from tatbot_arm_driver.core.validation import SafetyLimits, TrajectoryRejected, TrajectorySpec
from tatbot_bringup.robot_config import load_robot_config

CONFIG = load_robot_config()
LIMITS = SafetyLimits.from_config(CONFIG)
NAMES = tuple(CONFIG.joint_names)
NOW = 2000.0
EXAMPLES = 10_000

MUTATIONS = (
    "none",
    "none",
    "none",
    "nan",
    "inf",
    "shuffle",
    "drop_joint",
    "duplicate",
    "unknown",
    "ragged",
    "shuffle_times",
    "past",
    "future",
    "velocities",
    "wild",
)


def make_spec(seed: int, n: int, step: float, dt: float, mutation: str, current: np.ndarray):
    """A random walk from ``current`` (cheap numpy generation from one seed), then one mutation."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0.0, step, (n, 14)) * LIMITS.max_velocity * dt, axis=0)
    q = np.clip(current + walk, LIMITS.lower - 0.01, LIMITS.upper + 0.01)
    t = dt * np.arange(1, n + 1)
    names = list(NAMES)
    velocities = None
    stamp = 0.0
    if mutation == "nan":
        q[rng.integers(n), rng.integers(14)] = np.nan
    elif mutation == "inf":
        q[rng.integers(n), rng.integers(14)] = rng.choice([np.inf, -np.inf])
    elif mutation == "shuffle":
        order = rng.permutation(14)
        names, q = [names[i] for i in order], q[:, order]
    elif mutation == "drop_joint":
        keep = np.sort(rng.choice(14, size=int(rng.integers(1, 14)), replace=False))
        names, q = [names[i] for i in keep], q[:, keep]
    elif mutation == "duplicate":
        names[int(rng.integers(1, 14))] = names[0]
    elif mutation == "unknown":
        names[int(rng.integers(14))] = "left/joint_9"
    elif mutation == "ragged":
        q = q[:, : int(rng.integers(0, 14))]
    elif mutation == "shuffle_times":
        t = rng.permutation(t) if n > 1 else -t
    elif mutation == "past":
        stamp = NOW - rng.uniform(0.0, 2.0) * n * dt
    elif mutation == "future":
        stamp = NOW + rng.uniform(0.0, 0.5)
    elif mutation == "velocities":
        velocities = rng.normal(0.0, 0.5, (n, len(names))) * LIMITS.max_velocity
    elif mutation == "wild":
        q = rng.uniform(-4.0, 4.0, (n, 14))
    return TrajectorySpec(tuple(names), stamp, t, q, velocities)


def test_fuzz_ten_thousand_trajectories():
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        seed=st.integers(0, 2**32 - 1),
        n=st.integers(1, 12),
        step=st.floats(0.0, 1.5),
        dt=st.sampled_from([0.005, 0.02, 1 / 30, 0.1]),
        mutation=st.sampled_from(MUTATIONS),
        start=st.floats(0.0, 1.0),
    )
    def check(seed, n, step, dt, mutation, start):
        current = LIMITS.lower + start * (LIMITS.upper - LIMITS.lower)
        follower = TrajectoryFollower(LIMITS, current, command_timeout=0.5)
        follower.step(NOW - LIMITS.control_period)
        spec = make_spec(seed, n, step, dt, mutation, current)
        try:
            follower.submit(spec, NOW)
        except TrajectoryRejected as exc:
            outcomes[exc.reason.value] += 1
            np.testing.assert_array_equal(follower.step(NOW).position, current)
            return
        outcomes["accepted"] += 1
        previous, last = current, NOW - LIMITS.control_period
        end = follower.end_time
        for t in np.linspace(NOW, end + 0.05, 8):
            setpoint = follower.step(t)
            assert np.all(np.isfinite(setpoint.position)) and np.all(np.isfinite(setpoint.velocity))
            assert np.all(setpoint.position >= LIMITS.lower) and np.all(setpoint.position <= LIMITS.upper)
            assert np.all(np.abs(setpoint.velocity) <= LIMITS.max_velocity)
            assert np.all(np.abs(setpoint.position - previous) <= LIMITS.max_velocity * (t - last) + 1e-12)
            previous, last = setpoint.position, t

    check()
    assert sum(outcomes.values()) >= EXAMPLES
    # the generator must exercise both sides of the gate and most rejection reasons
    assert outcomes["accepted"] > EXAMPLES // 20, outcomes
    assert len(outcomes) >= 10, outcomes
