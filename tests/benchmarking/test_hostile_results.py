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


# ---- 8: one hostile result file costs only itself ------------------------------------------------


def _pair(tmp_path: Path) -> List[str]:
    """A planted baseline and a 25 % slower current run (a regression: compare exits 2)."""
    write_run(tmp_path / "baseline", 1.0, seed="base")
    write_run(tmp_path / "current", 0.8, seed="cur")
    return ["--current-dir", str(tmp_path / "current"), "--baseline-dir", str(tmp_path / "baseline"),
            "--output-dir", str(tmp_path / "page")]


def _cli(capsys, args: List[str]) -> tuple:
    """(exit code, stdout, stderr) of the CLI run in this process."""
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _warned_once(err: str, path: Path) -> bool:
    """True when stderr holds exactly one line naming `path`, a warning, and no traceback."""
    lines = [line for line in err.splitlines() if str(path) in line]
    return len(lines) == 1 and lines[0].startswith("warning: ") and "Traceback" not in err


def _hostile(folder: Path, name: str, text: str) -> Path:
    path = folder / "storage" / name
    path.write_text(text, encoding="utf-8")
    return path


def test_deeply_nested_file_is_skipped_with_a_warning(tmp_path, capsys):
    args = _pair(tmp_path)
    deep = _hostile(tmp_path / "current", "deep_20250101_000000.json",
                    '{"benchmark": "deep", "category": "storage", "results": '
                    + "[" * 100_000 + "]" * 100_000 + "}")
    middle = _hostile(tmp_path / "current", "middle_20250101_000000.json",  # parses, but too deep to use
                      '{"benchmark": "middle", "category": "storage", "results": ' + '{"a": ' * 900
                      + "1" + "}" * 900 + "}")
    for command in (["results", "list"], ["results", "report"]):
        code, out, err = _cli(capsys, command + ["--results-dir", str(tmp_path / "current")])
        assert code == 0, err
        assert _warned_once(err, deep) and _warned_once(err, middle), err
    code, out, err = _cli(capsys, ["compare"] + args)
    assert code == 2, err
    assert _warned_once(err, deep) and _warned_once(err, middle), err


@pytest.mark.parametrize("field, value", [
    ("category", ["storage"]), ("benchmark", {"a": 1}), ("benchmark", ""), ("timestamp", ["x"]),
    ("results", [1]), ("metadata", [1]), ("error", {"a": 1}),
    ("metadata", {"stats": {"complexity_1/batch_10": {"total_time_seconds": {"samples": 5}}}}),
    ("metadata", {"unstable": [1, 2]}), ("metadata", {"metric_kinds": ["timing"]}),
])
def test_malformed_document_is_skipped_with_a_warning(tmp_path, capsys, field, value):
    args = _pair(tmp_path)
    good = json.loads(next((tmp_path / "current" / "storage").iterdir()).read_text())
    bad = _hostile(tmp_path / "current", "bad_20250101_000000.json", json.dumps(dict(good, **{field: value})))
    code, out, err = _cli(capsys, ["results", "list", "--results-dir", str(tmp_path / "current")])
    assert code == 0 and "write_throughput" in out, err
    assert _warned_once(err, bad), err
    code, out, err = _cli(capsys, ["compare"] + args)
    assert code == 2, err
    assert _warned_once(err, bad), err
    code, out, err = _cli(capsys, ["results", "report", "--results-dir", str(tmp_path / "current")])
    assert code == 0 and _warned_once(err, bad), err


def test_fifo_and_other_special_files_are_never_opened(tmp_path):
    args = _pair(tmp_path)
    fifo = tmp_path / "current" / "storage" / "fifo_20250101_000000.json"
    os.mkfifo(fifo)
    folder = tmp_path / "current" / "storage" / "folder_20250101_000000.json"
    folder.mkdir()
    big = tmp_path / "current" / "storage" / "big_20250101_000000.json"
    with open(big, "wb") as handle:  # sparse: 100 MiB that cost no disk
        handle.truncate(100 * 1024 * 1024)
    for command in (["results", "list", "--results-dir", str(tmp_path / "current")], ["compare"] + args):
        proc = run_cli(["python", "-m", "memory.benchmarking.cli"] + command, tmp_path, timeout=60)
        assert proc.returncode == (0 if command[0] == "results" else 2), proc.stderr
        for path in (fifo, folder, big):
            assert _warned_once(proc.stderr, path), proc.stderr


def test_find_documents_warns_once_per_hostile_file(tmp_path, capsys):
    write_run(tmp_path / "res")
    fifo = tmp_path / "res" / "storage" / "fifo.json"  # not named like a result: still never opened
    os.mkfifo(fifo)
    found = find_documents(tmp_path / "res")
    assert [doc["benchmark"] for _, doc in found] == ["write_throughput"]
    assert _warned_once(capsys.readouterr().err, fifo)


def _rename(folder: Path, name: str) -> None:
    """Give every result under `folder` the benchmark name `name`."""
    for path in folder.rglob("*.json"):
        doc = json.loads(path.read_text())
        doc["benchmark"] = name
        path.write_text(json.dumps(doc))


@pytest.mark.parametrize("name", [r"bench_$\frac{$", "cost $5 and $", r"a\$b$"], ids=["bad-math", "math", "escaped"])
def test_dollar_signs_in_names_are_drawn_literally(tmp_path, capsys, name):
    args = _pair(tmp_path)
    _rename(tmp_path / "current", name)
    _rename(tmp_path / "baseline", name)
    code, out, err = _cli(capsys, ["compare"] + args)
    assert code == 2, err
    assert list((tmp_path / "page").glob("comparison_*.html"))
    code, out, err = _cli(capsys, ["results", "report", "--results-dir", str(tmp_path / "current")])
    assert code == 0, err
    assert "Traceback" not in err


def test_plot_labels_escape_mathtext():
    from memory.benchmarking.results import plot_label

    assert plot_label("a$b$c") == r"a\$b\$c"
    assert plot_label(r"a\$b") == r"a\\$b"
    assert plot_label(5) == "5"
