"""Faults and hostile input to the results tools (#10, defects 7-9): output paths confined to the output
directory, hostile result files skipped with a warning, names drawn literally by matplotlib, parallel
runs capped to the machine's cores, and no Redis key left behind by a failing benchmark.

Real files, FIFOs, a real Redis (a private ``redis-server`` where the test pauses it), and real asv
runs of the toy project only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from memory.benchmarking import cli
from memory.benchmarking.asvrun import parse_asv_errors
from memory.benchmarking.documents import ResultsError, find_documents
from memory.benchmarking.results import BenchmarkResults

from .conftest import REPO, run_cli
from .planted import write_run
from .toy_suite import make_toy_project

EXPORT = ["python", str(REPO / "tools" / "asv_export.py")]
REDIS_URL = "redis://127.0.0.1:6379/0"


def _files(root: Path) -> List[Path]:
    """Every file (or link) under `root`, recursively."""
    return sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _inside(path: str, root: Path) -> bool:
    """True when `path`, resolved, lies inside `root`."""
    return Path(path).resolve().is_relative_to(root.resolve())


# ---- 7: every output path stays inside the output directory ---------------------------------------


def _asv_store(root: Path, benchmarks: Dict[str, Dict], result_only: List[str] = ()) -> Path:
    """A hand-written asv results directory: benchmarks.json with `benchmarks` (name -> extra info)
    and one result file measuring each of them (and `result_only`, absent from benchmarks.json)."""
    machine = root / "results" / "machine"
    machine.mkdir(parents=True)
    infos = {name: dict({"name": name, "type": "time", "unit": "seconds", "param_names": [], "params": []},
                        **extra) for name, extra in benchmarks.items()}
    (root / "results" / "benchmarks.json").write_text(json.dumps(dict(infos, version=2)))
    entries = {name: [[0.01], [], 1700000000000, 1.0] for name in list(benchmarks) + list(result_only)}
    (machine / "abc123-env.json").write_text(json.dumps({
        "commit_hash": "abc123", "env_name": "env", "params": {"machine": "machine"}, "python": "3.11",
        "result_columns": ["result", "params", "started_at", "duration"], "results": entries, "version": 2}))
    return root / "results"


def _export(results: Path, out: Path, cwd: Path) -> subprocess.CompletedProcess:
    # no asv.conf.json: the suite is not imported (benchmarks.json names the benchmarks)
    return run_cli(EXPORT + ["--results-dir", str(results), "--output-dir", str(out)], cwd,
                   {"AGENTMEMORY_ASV_CONFIG": str(cwd / "no-asv.conf.json")}, timeout=120)


def test_export_confines_hostile_benchmark_names(tmp_path):
    outside = tmp_path / "outside"
    hostile = {"storage.RelEscape.time_x": {"benchmark_name": "../../../escaped_rel"},
               "storage.AbsEscape.time_x": {"benchmark_name": str(outside / "escaped_abs")},
               "storage.NulName.time_x": {"benchmark_name": "nul\x00name"},
               "storage.SlashName.time_x": {"benchmark_name": "sub/dir"},
               "storage.LongName.time_x": {"benchmark_name": "x" * 300},
               f"{outside / 'category'}.CatEscape.time_x": {},
               "storage.Good.time_x": {}}
    results = _asv_store(tmp_path / "asv", hostile, result_only=[f"{outside / 'result_only'}.ResOnly.time_x"])
    before = set(_files(tmp_path))
    proc = _export(results, tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    written = proc.stdout.split()
    assert len(written) == 8
    assert all(_inside(p, tmp_path / "out") for p in written), written
    assert set(_files(tmp_path)) - before == set(_files(tmp_path / "out"))  # nothing written elsewhere
    names = {json.loads(Path(p).read_text())["benchmark"] for p in written}
    assert {"../../../escaped_rel", "nul\x00name", "sub/dir", "x" * 300, "good"} <= names  # names kept as data
    assert (tmp_path / "out" / "storage" ).is_dir() and not (tmp_path / "out" / "storage" / "sub").exists()


def test_export_refuses_a_category_folder_linked_outside(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "storage").symlink_to(elsewhere, target_is_directory=True)
    results = _asv_store(tmp_path / "asv", {"storage.Good.time_x": {}, "retrieval.Search.time_x": {}})
    proc = _export(results, tmp_path / "out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(elsewhere.iterdir()) == []
    assert [p for p in proc.stdout.split()] == [str(next((tmp_path / "out" / "retrieval").iterdir()))]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "storage/good" in warnings[0] and "outside" in warnings[0], proc.stderr


@pytest.mark.parametrize("name, category, timestamp", [
    ("../../escaped", "../..", None), ("escaped", "/abs/olute", None), ("a/b", "storage", None),
    ("nul\x00name", "nul\x00cat", None), ("ok", "storage", "../../20250101_000000"), ("..", ".", None),
], ids=["dotdot", "absolute", "slash", "nul", "timestamp", "dots"])
def test_save_result_confines_user_names(tmp_path, name, category, timestamp):
    root = tmp_path / "res"
    results = BenchmarkResults(str(root))
    path = results.save_result(name, category, {"a": {"recall": 1.0}}, timestamp=timestamp)
    assert _inside(path, root) and Path(path).parent.parent == root
    assert _files(tmp_path) == [Path(path)]
    doc = results.load_result(path)
    assert doc["benchmark"] == name and doc["category"] == category
    report = results.generate_report(category=category)
    assert _inside(report, root)


def test_save_result_refuses_a_category_folder_linked_outside(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "storage").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ResultsError, match="outside"):
        BenchmarkResults(str(tmp_path / "res")).save_result("write_throughput", "storage", {})
    assert list(elsewhere.iterdir()) == []
