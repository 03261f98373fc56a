"""BenchmarkResults: the spec's analysis snippet as written, DataFrames, plots and the HTML report."""

from __future__ import annotations

import json

import pytest

from memory.benchmarking.documents import ResultsError
from memory.benchmarking.results import BenchmarkResults

from .conftest import code_blocks, spec_text
from .planted import write_run


@pytest.fixture()
def results_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for n, factor in enumerate((1.0, 1.1, 0.9)):
        write_run(tmp_path / "benchmark_results", factor, timestamp=f"2025032{n}_120000")
    return tmp_path / "benchmark_results"


def test_spec_result_analysis_snippet_runs_as_written(results_dir):
    snippet = next(b for b in code_blocks(spec_text(), "python") if "BenchmarkResults(" in b)
    namespace: dict = {}
    exec(compile(snippet, "benchmarking-system.md", "exec"), namespace)
    assert len(namespace["storage_results"]) == 3
    frame = namespace["comparison_df"]
    assert len(frame) == 3 and "complexity_1_batch_100_throughput_ops_per_second" in frame.columns
    report = namespace["report_path"]
    html = open(report, encoding="utf-8").read()
    assert html.count("data:image/png;base64,") >= 2 and "write_throughput" in html
    assert (results_dir / "plots" / "storage_throughput.png").stat().st_size > 5000
    ax = namespace["fig"].axes[0]
    assert ax.get_xlabel() == "batch_size" and len(ax.lines) == 3 * 2  # 3 runs x 2 complexities
    assert len(ax.get_legend().get_texts()) == 6


def test_compare_results_metric_filter(results_dir):
    results = BenchmarkResults(str(results_dir))
    frame = results.compare_results(results.list_results(), metrics=["total_time_seconds"])
    metric_columns = [c for c in frame.columns if c not in ("run", "benchmark", "category", "timestamp", "file",
                                                              "commit", "error")]
    assert len(metric_columns) == 6 and all(c.endswith("_total_time_seconds") for c in metric_columns)


def test_list_filters_and_load(results_dir):
    results = BenchmarkResults(str(results_dir))
    assert results.list_results(category="retrieval") == []
    assert len(results.list_results(benchmark_name="write_throughput")) == 3
    doc = results.load_result(results.list_results()[0])
    assert doc["benchmark"] == "write_throughput"
    with pytest.raises(ResultsError):
        results.load_result(str(results_dir / "nope.json"))


def test_save_result_roundtrip(tmp_path):
    results = BenchmarkResults(str(tmp_path))
    path = results.save_result("custom", "storage", {"batch_10": {"throughput_ops_per_second": 5.0}},
                               {"execution_time": 1.0})
    doc = json.loads(open(path).read())
    assert set(doc) == {"benchmark", "category", "timestamp", "results", "metadata"}
    assert results.list_results(category="storage") == [path]


def test_plot_errors_and_no_x_axis(results_dir):
    results = BenchmarkResults(str(results_dir))
    files = results.list_results()
    fig = results.plot_comparison(files, metric="throughput_ops_per_second")
    assert fig.axes[0].lines
    with pytest.raises(ValueError, match="available metrics"):
        results.plot_comparison(files, metric="nope")


def test_report_without_results(tmp_path):
    with pytest.raises(ResultsError, match="no results"):
        BenchmarkResults(str(tmp_path)).generate_report()


def test_seed_function_benchmark_runs():
    from memory.benchmarking.benchmarks.storage import benchmark_write_throughput
    results = benchmark_write_throughput(batch_sizes=[10], data_complexity_levels=[1])
    leaf = results["complexity_1"]["batch_10"]
    assert set(leaf) == {"throughput_ops_per_second", "total_time_seconds", "items_processed"}
    assert leaf["items_processed"] == 10 and 0 < leaf["total_time_seconds"] < 60
    assert leaf["throughput_ops_per_second"] == pytest.approx(10 / leaf["total_time_seconds"], rel=1e-9)
