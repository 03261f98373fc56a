"""Every command of benchmarking-system.md, run as written (subprocess, temp dir, quick profile), and
the CLI's bad-input handling. The run commands use the toy asv project (one tiny class per category)
so the whole file takes about a minute; test_real_suite.py runs the real suite."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from .conftest import code_blocks, run_cli, spec_commands, spec_text

pytestmark = [pytest.mark.asv, pytest.mark.slow]


def _documents(folder: Path):
    return [json.loads(p.read_text()) for p in folder.rglob("*.json") if p.name != "benchmark_config.json"
            and not p.name.startswith("comparison")]


def test_every_spec_command_runs_as_written(workdir, toy_env, monkeypatch):
    text = spec_text()
    commands = spec_commands(text)
    assert len(commands) >= 15, commands
    # The configuration snippet writes custom_config.json, which `run --config custom_config.json` uses.
    monkeypatch.chdir(workdir)
    snippet = next(b for b in code_blocks(text, "python") if "config.save(" in b)
    exec(compile(snippet, "benchmarking-system.md", "exec"), {})
    # The compare commands need these directories.
    for folder in ("results/baseline", "results/run1"):
        proc = run_cli(["python", "-m", "memory.benchmarking.cli", "run", "--output-dir", folder], workdir, toy_env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for command in commands:
        proc = run_cli(shlex.split(command), workdir, toy_env)
        output = proc.stdout + proc.stderr
        assert "Traceback" not in output, f"{command}\n{output}"
        expected = (0, 2) if " compare " in command else (0,)
        assert proc.returncode in expected, f"{command} -> {proc.returncode}\n{output}"
        if " run" in command:
            assert "benchmark(s) run, 0 failed" in proc.stdout, output
    # What those commands produced.
    default_docs = _documents(workdir / "benchmark_results")
    assert {d["category"] for d in default_docs} == {"storage", "compression", "memory_transition", "retrieval",
                                                      "scalability", "integration"}
    parallel = [d for d in default_docs if d["metadata"].get("parallel")]
    assert parallel and all(d["metadata"]["workers"] > 1 for d in parallel)
    custom = _documents(workdir / "custom_benchmark_results")  # output_dir from custom_config.json
    write = next(d for d in custom if d["benchmark"] == "write_throughput")
    assert write["metadata"]["params"]["batch_sizes"] == [10, 50, 100]
    assert set(write["results"]["complexity_1"]) == {"batch_10", "batch_50", "batch_100"}
    assert list((workdir / "benchmark_results" / "reports").glob("report_storage_*.html"))
    assert _documents(workdir / "results" / "current")


def test_params_override_is_recorded(workdir, toy_env):
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "run", "--category", "storage", "--benchmark",
                    "write_throughput", "--params", '{"batch_sizes": [7], "data_complexity_levels": [2]}',
                    "--output-dir", "out"], workdir, toy_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the run's header (profile, where results go) is printed once (the CLI and the runner both printed it)
    assert len([line for line in proc.stdout.splitlines() if "results in" in line]) == 1, proc.stdout
    (doc,) = _documents(workdir / "out")
    assert doc["metadata"]["params"]["batch_sizes"] == [7]
    assert doc["metadata"]["param_overrides"] == {"batch_sizes": [7], "data_complexity_levels": [2]}
    assert list(doc["results"]) == ["complexity_2"] and list(doc["results"]["complexity_2"]) == ["batch_7"]
    # --params from a file, and the --profile flag
    (workdir / "p.json").write_text('{"batch_sizes": [3]}')
    proc = run_cli(["python", "scripts/benchmark.py", "run", "--category", "storage", "--benchmark",
                    "write_throughput", "--params", "p.json", "--profile", "quick", "--output-dir", "out2"],
                   workdir, toy_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (doc,) = _documents(workdir / "out2")
    assert list(doc["results"]["complexity_1"]) == ["batch_3"]


def test_failing_benchmark_does_not_stop_the_run(workdir, toy_env):
    env = dict(toy_env, TOY_FAIL="1")
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "run", "--category", "storage",
                    "--output-dir", "out"], workdir, env)
    assert proc.returncode == 1
    assert "FAILED storage/write_throughput" in proc.stdout and "planted failure" in proc.stdout
    docs = {d["benchmark"]: d for d in _documents(workdir / "out")}
    assert "planted failure" in docs["write_throughput"]["error"]
    assert "error" not in docs["read_latency"] and docs["read_latency"]["results"]


def test_crashed_benchmark_process_names_its_cause(workdir, toy_env):
    """A benchmark process killed by a signal (no traceback) is reported with the signal, not a bare 'failed'."""
    env = dict(toy_env, TOY_FAIL="kill")
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "run", "--category", "storage",
                    "--benchmark", "write_throughput", "--output-dir", "out"], workdir, env)
    assert proc.returncode == 1
    assert "killed by SIGKILL" in proc.stdout, proc.stdout
    docs = {d["benchmark"]: d for d in _documents(workdir / "out")}
    assert "killed by SIGKILL" in docs["write_throughput"]["error"]


def test_list_command(workdir, toy_env):
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "list"], workdir, toy_env)
    assert proc.returncode == 0 and "write_throughput" in proc.stdout and "integration:" in proc.stdout
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "list", "--category", "storage"], workdir, toy_env)
    assert proc.returncode == 0 and "compression" not in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "--benchmark", "write_throughput"], "--benchmark needs --category"),
    (["run", "--category", "nope"], "valid: compression, integration, memory_transition"),
    (["run", "--category", "storage", "--benchmark", "nope"], "valid: read_latency, write_throughput"),
    (["run", "--params", "{bad json"], "invalid JSON in --params"),
    (["run", "--params", "missing.json"], "--params file not found"),
    (["run", "--config", "missing.json"], "config file not found"),
    (["run", "--config", "bad.json"], "not valid JSON"),
    (["run", "--category", "storage", "--params", '{"bogus": 1}'], "storage.bogus"),
    (["run", "--workers", "0", "--parallel"], "--workers"),
    (["list", "--category", "nope"], "unknown category"),
    (["results", "list", "--results-dir", "missing"], "results directory not found"),
    (["results", "list", "--results-dir", "empty"], "no results"),
    (["results", "report", "--results-dir", "empty"], "no results"),
    (["compare", "--current-dir", "missing", "--baseline-dir", "empty"], "not found"),
    (["bogus"], "invalid choice"),
])
def test_bad_input_is_one_line_without_traceback(workdir, toy_env, args, message):
    (workdir / "bad.json").write_text("{oops")
    (workdir / "empty").mkdir()
    proc = run_cli(["python", "-m", "memory.benchmarking.cli"] + args, workdir, toy_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr


def test_corrupt_result_is_skipped_with_a_warning(workdir, toy_env):
    from .planted import write_run
    write_run(workdir / "res")
    bad = workdir / "res" / "storage" / "read_latency_20250101_000000.json"
    bad.write_text("{broken")
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "results", "list", "--results-dir", "res"],
                   workdir, toy_env)
    assert proc.returncode == 0 and "write_throughput" in proc.stdout
    assert "res/storage/read_latency_20250101_000000.json" in proc.stderr and "warning" in proc.stderr
