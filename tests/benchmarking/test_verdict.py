"""The decision rule on planted sample sets: noisy equal, shifted, too few samples, deterministic
metrics changed by one unit; the rank test against asv's own implementation."""

from __future__ import annotations

import random

import pytest

from memory.benchmarking import verdict
from memory.benchmarking.verdict import judge, mann_whitney_u, ratio_interval, spread


def _noisy(rng: random.Random, n: int, level: float, noise: float) -> list:
    """Timing-like samples: a floor plus right-skewed load noise (lognormal), as on a busy machine."""
    return [level * (1 + noise * rng.lognormvariate(0, 1) / 2) for _ in range(n)]


def test_noisy_equal_samples_almost_never_regress():
    rng = random.Random(7)
    verdicts = [judge("timing", 1.0, 1.0, -1, 0.1, _noisy(rng, 6, 1.0, 0.3), _noisy(rng, 6, 1.0, 0.3))
                for _ in range(500)]
    false_alarms = sum(v.status == "regression" for v in verdicts)
    assert false_alarms <= 5, f"{false_alarms} of 500 A/A pairs flagged"  # alpha 0.01 and a 10 % threshold
    assert any(v.status == "noise" for v in verdicts)  # medians do differ by > 10 % in some pairs


def test_a_25_percent_shift_is_found():
    rng = random.Random(11)
    found = sum(judge("timing", 1.0, 1.25, -1, 0.1, _noisy(rng, 6, 1.0, 0.05),
                      _noisy(rng, 6, 1.25, 0.05)).status == "regression" for _ in range(200))
    assert found >= 190
    faster = judge("timing", 1.0, 0.8, -1, 0.1, _noisy(rng, 6, 1.0, 0.05), _noisy(rng, 6, 0.8, 0.05))
    assert faster.status == "improvement"
    # higher-is-better metrics (a sampled efficiency) regress when they fall
    assert judge("timing", 1.0, 0.7, +1, 0.1, [1, 1.01, 0.99, 1.02, 0.98, 1.0],
                 [0.7, 0.71, 0.69, 0.72, 0.68, 0.7]).status == "regression"


def test_timings_not_measured_side_by_side_are_unconfirmed_never_regressions():
    base = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
    slower, faster = [x * 1.4 for x in base], [x * 0.6 for x in base]
    assert judge("timing", 1.0, 1.4, -1, 0.1, base, slower).status == "regression"
    for cur in (slower, faster):
        v = judge("timing", 1.0, 1.0, -1, 0.1, base, cur, side_by_side=False)
        assert v.status == "unconfirmed" and v.p_value < 0.01 and "cli continuous" in v.reason
    # what is noise or unchanged stays so; deterministic and resource metrics do not depend on it
    assert judge("timing", 1.0, 1.0, -1, 0.1, base, base, side_by_side=False).status == "unchanged"
    assert judge("deterministic", 1.0, 0.9, +1, 0.1, side_by_side=False).status == "regression"
    assert judge("resource", 100.0, 150.0, -1, 0.1, side_by_side=False).status == "regression"


def test_a_shift_inside_the_threshold_is_unchanged_however_significant():
    base = [1.0, 1.001, 0.999, 1.002, 0.998, 1.0005]
    v = judge("timing", 1.0, 1.05, -1, 0.1, base, [x * 1.05 for x in base])
    assert v.status == "unchanged" and v.p_value < 0.01


@pytest.mark.parametrize("n_base, n_cur", [(4, 6), (6, 4), (1, 1), (0, 6)])
def test_too_few_samples_is_not_enough_data(n_base, n_cur):
    v = judge("timing", 1.0, 2.0, -1, 0.1, [1.0] * n_base, [2.0 + i for i in range(n_cur)])
    assert v.status == "not enough data" and v.n_baseline == n_base and v.n_current == n_cur


def test_deterministic_metric_changed_by_one_unit_is_a_verdict():
    assert judge("deterministic", 1000, 999, +1, 0.1).status == "regression"   # one hit fewer
    assert judge("deterministic", 487, 488, -1, 0.1).status == "regression"    # one byte more
    assert judge("deterministic", 0.25, 0.2501, -1, 0.5).status == "regression"  # beyond any threshold
    assert judge("deterministic", 487, 486, -1, 0.1).status == "improvement"
    assert judge("deterministic", 0.3, 0.1 + 0.2, +1, 0.1).status == "unchanged"  # round-off only
    assert judge("deterministic", 0.0, 0.0, +1, 0.1).status == "unchanged"


def test_resource_metrics_use_the_threshold():
    assert judge("resource", 100e6, 105e6, -1, 0.1).status == "unchanged"
    assert judge("resource", 100e6, 125e6, -1, 0.1).status == "regression"


def test_rank_test_matches_asv_without_ties():
    asv_stats = pytest.importorskip("asv._stats")
    rng = random.Random(3)
    for _ in range(50):
        x = [rng.random() for _ in range(rng.randint(2, 10))]
        y = [rng.random() + rng.choice((0, 0.3)) for _ in range(rng.randint(2, 10))]
        u, p = mann_whitney_u(x, y)
        u_asv, p_asv = asv_stats.mann_whitney_u(x, y)
        assert u == u_asv and p == pytest.approx(p_asv, rel=1e-9)


def test_rank_test_extremes():
    assert mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])[1] == pytest.approx(verdict.min_p_value(5, 5))
    assert mann_whitney_u([1.0] * 6, [1.0] * 6)[1] == 1.0
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])


def test_intervals_are_positive_seeded_and_cover_the_ratio():
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]
    cur = [x * 1.3 for x in base]
    interval = ratio_interval(base, cur)
    assert interval == ratio_interval(base, cur)  # the same samples give the same interval
    low, high = interval
    assert 0 < low <= 1.3 <= high
    assert ratio_interval([1.0], cur) is None and ratio_interval([0.0, 0.0], cur) is None


def test_spread_is_robust():
    assert spread([1.0, 1.0, 1.0]) == 0.0
    assert spread([1.0, 1.01, 0.99, 1.0, 50.0]) < 0.02  # one outlier does not make it unstable
    assert spread([1.0, 1.5, 0.6, 1.2, 0.8]) > verdict.UNSTABLE_SPREAD
    assert spread([1.0, 2.0]) is None


def test_percent_overheads_compare_in_points():
    base = [1.0, 1.2, 0.8, 1.1, 0.9, 1.0]  # an overhead around 1 %: relative changes would explode
    assert judge("timing", 1.0, 3.0, -1, 0.1, base, [x + 2 for x in base], percent=True).status == "unchanged"
    v = judge("timing", 1.0, 16.0, -1, 0.1, base, [x + 15 for x in base], percent=True)
    assert v.status == "regression" and v.change == pytest.approx(0.15) and v.interval is None


def test_confirmation_needs_the_shift_in_every_process():
    from memory.benchmarking.verdict import blocks_separated

    base = [1.0, 1.01, 0.99] + [1.3, 1.31, 1.29] + [1.0, 1.02, 0.98]  # one slow process
    slower = [x * 1.25 for x in [1.0, 1.01, 0.99] * 3]
    assert not blocks_separated(base, slower, 3, -1, worse=True)  # 1.25 < 1.3: not in every process
    assert blocks_separated(base[:3] * 3, slower, 3, -1, worse=True)
    assert not blocks_separated(base[:3] * 3, slower, 3, -1, worse=False)
    assert blocks_separated(slower, base[:3] * 3, 3, -1, worse=False)  # faster in every process
    assert blocks_separated([1.0] * 6, [0.5] * 6, 2, +1, worse=True)  # a throughput that fell
    assert not blocks_separated([1.0] * 5, [2.0] * 6, 2, -1, worse=True)  # blocks must be equal
    assert not blocks_separated([1.0] * 6, [2.0] * 6, 1, -1, worse=True)  # one process proves nothing
    # a load burst in two of a baseline process's three samples: its best sample still shows the
    # process's speed, so a real 2x slowdown is confirmed (the block median 2.5 would hide it)
    burst = [1.0, 1.0, 1.0] + [1.0, 2.5, 2.6] + [1.0, 1.0, 1.0]
    assert blocks_separated(burst, [2.0, 2.05, 1.98] * 3, 3, -1, worse=True)
    # under no change, separation by any per-block statistic happens 1 / C(12, 6) of the time
    rng = random.Random(3)
    hits = sum(blocks_separated(_noisy(rng, 18, 1.0, 0.5), _noisy(rng, 18, 1.0, 0.5), 6, -1, worse=True)
               for _ in range(4000))
    assert hits <= 20, hits  # expected 4000 / 924 = 4.3

    # an overhead of thousands of percent (memory against an agent doing nothing) changes relatively
    big = [3000.0, 3100.0, 2900.0, 3050.0, 2950.0, 3000.0]
    assert judge("timing", 3000.0, 3100.0, -1, 0.1, big, [x + 100 for x in big], percent=True).status == "unchanged"
