"""BenchmarkRunner's Python API on the toy asv project: discovery, one benchmark, a parallel category."""

from __future__ import annotations

import json

import pytest

from memory.benchmarking.config import BenchmarkConfig
from memory.benchmarking.results import BenchmarkResults
from memory.benchmarking.runner import BenchmarkRunner, RunnerError, parse_asv_errors

pytestmark = [pytest.mark.asv, pytest.mark.slow]


def test_runner_api(toy_project, tmp_path, monkeypatch):
    monkeypatch.delenv("AGENTMEMORY_BENCH_PROFILE", raising=False)
    lines = []
    runner = BenchmarkRunner(BenchmarkConfig.for_profile("quick"), BenchmarkResults(str(tmp_path / "res")),
                             asv_config=str(toy_project), progress=lines.append)
    found = runner.discover_benchmarks()
    assert set(found) == {"storage", "compression", "memory_transition", "retrieval", "scalability", "integration"}
    assert set(runner.discover_benchmarks("storage")["storage"]) == {"write_throughput", "read_latency"}
    with pytest.raises(RunnerError, match="valid: compression"):
        runner.discover_benchmarks("nope")

    path = runner.run_benchmark("storage", "write_throughput", params={"batch_sizes": [4]})
    doc = json.loads(open(path).read())
    assert path.startswith(str(tmp_path / "res" / "storage" / "write_throughput_"))
    assert list(doc["results"]["complexity_1"]) == ["batch_4"]
    assert runner.completed_benchmarks["storage/write_throughput"]["path"] == path
    assert runner.running_benchmarks == {}
    assert any("storage/write_throughput measured" in line for line in lines)

    paths = runner.run_category("storage", parallel=True, max_workers=2)
    assert len(paths) == 2
    docs = [json.loads(open(p).read()) for p in paths]
    assert all(d["metadata"]["parallel"] is True and d["metadata"]["workers"] == 2 for d in docs)
    assert len({runner.completed_benchmarks[f"storage/{d['benchmark']}"]["worker_pid"] for d in docs}) == 2
    assert "0 failed" in runner.summary()


def test_parse_asv_errors_resolves_truncated_names():
    output = "\n".join([
        "[50.00%] ··· ...ughput.time_store_loop                 1/2 failed",
        "             For parameters: 10",
        "             Traceback (most recent call last):",
        "             RuntimeError: boom",
        "[100.00%] ··· storage.ReadLatency.time_read            ok",
    ])
    errors = parse_asv_errors(output, ["storage.WriteThroughput.time_store_loop", "storage.ReadLatency.time_read"])
    assert errors == {"storage.WriteThroughput.time_store_loop": "RuntimeError: boom (params: (10))"}
