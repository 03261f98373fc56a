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


def _phased_pairs(rng, pairs, ratio, slow=1.6, noise=0.03):
    """Block pairs measured back to back on a machine that runs in fast and slow phases (each pair
    inside one phase): (baseline, current) with current `ratio` times the baseline's work."""
    out = []
    for _ in range(pairs):
        phase = slow if rng.random() < 0.5 else 1.0
        out.append((phase * rng.gauss(1.0, noise), phase * ratio * rng.gauss(1.0, noise)))
    return out


def test_paired_confirmation_cancels_the_machine_phases():
    from memory.benchmarking.paired import relative_changes
    from memory.benchmarking.verdict import paired_verdict

    rng = random.Random(5)
    slower = [relative_changes(_phased_pairs(rng, 8, 1.25), False) for _ in range(3)]
    found = paired_verdict(slower, -1, 0.1, worse=True)
    assert found.confirmed and found.change == pytest.approx(0.25, abs=0.05) and found.p_value < 0.01
    assert len(found.process_changes) == 3 and found.pairs == 24
    assert not paired_verdict(slower, -1, 0.1, worse=False).confirmed  # it is no improvement
    # under no change, phases that move single samples by 60 % confirm nothing
    false = sum(paired_verdict([relative_changes(_phased_pairs(rng, 8, 1.0), False) for _ in range(3)],
                               -1, 0.1, worse=True).confirmed for _ in range(500))
    assert false == 0
    # an unpaired view of the same samples: the phases spread each commit's samples over 60 %
    base = [b for b, _ in _phased_pairs(rng, 24, 1.25)]
    assert max(base) / min(base) > 1.4


def test_paired_confirmation_needs_every_process_pair_and_the_threshold():
    from memory.benchmarking.verdict import paired_verdict, sign_test_p

    steady = [0.25, 0.24, 0.26, 0.25, 0.27, 0.23, 0.25, 0.26]
    other_way = [-0.05, -0.04, -0.06, -0.05, -0.05, -0.04, -0.06, -0.05]  # one process pair disagrees
    found = paired_verdict([steady, steady, other_way], -1, 0.1, worse=True)
    assert not found.confirmed and "every process pair" in found.reason
    small = [0.05, 0.04, 0.06, 0.05, 0.05, 0.04, 0.06, 0.05]  # consistent but within the threshold
    found = paired_verdict([small] * 3, -1, 0.1, worse=True)
    assert not found.confirmed and "threshold" in found.reason and found.p_value < 1e-6
    found = paired_verdict([steady[:2], steady[:2]], -1, 0.1, worse=True)  # 4 pairs: too few to judge
    assert not found.confirmed and "not enough data" in found.reason
    assert not paired_verdict([steady * 3], -1, 0.1, worse=True).confirmed  # one process pair proves nothing
    fell = [[-0.2] * 4, [-0.22] * 4, [-0.19] * 4]  # a throughput (higher is better) that fell by 20 %
    assert paired_verdict(fell, +1, 0.1, worse=True).confirmed
    assert paired_verdict(fell, -1, 0.1, worse=False).confirmed  # a time that fell: an improvement
    assert sign_test_p(7, 7) == pytest.approx(1 / 128) and sign_test_p(0, 5) == 1.0
    assert sign_test_p(17, 21) < 0.01 < sign_test_p(16, 21)


def test_paired_changes_of_a_percent_overhead_are_in_points():
    from memory.benchmarking.paired import relative_changes

    assert relative_changes([(1.0, 3.0), (2.0, 2.5)], True) == pytest.approx([0.02, 0.005])
    assert relative_changes([(1.0, 3.0)], False) == pytest.approx([2.0])
    assert relative_changes([(3000.0, 3300.0)], True) == pytest.approx([0.1])  # far beyond 100 %: relative


def test_percent_overheads_of_thousands_change_relatively():
    # an overhead of thousands of percent (memory against an agent doing nothing) changes relatively
    big = [3000.0, 3100.0, 2900.0, 3050.0, 2950.0, 3000.0]
    assert judge("timing", 3000.0, 3100.0, -1, 0.1, big, [x + 100 for x in big], percent=True).status == "unchanged"


def test_the_paired_pass_decides_the_direction_the_screen_only_flagged():
    """A loaded machine's first pass (6 + 6 samples) called a planted 53 % slower p95 an improvement;
    the pairs decide which way a flagged measurement moved, each way tested at alpha / 2."""
    from memory.benchmarking.compare import MetricChange
    from memory.benchmarking.continuous import paired_judge

    flagged = MetricChange("storage", "read_latency_p95", "batch_1", "p95_latency_ms", 1.0, 0.5, -1, -0.5,
                           "improvement", kind="timing", asv_name="storage.ReadLatencyP95.track_p95_latency_ms")
    slower = [[(1.0, 1.5), (2.0, 3.1), (1.0, 1.6), (1.1, 1.6)]] * 3  # the pairs: current 50 % slower
    found = paired_judge(flagged, 0.1, 0.01)(slower)
    assert found.confirmed and found.change == pytest.approx(0.5, abs=0.05)
    timed = MetricChange("storage", "read_latency", "batch_1", "throughput_ops_per_second", 100.0, 80.0, +1, -0.2,
                         "regression", kind="timing", asv_name="storage.ReadLatency.time_read")
    faster = [[(1.0, 0.7), (1.0, 0.72), (1.2, 0.8), (1.0, 0.69)]] * 3  # seconds: current 30 % faster
    found = paired_judge(timed, 0.1, 0.01)(faster)
    assert found.confirmed and found.change < -0.25  # lower seconds: an improvement, not the screen's regression
    mixed = [[(1.0, 1.5)] * 4, [(1.0, 0.6)] * 4, [(1.0, 1.5)] * 4]
    assert not paired_judge(flagged, 0.1, 0.01)(mixed).confirmed


def test_the_pairs_change_is_reported_in_the_metrics_own_direction():
    """A confirmed timing reports the pairs' median change (the first pass's stays as screen_change):
    seconds as they are, a throughput derived from them as items per second."""
    from memory.benchmarking.compare import MetricChange
    from memory.benchmarking.continuous import metric_change_of

    def flagged(metric, direction, asv="storage.WriteThroughput.time_store_batch"):
        return MetricChange("storage", "write_throughput", "batch_10", metric, 1.0, 3.0, direction, 2.0,
                            "regression", kind="timing", asv_name=asv)

    assert metric_change_of(flagged("store_batch_total_time_seconds", -1), 0.25) == pytest.approx(0.25)
    assert metric_change_of(flagged("throughput_ops_per_second", +1), 0.25) == pytest.approx(-0.2)  # 1/1.25
    p95 = flagged("p95_latency_ms", -1, asv="storage.ReadLatencyP95.track_p95_latency_ms")
    assert metric_change_of(p95, 0.5) == pytest.approx(0.5)  # a sampled track: its own value


def test_a_target_is_measured_again_only_while_the_pairs_could_still_confirm_it():
    """The confirmation stops re-measuring a target once even the most extreme further process pairs
    could not confirm it; while they could, it goes on, and a real change is still confirmed."""
    from memory.benchmarking.compare import MetricChange
    from memory.benchmarking.continuous import could_still_confirm, paired_judge

    flagged = MetricChange("storage", "read_latency", "batch_1", "total_time_seconds", 1.0, 1.3, -1, 0.3,
                           "regression", kind="timing", asv_name="storage.ReadLatency.time_read")
    judge = paired_judge(flagged, 0.1, 0.01)
    assert could_still_confirm(judge, [], 3)  # nothing measured yet
    slower = [(1.0, 1.3), (1.0, 1.25), (1.0, 1.35), (1.0, 1.3), (1.0, 1.28), (1.0, 1.31)]
    assert could_still_confirm(judge, [slower], 2) and could_still_confirm(judge, [slower, slower], 1)
    assert judge([slower] * 3).confirmed
    # two process pairs that went opposite ways: no third can make every process pair agree
    faster = [(1.0, 0.7)] * 6
    assert not could_still_confirm(judge, [slower, faster], 1)
    # two process pairs of A/A noise that happen to agree in sign: one more, however extreme, cannot
    # carry the median beyond 10 % nor the sign test to p < 0.005
    noise = [(1.0, 1.02), (1.0, 0.99), (1.0, 1.01), (1.0, 0.98), (1.0, 1.03), (1.0, 1.01), (1.0, 0.97), (1.0, 1.02)]
    assert judge([noise, noise]).process_changes[0] > 0 and not could_still_confirm(judge, [noise, noise], 1)
    assert not could_still_confirm(judge, [slower] * 3, 0)  # nothing left to measure


def test_round_changes_pair_each_round_of_one_side_with_the_same_round_of_the_other():
    base, cur = [1.0, 1.1, 1.0, 2.0, 2.1, 2.0], [1.5, 1.5, 1.6, 2.0, 2.0, 2.1]
    assert verdict.round_changes(base, cur, [3, 3], [3, 3]) == pytest.approx([0.5, 0.0])
    assert verdict.round_changes(base, cur, [2, 4], [3, 3]) == pytest.approx([(1.5 - 1.05) / 1.05, 0.0])
    # no split, one round, sizes that do not hold every sample, or different round counts: unknown
    for sizes in (None, [6], [3, 2], [2, 2, 2], [0, 6]):
        assert verdict.round_changes(base, cur, sizes, [3, 3]) is None


def test_rounds_agree_only_when_every_round_moved_the_flagged_way():
    assert verdict.rounds_agree([0.25, 0.2], -1, 0.1, "regression")  # seconds: up is worse
    assert not verdict.rounds_agree([0.4, 0.04], -1, 0.1, "regression")  # one slow process
    assert not verdict.rounds_agree([0.4, -0.2], -1, 0.1, "regression")
    assert verdict.rounds_agree([-0.3, -0.2], -1, 0.1, "improvement")
    assert verdict.rounds_agree([0.3, 0.2], 1, 0.1, "improvement")  # a throughput: up is better
    assert not verdict.rounds_agree([0.3, 0.2], 1, 0.1, "regression")


def test_round_sizes_come_from_how_each_sample_list_grew():
    from memory.benchmarking.rounds import split_sizes

    history = [{"b": [5, 0]}, {"b": [11, 6]}, {"b": [11, 6], "t": [4]}]
    assert split_sizes(history, "b") == [[5, 6], [6]]  # a combination without samples in round 1
    assert split_sizes(history, "t") == [[4]]  # a track: the final round only
    assert split_sizes([{"b": [5]}, {"b": [3]}], "b") == [[]]  # asv dropped samples: unknown
