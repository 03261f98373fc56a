"""BenchmarkConfig: defaults, the spec's snippet, save/load, validation, profiles and the env vars."""

from __future__ import annotations

import json

import pytest

from memory.benchmarking.config import (BenchmarkConfig, CompressionConfig, IntegrationConfig,
                                        MemoryTransitionConfig, RetrievalConfig, ScalabilityConfig,
                                        StorageConfig)
from memory.errors import ConfigError

from .conftest import code_blocks, spec_text


def test_defaults_are_the_reference_grid():
    config = BenchmarkConfig()  # every field: test_api_compat.py
    assert config.storage.batch_sizes == [10, 100, 1000, 10000]
    assert config.storage.data_complexity_levels == [1, 5, 10]
    assert config.storage.num_samples == 1000
    assert config.output_dir == "benchmark_results"
    assert config.profile == "default"
    assert isinstance(config.storage, StorageConfig)
    assert isinstance(config.compression, CompressionConfig)
    assert isinstance(config.memory_transition, MemoryTransitionConfig)
    assert isinstance(config.retrieval, RetrievalConfig)
    assert isinstance(config.scalability, ScalabilityConfig)
    assert isinstance(config.integration, IntegrationConfig)


def test_spec_configuration_snippet_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    snippet = next(b for b in code_blocks(spec_text(), "python") if "config.save(" in b)
    namespace: dict = {}
    exec(compile(snippet, "benchmarking-system.md", "exec"), namespace)
    saved = json.loads((tmp_path / "custom_config.json").read_text())
    assert saved["storage"]["batch_sizes"] == [10, 50, 100]
    assert saved["retrieval"]["similarity_thresholds"] == [0.6, 0.7, 0.8]
    assert saved["output_dir"] == "custom_benchmark_results"
    loaded = BenchmarkConfig.load(tmp_path / "custom_config.json")  # what the default profile runs
    assert loaded.to_dict() == namespace["config"].resolved().to_dict()
    assert loaded.storage.batch_sizes == [10, 50, 100]


def test_save_default_path_creates_dirs(tmp_path):
    config = BenchmarkConfig(output_dir=str(tmp_path / "a" / "b"))
    path = config.save()
    assert path == str(tmp_path / "a" / "b" / "benchmark_config.json")
    assert BenchmarkConfig.load(path).to_dict() == config.resolved().to_dict()
    quick = BenchmarkConfig.for_profile("quick")
    assert BenchmarkConfig.load(quick.save(tmp_path / "q.json")).to_dict() == quick.to_dict()


@pytest.mark.parametrize("data, key", [
    ({"bogus": 1}, "bogus"),
    ({"storage": {"batch_size": [1]}}, "storage.batch_size"),
    ({"storage": {"batch_sizes": "10"}}, "storage.batch_sizes"),
    ({"storage": {"batch_sizes": [10, -1]}}, "storage.batch_sizes"),
    ({"storage": {"num_samples": 1.5}}, "storage.num_samples"),
    ({"retrieval": {"similarity_thresholds": [2.0]}}, "retrieval.similarity_thresholds"),
    ({"memory_transition": {"importance_weights": {"a": "x"}}}, "memory_transition.importance_weights.a"),
    ({"storage": []}, "storage"),
    ({"profile": "huge"}, "profile"),
    ({"output_dir": 3}, "output_dir"),
])
def test_invalid_files_name_the_key(tmp_path, data, key):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        BenchmarkConfig.load(path)
    assert key in str(info.value)


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BenchmarkConfig.load(bad)
    with pytest.raises(ConfigError, match="not found"):
        BenchmarkConfig.load(tmp_path / "missing.json")


def test_profiles_and_timing():
    quick, full = BenchmarkConfig.for_profile("quick"), BenchmarkConfig.for_profile("full")
    assert quick.storage.batch_sizes == [10, 100] and quick.storage.data_complexity_levels == [1]
    default = BenchmarkConfig.for_profile("default")
    assert len(full.retrieval.vector_dimensions) > len(default.retrieval.vector_dimensions)
    for config in (quick, BenchmarkConfig(), full):
        assert set(config.timing()) >= {"repeat", "number", "warmup_time"}
    with pytest.raises(ConfigError):
        BenchmarkConfig.for_profile("nope")


def test_explicit_values_win_over_the_profile(tmp_path, monkeypatch):
    config = BenchmarkConfig()
    config.storage.batch_sizes = [10, 50]
    path = config.save(tmp_path / "c.json")
    monkeypatch.setenv("AGENTMEMORY_BENCH_CONFIG", path)
    monkeypatch.setenv("AGENTMEMORY_BENCH_PROFILE", "quick")
    loaded = BenchmarkConfig.from_env()
    assert loaded.profile == "quick"
    assert loaded.storage.batch_sizes == [10, 50]  # explicit
    assert loaded.storage.data_complexity_levels == [1]  # from the quick profile
    assert loaded.timing() == BenchmarkConfig.for_profile("quick").timing()


def test_partial_file_and_env_without_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"profile": "quick", "integration": {"operations_per_test": 7}}))
    config = BenchmarkConfig.load(path)
    assert config.integration.operations_per_test == 7
    assert config.storage.batch_sizes == [10, 100]
    monkeypatch.delenv("AGENTMEMORY_BENCH_CONFIG", raising=False)
    monkeypatch.setenv("AGENTMEMORY_BENCH_PROFILE", "full")
    assert BenchmarkConfig.from_env().profile == "full"
    monkeypatch.setenv("AGENTMEMORY_BENCH_PROFILE", "bogus")
    with pytest.raises(ConfigError, match="AGENTMEMORY_BENCH_PROFILE"):
        BenchmarkConfig.from_env()


def test_apply_overrides():
    config = BenchmarkConfig().apply_overrides({"batch_sizes": [5]}, category="storage")
    assert config.storage.batch_sizes == [5]
    with pytest.raises(ConfigError, match="storage.nope"):
        config.apply_overrides({"nope": 1}, category="storage")
    with pytest.raises(ConfigError, match="unknown category"):
        config.apply_overrides({"x": 1}, category="bogus")


def test_package_import_is_light():
    import subprocess
    import sys
    code = ("import sys, memory.benchmarking, memory.benchmarking.config; "
            "print(any(m in sys.modules for m in ('pandas', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
