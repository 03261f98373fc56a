"""Baseline comparison on planted result files: verdicts on samples, one verdict per measurement,
exact deterministic metrics, smoke runs, the verdict JSON, exit codes."""

from __future__ import annotations

import json

import pytest

from memory.benchmarking.compare import compare_dirs, run_compare

from .conftest import run_cli
from .planted import write_quality_run, write_run

CLI = ["python", "-m", "memory.benchmarking.cli", "compare"]


def _dirs(tmp_path, factor, **current):
    write_run(tmp_path / "baseline", 1.0, seed="base")
    write_run(tmp_path / "current", factor, seed="cur", **current)
    return ["--current-dir", str(tmp_path / "current"), "--baseline-dir", str(tmp_path / "baseline")]


def test_25_percent_slower_with_tight_samples_exits_2(tmp_path):
    proc = run_cli(CLI + _dirs(tmp_path, 0.8) + ["--threshold", "0.1"], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "regression" in proc.stdout and "total_time_seconds (+throughput_ops_per_second)" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert list((tmp_path / "current").glob("comparison_*.html"))


@pytest.mark.parametrize("base_run, cur_run", [(None, None), ("continuous-1", "continuous-2"), (None, "x")])
def test_timings_of_runs_measured_at_different_times_are_unconfirmed(tmp_path, base_run, cur_run):
    # two `cli run`s (or the sides of two different continuous runs): a 25 % shift with tight samples
    # is what machine drift between runs does too, so it is reported, unconfirmed, and fails no build
    write_run(tmp_path / "baseline", 1.0, seed="base", interleaved_run=base_run)
    write_run(tmp_path / "current", 0.8, seed="cur", interleaved_run=cur_run)
    args = CLI + ["--current-dir", str(tmp_path / "current"), "--baseline-dir", str(tmp_path / "baseline"),
                  "--json", str(tmp_path / "verdict.json")]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 unconfirmed" in proc.stdout and "cli continuous" in proc.stdout
    doc = json.loads((tmp_path / "verdict.json").read_text())
    assert doc["side_by_side"] is False and doc["counts"]["unconfirmed"] == 6 and not doc["regressions"]
    assert all("different times" in m["reason"] for m in doc["measurements"])
    page = next((tmp_path / "current").glob("comparison_*.html")).read_text()
    assert "not measured side by side" in page
    # on a dedicated quiet machine the user may judge them anyway
    judged = run_cli(args + ["--judge-timings"], tmp_path)
    assert judged.returncode == 2, judged.stdout
    assert json.loads((tmp_path / "verdict.json").read_text())["counts"]["regression"] == 6


def test_sequential_runs_still_fail_on_deterministic_changes(tmp_path):
    write_quality_run(tmp_path / "baseline", recall=1.0)
    write_quality_run(tmp_path / "current", recall=0.9)
    proc = run_cli(CLI + ["--current-dir", str(tmp_path / "current"), "--baseline-dir",
                          str(tmp_path / "baseline")], tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert "regression" in proc.stdout and "recall" in proc.stdout


def test_25_percent_faster_is_an_improvement_and_exits_0(tmp_path):
    proc = run_cli(CLI + _dirs(tmp_path, 1.25), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "improvement" in proc.stdout


def test_small_or_noisy_differences_are_not_regressions(tmp_path):
    # 5 % slower: inside the 10 % threshold
    assert run_cli(CLI + _dirs(tmp_path / "a", 0.95), tmp_path).returncode == 0
    # 25 % slower by the medians, but the samples spread ±60 %: the rank test cannot tell, so noise
    result = compare_dirs(*_dirs(tmp_path / "b", 0.8, spread=0.6)[1::2], 0.1)
    assert not result.regressions
    assert result.of_status("noise"), [c.status for c in result.changes]
    assert all(c.p_value is not None and c.p_value >= 0.01 for c in result.of_status("noise"))


def test_one_verdict_per_measurement(tmp_path):
    _dirs(tmp_path, 0.8)
    result = compare_dirs(str(tmp_path / "current"), str(tmp_path / "baseline"), 0.1)
    # one timing per (complexity, batch): throughput is its twin, items_processed is neutral
    assert len(result.changes) == 2 * 3
    assert {c.metric for c in result.changes} == {"total_time_seconds"}
    assert all(c.derived == ["throughput_ops_per_second"] for c in result.changes)
    assert all(c.status == "regression" and c.kind == "timing" for c in result.changes)
    low, high = result.changes[0].interval
    assert 0 < low <= 1.25 <= high  # bootstrap interval of the median ratio: positive, holds the truth


def test_too_few_samples_is_not_enough_data(tmp_path):
    for samples, spread in ((3, 0.02), (6, None)):
        args = _dirs(tmp_path / f"s{samples}{spread}", 0.5, samples=samples, spread=spread)
        proc = run_cli(CLI + args, tmp_path)
        assert proc.returncode == 0, proc.stdout
        assert "6 not enough data" in proc.stdout and "needs 5 samples" not in proc.stderr


def test_quick_profile_results_are_not_judged(tmp_path):
    proc = run_cli(CLI + _dirs(tmp_path, 0.5, profile="quick"), tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "quick profile" in proc.stdout and "smoke" in proc.stdout


@pytest.mark.parametrize("recall, stored, status", [
    (0.999, 487.0, "regression"),    # one hit in a thousand lost
    (1.0, 488.0, "regression"),      # one byte more per memory
    (1.0, 486.0, "improvement"),
    (1.0, 487.0 * (1 + 1e-12), "unchanged"),  # float round-off only
])
def test_deterministic_metrics_are_exact(tmp_path, recall, stored, status):
    write_quality_run(tmp_path / "baseline")
    write_quality_run(tmp_path / "current", recall=recall, stored_bytes=stored)
    result = compare_dirs(str(tmp_path / "current"), str(tmp_path / "baseline"), threshold=0.5)
    statuses = {c.metric: c.status for c in result.changes}
    changed = "recall" if recall != 1.0 else "stored_bytes_per_memory"
    assert statuses[changed] == status
    assert all(c.kind == "deterministic" for c in result.changes)


def test_json_verdict(tmp_path):
    target = tmp_path / "verdict.json"
    proc = run_cli(CLI + _dirs(tmp_path, 0.8) + ["--json", str(target)], tmp_path)
    assert proc.returncode == 2
    doc = json.loads(target.read_text())
    assert doc["exit_code"] == 2 and doc["counts"]["regression"] == 6 == len(doc["regressions"])
    first = doc["regressions"][0]
    assert first["kind"] == "timing" and first["n_baseline"] == 6 and first["p_value"] < 0.01
    assert {"category", "benchmark", "path", "metric", "status", "change", "confirmed"} <= set(first)


@pytest.mark.parametrize("case", ["missing", "empty", "nothing_comparable"])
def test_errors_exit_1(tmp_path, case):
    write_run(tmp_path / "baseline")
    current = tmp_path / "current"
    if case == "empty":
        current.mkdir()
    elif case == "nothing_comparable":
        current.mkdir()
        (current / "other.json").write_text(json.dumps(
            {"benchmark": "other", "category": "retrieval", "timestamp": "1", "results": {"x": {"recall": 1.0}}}))
    proc = run_cli(CLI + ["--current-dir", str(current), "--baseline-dir", str(tmp_path / "baseline")], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_corrupt_file_is_skipped_with_a_warning(tmp_path):
    _dirs(tmp_path, 0.8)
    corrupt = tmp_path / "current" / "storage" / "read_latency_20250101_000000.json"
    corrupt.write_text("{truncated")
    proc = run_cli(CLI + ["--current-dir", str(tmp_path / "current"), "--baseline-dir", str(tmp_path / "baseline")],
                   tmp_path)
    assert proc.returncode == 2
    assert str(corrupt) in proc.stderr and "warning" in proc.stderr


def test_bad_threshold_and_alpha(tmp_path):
    _dirs(tmp_path, 1.0)
    assert run_compare(str(tmp_path / "current"), str(tmp_path / "baseline"), -1) == 1
    assert run_compare(str(tmp_path / "current"), str(tmp_path / "baseline"), 0.1, alpha=1.5) == 1
    proc = run_cli(CLI + _dirs(tmp_path, 1.0) + ["--threshold", "abc"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_continuous_screen_puts_forward_what_its_looser_test_moves(tmp_path):
    # 6 + 6 samples of a 25 % slowdown spread +-25 %: the rank test gives p from 0.009 to 0.13, so a
    # screen at the verdict's 0.01 would drop most of a real change before the paired pass saw it
    from memory.benchmarking.continuous import screen

    write_run(tmp_path / "baseline", 1.0, spread=0.25, seed="base")
    write_run(tmp_path / "current", 0.8, spread=0.25, seed="cur")
    screened = screen(tmp_path, 0.1, alpha=0.01, screen_alpha=0.1, confirm=True)
    judged = screen(tmp_path, 0.1, alpha=0.01, screen_alpha=0.1, confirm=False)
    timings = [c for c in screened.changes if c.p_value is not None]
    assert any(0.01 <= c.p_value < 0.1 for c in timings) and any(c.p_value >= 0.1 for c in timings)
    for c in timings:
        assert (c.status == "regression") == (c.p_value < 0.1), (c.status, c.p_value)
    assert all((c.status == "regression") == (c.p_value < 0.01) for c in judged.changes if c.p_value is not None)
    # the verdict is still stated at alpha; the screen's level is recorded beside it
    doc = screened.to_json()
    assert (doc["alpha"], doc["screen_alpha"]) == (0.01, 0.1) and judged.to_json()["screen_alpha"] is None


def _split_into_rounds(path: str, factors) -> None:
    """Rewrite a planted run's timings as one round (one process) per factor, 6 samples each, the
    round's samples `factor` times the timing."""
    from .planted import timing_samples

    doc = json.loads(open(path).read())
    for key, cell in doc["metadata"]["stats"].items():
        timing = cell["total_time_seconds"]
        median = sorted(timing["samples"])[len(timing["samples"]) // 2]
        timing["samples"] = [x for i, f in enumerate(factors) for x in timing_samples(median * f, 0.02, 6, f"{key}{i}")]
        timing["samples_per_round"] = [6] * len(factors)
        timing["n"] = len(timing["samples"])
        del cell["throughput_ops_per_second"]
    open(path, "w").write(json.dumps(doc))


def test_continuous_screen_drops_a_candidate_only_one_round_moved(tmp_path):
    # one process slow for its whole life moves its side's median as a slower commit would; a change
    # of the code slows every round
    from memory.benchmarking.continuous import screen

    _split_into_rounds(write_run(tmp_path / "baseline", 1.0, seed="base"), (1.0, 1.0))
    _split_into_rounds(write_run(tmp_path / "current", 1.0, seed="cur"), (1.4, 1.0))
    one_slow = [c for c in screen(tmp_path, 0.1, 0.01, 0.1, True).changes
                if c.metric == "total_time_seconds" and c.p_value < 0.1]  # what the rank test alone would flag
    assert one_slow and all(c.status == "noise" and c.change > 0.1 for c in one_slow)
    assert all(c.round_changes[0] == pytest.approx(0.4, abs=0.03) and abs(c.round_changes[1]) < 0.03
               for c in one_slow)
    assert "not every round moved" in one_slow[0].reason
    _split_into_rounds(write_run(tmp_path / "current", 1.0, seed="cur", timestamp="20250323_145624"), (1.25, 1.25))
    both = [c for c in screen(tmp_path, 0.1, 0.01, 0.1, True).changes if c.metric == "total_time_seconds"]
    assert both and all(c.status == "regression" and min(c.round_changes) > 0.2 for c in both)
    assert all(m["round_changes"] for m in screen(tmp_path, 0.1, 0.01, 0.1, True).to_json()["regressions"])


def test_the_page_says_why_each_measurement_got_its_verdict(tmp_path):
    # the reason (rank test, exactness, a confirmation's pairs) is what a reader checks a verdict by
    write_quality_run(tmp_path / "baseline", recall=1.0)
    write_quality_run(tmp_path / "current", recall=0.9)
    result = compare_dirs(str(tmp_path / "current"), str(tmp_path / "baseline"), 0.1)
    from memory.benchmarking.compare import write_html

    page = open(write_html(result, str(tmp_path))).read()
    assert 'class="why">deterministic metric changed</span>' in page
