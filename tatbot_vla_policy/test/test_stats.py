"""RollingStats (inference ms for status and the worker's budget) and RateMeter (publish rate)."""

import numpy as np
import pytest

from tatbot_vla_policy.core.stats import RateMeter, RollingStats


def test_rolling_stats_match_numpy_over_the_window():
    stats = RollingStats(window=50)
    assert stats.summary() == (0.0, 0.0, 0.0)
    stats.add(7.0)
    assert stats.summary() == (7.0, 7.0, 7.0)
    values = np.random.default_rng(0).gamma(2.0, 10.0, size=120)
    for v in values:
        stats.add(v)
    kept = values[-50:]  # older samples left the window
    last, mean, p95 = stats.summary()
    assert last == kept[-1]
    assert mean == pytest.approx(kept.mean())
    assert p95 == pytest.approx(np.percentile(kept, 95))


def test_rate_meter_counts_the_events_of_its_window():
    meter = RateMeter(window=1.0)
    assert meter.rate(0.0) == 0.0
    for k in range(21):
        meter.tick(k * 0.1)  # 10 Hz for 2 s
    assert meter.rate(2.0) == pytest.approx(10.0)
    assert meter.rate(3.5) == 0.0  # all of them older than the window
