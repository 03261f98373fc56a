"""The asv adapter on real asv output: tools/asv_export.py turns a toy suite's results into the
documented JSON (nested params, metrics, asv statistics, errors)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memory.benchmarking import naming

from .conftest import REPO, run_cli

pytestmark = [pytest.mark.asv]


@pytest.fixture(scope="module")
def asv_results(toy_project, tmp_path_factory):
    """Run the toy suite once with plain `asv run` (quick profile) and return its results dir."""
    root = toy_project.parent
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], cwd=root, capture_output=True, check=True)
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    env = {"AGENTMEMORY_BENCH_PROFILE": "quick", "TOY_FAIL": ""}
    proc = run_cli(["python", "-m", "asv", "run", "--python=same", "--set-commit-hash", head,
                    "--bench", "^(storage|retrieval)", "-a", "repeat=3"], root, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / ".asv" / "results", head


def test_export_writes_the_documented_format(asv_results, tmp_path):
    results_dir, head = asv_results
    proc = run_cli(["python", str(REPO / "tools" / "asv_export.py"), "--results-dir", str(results_dir),
                    "--output-dir", str(tmp_path / "out")], results_dir.parent.parent)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(next((tmp_path / "out" / "storage").glob("write_throughput_*.json")).read_text())
    assert set(doc) >= {"benchmark", "category", "timestamp", "results", "metadata"}
    assert doc["benchmark"] == "write_throughput" and doc["category"] == "storage"
    assert len(doc["timestamp"]) == 15 and doc["timestamp"][8] == "_"
    leaf = doc["results"]["complexity_1"]["batch_100"]
    assert set(leaf) >= {"throughput_ops_per_second", "total_time_seconds", "items_processed", "stored_bytes"}
    assert leaf["items_processed"] == 100
    assert leaf["throughput_ops_per_second"] == pytest.approx(100 / leaf["total_time_seconds"])
    meta = doc["metadata"]
    assert meta["commit"] == head
    assert meta["execution_time"] > 0
    assert meta["backend"] == "memory" and meta["fixed_params"] == {"backend": "memory"}
    assert {"machine", "python", "packages", "stats", "params"} <= set(meta)
    assert "numpy" in meta["packages"]
    stats = meta["stats"]["complexity_1/batch_100"]["total_time_seconds"]
    assert set(stats) >= {"ci_99", "q25", "q75", "repeat"}
    assert len(meta["skipped"]) == 2 * 2  # the redis combinations (NotImplementedError)


def test_latency_and_items_specs(asv_results, tmp_path):
    results_dir, _ = asv_results
    run_cli(["python", str(REPO / "tools" / "asv_export.py"), "--results-dir", str(results_dir),
             "--output-dir", str(tmp_path)], results_dir.parent.parent)
    doc = json.loads(next((tmp_path / "storage").glob("read_latency_*.json")).read_text())
    leaf = doc["results"]["tier_stm"]["batch_10"]
    assert leaf["items_processed"] == 100  # items_per_call = [10, "batch_size"]
    assert leaf["latency_seconds"] == pytest.approx(leaf["total_time_seconds"] / 10)  # ops_per_call = 10


def test_export_errors_are_one_line(tmp_path):
    proc = run_cli(["python", str(REPO / "tools" / "asv_export.py"), "--results-dir", str(tmp_path / "none"),
                    "--output-dir", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run_cli(["python", str(REPO / "tools" / "asv_export.py"), "--results-dir", str(tmp_path / "empty"),
                    "--output-dir", str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 1 and "no asv result files" in proc.stderr


def test_unknown_commit(asv_results, tmp_path):
    results_dir, _ = asv_results
    proc = run_cli(["python", str(REPO / "tools" / "asv_export.py"), "--results-dir", str(results_dir),
                    "--commit", "deadbeef", "--output-dir", str(tmp_path)], tmp_path)
    assert proc.returncode == 1 and "deadbeef" in proc.stderr


def test_naming_rules():
    assert naming.snake_case("WriteThroughput") == "write_throughput"
    assert naming.path_key("batch_size", 100) == "batch_100"
    assert naming.path_key("tier", "stm") == "tier_stm"
    assert naming.nesting_order(["batch_size", "complexity", "backend"], "batch_size") == \
        ["backend", "complexity", "batch_size"]
    assert naming.evaluate_count([10, "batch_size"], {"batch_size": 5}) == 50
    assert naming.track_metric_name("track_p95_latency_ms", "ms") == "p95_latency_ms"
    assert naming.track_metric_name("track_tier", "bytes") == "tier_bytes"
    for metric, direction in [("throughput_ops_per_second", 1), ("total_time_seconds", -1), ("recall_at_k", 1),
                              ("peak_memory_bytes", -1), ("compression_ratio", 1), ("overhead_percent", -1),
                              ("items_processed", 0), ("retention_rate", 1), ("reconstruction_mse", -1)]:
        assert naming.metric_direction(metric) == direction, metric


def test_a_subset_run_names_metrics_as_the_whole_class_does():
    """A run of the class's second time method alone (asv -b, a confirmation pass) keeps its prefixed
    metric names, so it matches a full run's; samples and their spread are recorded."""
    from memory.benchmarking.asv_adapter import build_document

    infos = [{"name": "storage.WriteThroughput.time_store_loop", "type": "time", "unit": "seconds",
              "param_names": ["batch_size"], "items_per_call": "batch_size", "lineno": 10},
             {"name": "storage.WriteThroughput.time_store_batch", "type": "time", "unit": "seconds",
              "param_names": ["batch_size"], "items_per_call": "batch_size", "lineno": 20}]
    entry = {"result": [0.5], "params": [["100"]], "samples": [[0.4, 0.5, 0.6, 0.5, 0.5, 0.45]],
             "stats_q_25": [0.46], "stats_q_75": [0.5]}
    doc = build_document("storage", "write_throughput", infos,
                         {"decoded": {"storage.WriteThroughput.time_store_batch": entry}, "params": {}})
    leaf = doc["results"]["batch_100"]
    assert set(leaf) == {"store_batch_total_time_seconds", "store_batch_throughput_ops_per_second",
                         "store_batch_items_processed"}
    meta = doc["metadata"]
    assert meta["derived_metrics"] == {"store_batch_throughput_ops_per_second": "store_batch_total_time_seconds"}
    assert meta["metric_kinds"]["store_batch_total_time_seconds"] == "timing"
    cell = meta["stats"]["batch_100"]["store_batch_total_time_seconds"]
    assert cell["samples"] == [0.4, 0.5, 0.6, 0.5, 0.5, 0.45] and cell["n"] == 6 and cell["asv_params"] == ["100"]
    assert cell["spread"] == pytest.approx(1.4826 * 0.025 / 0.5, rel=1e-4)  # robust: MAD of the samples
    assert meta["unstable"] == []  # 7 % < 10 %
    # the derived throughput carries the samples inverted, never asv's interval of a time
    assert meta["stats"]["batch_100"]["store_batch_throughput_ops_per_second"]["samples"][0] == pytest.approx(250.0)


def test_a_run_of_one_combination_matches_the_full_run():
    """A confirmation pass re-runs one combination: asv marks the others NaN, the adapter leaves the
    then single-valued parameter out of the path, and compare still matches it to the full run."""
    import math

    from memory.benchmarking.asv_adapter import build_document
    from memory.benchmarking.compare import compare_documents

    infos = [{"name": "storage.Work.time_work", "type": "time", "unit": "seconds", "param_names": ["size"],
              "lineno": 1}]

    def doc(values, samples):
        entry = {"result": values, "params": [["100", "1000"]], "samples": samples}
        return build_document("storage", "work", infos, {"decoded": {"storage.Work.time_work": entry}, "params": {}})

    full = doc([0.1, 1.0], [[0.1] * 6, [1.0, 1.01, 0.99, 1.0, 1.02, 0.98]])
    subset = doc([math.nan, 2.0], [None, [2.0, 2.02, 1.98, 2.0, 2.04, 1.96]])
    assert list(subset["results"]) == ["total_time_seconds"]  # size is not nested any more
    (change,) = compare_documents(subset, full, threshold=0.1, judge_timings=True)  # as if side by side
    assert change.key == ("storage", "work", "size_1000", "total_time_seconds")
    assert change.status == "regression" and change.change == pytest.approx(1.0)
