"""Code written against the reference implementation's documented API runs unchanged (issue #12):
compare_results' ``run`` column, ``nested_value`` columns and metric filter, plot_comparison against a
metric, the series cap with a legend, save_plot's folder, BenchmarkConfig's reference defaults, and the
quick and default profiles still running exactly the grids they ran before."""

from __future__ import annotations

import json

import pytest

from memory.benchmarking.config import OPT_IN_CATEGORIES, BenchmarkConfig
from memory.benchmarking.documents import ResultsError
from memory.benchmarking.results import ID_COLUMNS, MAX_SERIES, BenchmarkResults
from memory.errors import ConfigError

from .conftest import code_blocks, spec_text
from .planted import BATCHES, write_run

THROUGHPUT, TIME = "throughput_ops_per_second", "total_time_seconds"


def _runs(folder, n):
    """`n` planted write_throughput runs (2 complexities x 3 batch sizes), one a day, oldest first."""
    return [write_run(folder, 1.0 + i / 10, timestamp=f"202503{i + 1:02d}_120000") for i in range(n)]


def _metric_columns(frame):
    return [c for c in frame.columns if c not in ID_COLUMNS]


# ---- the spec's Result Analysis snippet ------------------------------------------------------------


def test_result_analysis_snippet_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _runs(tmp_path / "benchmark_results", 3)
    snippet = next(b for b in code_blocks(spec_text(), "python") if "BenchmarkResults(" in b)
    namespace: dict = {}
    exec(compile(snippet, "benchmarking-system.md", "exec"), namespace)
    frame = namespace["comparison_df"]
    assert list(frame["run"]) == [1, 2, 3]
    assert "complexity_1_batch_100_throughput_ops_per_second" in frame.columns
    assert not [c for c in _metric_columns(frame) if "/" in c]
    ax = namespace["fig"].axes[0]
    assert ax.get_xlabel() == "batch_size" and ax.get_legend() is not None
    assert (tmp_path / "benchmark_results" / "plots" / "storage_throughput.png").is_file()


# ---- compare_results --------------------------------------------------------------------------------


def test_run_column_numbers_files_in_the_order_given(tmp_path):
    files = _runs(tmp_path, 3)
    results = BenchmarkResults(str(tmp_path))
    frame = results.compare_results(list(reversed(files)))
    assert list(frame.columns[:len(ID_COLUMNS)]) == list(ID_COLUMNS)
    assert list(frame["run"]) == [1, 2, 3] and list(frame["file"]) == list(reversed(files))
    assert list(frame["timestamp"]) == ["20250303_120000", "20250302_120000", "20250301_120000"]


def test_an_unreadable_file_keeps_its_run_number_unused(tmp_path, capsys):
    first, second = _runs(tmp_path, 2)
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    frame = BenchmarkResults(str(tmp_path)).compare_results([first, str(bad), second])
    assert list(frame["run"]) == [1, 3] and "skipping" in capsys.readouterr().err


def test_nested_results_flatten_with_underscores(tmp_path):
    results = BenchmarkResults(str(tmp_path))
    path = results.save_result("custom", "storage", {"nested": {"value": 1.5}, "flat": 2.0})
    frame = results.compare_results([path])
    assert _metric_columns(frame) == ["nested_value", "flat"]
    assert frame.loc[0, "nested_value"] == 1.5 and frame.loc[0, "flat"] == 2.0


def test_clashing_flattened_names_keep_their_paths(tmp_path):
    results = BenchmarkResults(str(tmp_path))
    path = results.save_result("custom", "storage", {"a_b": {"c": 1.0}, "a": {"b_c": 2.0}, "run": 3.0})
    frame = results.compare_results([path])
    assert _metric_columns(frame) == ["a_b_c", "results/a/b_c", "results/run"]
    assert frame.loc[0, "run"] == 1 and frame.loc[0, "results/run"] == 3.0


def test_metrics_keeps_only_those_metric_columns(tmp_path):
    files = _runs(tmp_path, 2)
    results = BenchmarkResults(str(tmp_path))
    frame = results.compare_results(files, metrics=[THROUGHPUT])
    assert list(frame.columns) == list(ID_COLUMNS) + [f"complexity_{c}_batch_{b}_{THROUGHPUT}"
                                                      for c in (1, 5) for b in BATCHES]
    one = results.compare_results(files, metrics=[f"complexity_5_batch_10_{TIME}"])  # a whole column name
    assert _metric_columns(one) == [f"complexity_5_batch_10_{TIME}"]
    assert list(results.compare_results([]).columns) == list(ID_COLUMNS)


# ---- plot_comparison ----------------------------------------------------------------------------


def test_metric_as_x_axis_gives_one_point_per_run(tmp_path):
    files = _runs(tmp_path, 3)
    results = BenchmarkResults(str(tmp_path))
    ax = results.plot_comparison(files, metric=THROUGHPUT, x_axis=TIME).axes[0]
    assert ax.get_xlabel() == TIME and ax.get_ylabel() == THROUGHPUT
    assert len(ax.lines) == 6  # one series per parameter path
    frame = results.compare_results(files)
    for line in ax.lines:
        path = line.get_label().replace("/", "_")
        assert list(line.get_xdata()) == list(frame[f"{path}_{TIME}"])  # a point per run
        assert list(line.get_ydata()) == list(frame[f"{path}_{THROUGHPUT}"])
    with pytest.raises(ValueError, match="a parameter of the path keys"):
        results.plot_comparison(files, metric=THROUGHPUT, x_axis="no_such_thing")


def test_parameter_x_axis_still_works(tmp_path):
    files = _runs(tmp_path, 2)
    ax = BenchmarkResults(str(tmp_path)).plot_comparison(files, metric=THROUGHPUT, x_axis="batch_size").axes[0]
    assert len(ax.lines) == 2 * 2 and all(list(line.get_xdata()) == list(BATCHES) for line in ax.lines)


def _legend_and_colours(ax):
    legend = ax.get_legend()
    assert legend is not None
    return legend, [line.get_color() for line in ax.lines]


def test_many_runs_are_capped_to_the_latest_with_a_legend(tmp_path):
    files = _runs(tmp_path, 25)
    ax = BenchmarkResults(str(tmp_path)).plot_comparison(files, metric=THROUGHPUT, x_axis="batch_size").axes[0]
    legend, colours = _legend_and_colours(ax)
    assert len(ax.lines) == MAX_SERIES == len(legend.get_texts())
    assert len(set(colours)) == len(colours)
    assert legend.get_title().get_text() == "latest 4 of 25 runs"
    shown = {text.get_text().split()[1] for text in legend.get_texts()}
    assert shown == {"22", "23", "24", "25"}  # "run N ...": the four latest runs


def test_many_parameter_paths_are_capped_with_a_note(tmp_path):
    results = BenchmarkResults(str(tmp_path))
    tree = {f"key_{i}": {THROUGHPUT: float(i)} for i in range(12)}
    files = [results.save_result("wide", "storage", tree, timestamp=f"2025030{d}_120000") for d in (1, 2)]
    ax = results.plot_comparison(files, metric=THROUGHPUT).axes[0]
    legend, colours = _legend_and_colours(ax)
    assert len(ax.lines) == MAX_SERIES and len(set(colours)) == MAX_SERIES
    assert legend.get_title().get_text() == f"first {MAX_SERIES} of 12 series"


def test_few_series_get_a_legend_without_a_note(tmp_path):
    files = _runs(tmp_path, 1)
    ax = BenchmarkResults(str(tmp_path)).plot_comparison(files, metric=THROUGHPUT, x_axis="batch_size").axes[0]
    legend, _ = _legend_and_colours(ax)
    assert len(legend.get_texts()) == 2 and legend.get_title().get_text() == ""


# ---- save_plot ------------------------------------------------------------------------------------


def test_save_plot_writes_under_results_dir_plots_and_returns_the_path(tmp_path):
    files = _runs(tmp_path / "res", 1)
    results = BenchmarkResults(str(tmp_path / "res"))
    fig = results.plot_comparison(files, metric=THROUGHPUT, x_axis="batch_size")
    path = results.save_plot(fig, "storage_throughput.png")
    assert path == str(tmp_path / "res" / "plots" / "storage_throughput.png")
    assert (tmp_path / "res" / "plots" / "storage_throughput.png").stat().st_size > 5000
    assert results.save_plot(fig, "x.png", output_dir=str(tmp_path / "elsewhere")) == str(tmp_path / "elsewhere"
                                                                                           / "x.png")
    with pytest.raises(ResultsError):
        results.save_plot(fig, "../outside.png")


# ---- BenchmarkConfig ----------------------------------------------------------------------------

REFERENCE_DEFAULTS = {
    "storage": {"batch_sizes": [10, 100, 1000, 10000], "data_complexity_levels": [1, 5, 10], "num_samples": 1000},
    "compression": {"dataset_sizes": [100, 1000, 10000], "target_dimensions": [128, 256, 512],
                    "training_iterations": 1000},
    "memory_transition": {"transition_thresholds": [0.3, 0.5, 0.7]},
    "retrieval": {"dataset_size": 10000, "query_counts": [1, 10, 50, 100], "vector_dimensions": [128, 256, 512],
                  "similarity_thresholds": [0.7, 0.8, 0.9]},
    "scalability": {"agent_counts": [1, 10, 50, 100, 500], "memory_sizes": [1000, 10000, 100000],
                    "parallel_operations": [1, 4, 8, 16]},
    "integration": {"operations_per_test": 1000, "concurrent_clients": [1, 5, 10, 20]},
}

#: What the quick and default profiles ran before the defaults became the reference's (they must not move:
#: the regression gate's false-alarm rates and every asv benchmark's params and history rest on them).
WEIGHTS = {"priority": 1.0, "reward": 0.5, "novelty": 0.5, "retrieval": 0.25}
PROFILE_RUNS = {
    "quick": {
        "storage": {"batch_sizes": [10, 100], "data_complexity_levels": [1], "num_samples": 20},
        "compression": {"dataset_sizes": [200], "target_dimensions": [16], "training_iterations": 5},
        "memory_transition": {"transition_thresholds": [0.5], "importance_weights": WEIGHTS},
        "retrieval": {"dataset_size": 300, "query_counts": [10], "vector_dimensions": [32],
                      "similarity_thresholds": [0.7]},
        "scalability": {"agent_counts": [1, 2], "memory_sizes": [100, 300], "parallel_operations": [2]},
        "integration": {"operations_per_test": 50, "concurrent_clients": [1, 2]},
        "output_dir": "benchmark_results", "profile": "quick",
    },
    "default": {
        "storage": {"batch_sizes": [10, 100, 1000, 10000], "data_complexity_levels": [1, 5, 10], "num_samples": 100},
        "compression": {"dataset_sizes": [1000, 5000], "target_dimensions": [16, 32, 64], "training_iterations": 50},
        "memory_transition": {"transition_thresholds": [0.3, 0.5, 0.7], "importance_weights": WEIGHTS},
        "retrieval": {"dataset_size": 5000, "query_counts": [10, 100], "vector_dimensions": [32, 128],
                      "similarity_thresholds": [0.6, 0.7, 0.8]},
        "scalability": {"agent_counts": [1, 4, 16], "memory_sizes": [1000, 10000], "parallel_operations": [1, 4]},
        "integration": {"operations_per_test": 500, "concurrent_clients": [1, 4]},
        "output_dir": "benchmark_results", "profile": "default",
    },
}


def test_benchmark_config_defaults_are_the_references():
    config = BenchmarkConfig().to_dict()
    for section, values in REFERENCE_DEFAULTS.items():
        for name, value in values.items():
            assert config[section][name] == value, f"{section}.{name}"
    assert config["output_dir"] == "benchmark_results"


def _recorded(grids: dict) -> dict:
    """The grids of the categories the recording knew; a category added since may only be opt-in (it
    runs only when named, so no earlier run's grid changes)."""
    added = set(grids) - set(PROFILE_RUNS["default"])
    assert added <= set(OPT_IN_CATEGORIES), added
    return {k: v for k, v in grids.items() if k not in added}


@pytest.mark.parametrize("profile", ["quick", "default"])
def test_quick_and_default_run_the_grid_they_ran_before(profile, tmp_path, monkeypatch):
    expected = PROFILE_RUNS[profile]
    assert _recorded(BenchmarkConfig.for_profile(profile).to_dict()) == expected
    assert _recorded(BenchmarkConfig(profile=profile).resolved().to_dict()) == expected
    # the suite's view: a saved BenchmarkConfig() (reference values) under the profile, as the runner hands it
    monkeypatch.setenv("AGENTMEMORY_BENCH_CONFIG", BenchmarkConfig().save(tmp_path / "c.json"))
    monkeypatch.setenv("AGENTMEMORY_BENCH_PROFILE", profile)
    assert _recorded(BenchmarkConfig.from_env().to_dict()) == expected


def test_default_profile_is_what_runs_without_any_config(monkeypatch):
    monkeypatch.delenv("AGENTMEMORY_BENCH_CONFIG", raising=False)
    monkeypatch.delenv("AGENTMEMORY_BENCH_PROFILE", raising=False)
    assert _recorded(BenchmarkConfig.from_env().to_dict()) == PROFILE_RUNS["default"]
    assert BenchmarkConfig().timing() == BenchmarkConfig.for_profile("default").timing()


def test_full_runs_the_whole_reference_grid():
    full = BenchmarkConfig.for_profile("full").to_dict()
    assert full == dict(BenchmarkConfig().to_dict(), profile="full")


def test_values_set_apart_from_both_grids_stay_explicit(tmp_path):
    config = BenchmarkConfig()
    config.storage.batch_sizes = [10, 50, 100]
    loaded = BenchmarkConfig.load(config.save(tmp_path / "c.json"))
    assert loaded.storage.batch_sizes == [10, 50, 100] and loaded.storage.num_samples == 100
    assert loaded.with_profile("full").storage.batch_sizes == [10, 50, 100]
    assert loaded.explicit_values() == {"storage": {"batch_sizes": [10, 50, 100]}}
    assert json.loads((tmp_path / "c.json").read_text())["storage"]["num_samples"] == 1000  # as set


def test_overrides_equal_to_a_default_stay_explicit_through_the_file(tmp_path, monkeypatch):
    from memory.benchmarking.runner import BenchmarkRunner

    # what `run --profile quick --params '{"batch_sizes": [10, 100, 1000, 10000]}'` hands the suite
    runner = BenchmarkRunner(BenchmarkConfig.for_profile("quick"))
    config = runner.config_with_params("storage", {"batch_sizes": [10, 100, 1000, 10000]})
    assert config.to_dict()["explicit"] == ["storage.batch_sizes"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config.to_dict()))
    monkeypatch.setenv("AGENTMEMORY_BENCH_CONFIG", str(path))
    monkeypatch.setenv("AGENTMEMORY_BENCH_PROFILE", "quick")
    seen = BenchmarkConfig.from_env()
    assert seen.storage.batch_sizes == [10, 100, 1000, 10000] and seen.storage.num_samples == 20
    assert "explicit" not in BenchmarkConfig.for_profile("default").to_dict()  # files as before otherwise
    with pytest.raises(ConfigError, match="explicit"):
        BenchmarkConfig.from_dict({"explicit": ["storage.nope"]})
    with pytest.raises(ConfigError, match="explicit"):
        BenchmarkConfig.from_dict({"explicit": [["storage.batch_sizes"]]})
