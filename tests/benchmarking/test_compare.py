"""Baseline comparison on planted data: directions, threshold, confidence intervals, exit codes."""

from __future__ import annotations

import json

import pytest

from memory.benchmarking.compare import classify, compare_dirs, run_compare

from .conftest import run_cli
from .planted import write_run

CLI = ["python", "-m", "memory.benchmarking.cli", "compare"]


def _dirs(tmp_path, factor, baseline_ci=None, current_ci=None):
    write_run(tmp_path / "baseline", 1.0, baseline_ci)
    write_run(tmp_path / "current", factor, current_ci)
    return ["--current-dir", str(tmp_path / "current"), "--baseline-dir", str(tmp_path / "baseline")]


def test_25_percent_worse_throughput_exits_2(tmp_path):
    proc = run_cli(CLI + _dirs(tmp_path, 0.75) + ["--threshold", "0.1"], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "regression" in proc.stdout and "throughput_ops_per_second" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert list((tmp_path / "current").glob("comparison_*.html"))


def test_25_percent_better_throughput_exits_0(tmp_path):
    proc = run_cli(CLI + _dirs(tmp_path, 1.25), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "improvement" in proc.stdout


def test_difference_inside_the_noise_exits_0(tmp_path):
    # 5 % worse: below the 10 % threshold.
    assert run_cli(CLI + _dirs(tmp_path / "a", 0.95), tmp_path).returncode == 0
    # 25 % worse but asv's confidence intervals overlap: noise, not a regression.
    proc = run_cli(CLI + _dirs(tmp_path / "b", 0.75, baseline_ci=0.3, current_ci=0.3), tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "within noise" in proc.stdout


def test_non_overlapping_intervals_still_regress(tmp_path):
    proc = run_cli(CLI + _dirs(tmp_path, 0.75, baseline_ci=0.05, current_ci=0.05), tmp_path)
    assert proc.returncode == 2


def test_directions():
    assert classify(100.0, 75.0, +1, 0.1)[0] == "regression"  # throughput down
    assert classify(1.0, 1.25, -1, 0.1)[0] == "regression"  # time up
    assert classify(1.0, 0.75, -1, 0.1)[0] == "improvement"  # time down
    assert classify(1.0, 1.05, -1, 0.1)[0] == "unchanged"
    assert classify(1.0, 1.5, -1, 0.1, [0.5, 1.6], [1.4, 1.7])[0] == "noise"


def test_compare_dirs_matches_by_path(tmp_path):
    _dirs(tmp_path, 0.75)
    result = compare_dirs(str(tmp_path / "current"), str(tmp_path / "baseline"), 0.1)
    # throughput and time per (complexity, batch); items_processed is neutral and not compared
    assert len(result.changes) == 2 * 3 * 2
    assert {c.metric for c in result.regressions} == {"throughput_ops_per_second", "total_time_seconds"}


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
    _dirs(tmp_path, 0.75)
    corrupt = tmp_path / "current" / "storage" / "read_latency_20250101_000000.json"
    corrupt.write_text("{truncated")
    proc = run_cli(CLI + ["--current-dir", str(tmp_path / "current"), "--baseline-dir", str(tmp_path / "baseline")],
                   tmp_path)
    assert proc.returncode == 2
    assert str(corrupt) in proc.stderr and "warning" in proc.stderr


def test_bad_threshold(tmp_path):
    _dirs(tmp_path, 1.0)
    assert run_compare(str(tmp_path / "current"), str(tmp_path / "baseline"), -1) == 1
    proc = run_cli(CLI + _dirs(tmp_path, 1.0) + ["--threshold", "abc"], tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
