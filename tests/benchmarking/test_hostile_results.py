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
    assert len(written) == 7
    assert all(_inside(p, tmp_path / "out") for p in written), written
    assert set(_files(tmp_path)) - before == set(_files(tmp_path / "out"))  # nothing written elsewhere
    names = {json.loads(Path(p).read_text())["benchmark"] for p in written}
    assert {"../../../escaped_rel", "sub/dir", "x" * 300, "good"} <= names  # names kept as data
    assert (tmp_path / "out" / "storage").is_dir() and not (tmp_path / "out" / "storage" / "sub").exists()
    # a name no reader would accept (a control character) is not written at all
    (warning,) = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert "nul\\x00name" in warning and "control characters" in warning


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
    ("ok", "storage", "../../20250101_000000"), ("..", ".", None), ("é" * 300, "Ünïcode", None),
], ids=["dotdot", "absolute", "slash", "timestamp", "dots", "long-unicode"])
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


@pytest.mark.parametrize("name, category, results", [
    ("nul\x00name", "storage", {}), ("", "storage", {}), ("ok", "two\nlines", {}), ("ok", "storage", []),
    ("ok", "storage", json.loads('{"a": ' * 70 + "1" + "}" * 70)),
], ids=["nul", "empty", "newline", "results-list", "too-deep"])
def test_save_result_refuses_what_could_not_be_read_back(tmp_path, name, category, results):
    with pytest.raises(ResultsError, match="not a valid benchmark result"):
        BenchmarkResults(str(tmp_path / "res")).save_result(name, category, results)
    assert _files(tmp_path) == []


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


MALFORMED = [  # (field, value) replaced in a good document; each breaks some reader
    ("category", ["storage"]), ("benchmark", {"a": 1}), ("benchmark", ""), ("timestamp", ["x"]),
    ("benchmark", "\x1b[2Jwiped"), ("results", [1]), ("metadata", [1]), ("error", {"a": 1}),
    ("metadata", {"stats": {"complexity_1/batch_10": {"total_time_seconds": {"samples": 5}}}}),
    ("metadata", {"unstable": [1, 2]}), ("metadata", {"unstable": [{"spread": "wide", "n": 1e400}]}),
    ("metadata", {"metric_kinds": ["timing"]}), ("metadata", {"derived_metrics": {"x": ["y"]}}),
]


def test_malformed_documents_are_skipped_with_a_warning_each(tmp_path, capsys):
    args = _pair(tmp_path)
    good = json.loads(next((tmp_path / "current" / "storage").iterdir()).read_text())
    bad = [_hostile(tmp_path / "current", f"bad{i}_20250101_000000.json", json.dumps(dict(good, **{field: value})))
           for i, (field, value) in enumerate(MALFORMED)]
    for command, expected in ((["results", "list", "--results-dir", str(tmp_path / "current")], 0),
                              (["compare"] + args, 2),
                              (["results", "report", "--results-dir", str(tmp_path / "current")], 0)):
        code, out, err = _cli(capsys, command)
        assert code == expected, err
        assert all(_warned_once(err, path) for path in bad), err
        assert "\x1b" not in err  # the terminal escape is shown escaped, never sent


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


# ---- 9: parallel runs on a small machine; no Redis key left behind -----------------------------


ASV_FAILED_SETUP = """\
[50.00%] ··· storage.WriteThroughput.time_store_loop                 2/4 failed
[50.00%] ··· ========== ============ ========
              batch_size   complexity  memory
             ========== ============ ========
                  10         failed        n/a
             ========== ============ ========
[50.00%] ···· For parameters: 10, 1, 'memory'
               Traceback (most recent call last):
                 File "/tmp/toy/benchmarks/storage.py", line 19, in setup
                   raise RuntimeError("planted failure")
               RuntimeError: planted failure

               For parameters: 10, 1, 'redis'
               asv: skipped: NotImplementedError('no redis in the toy suite')
               asv: benchmark failed (exit status 1)
[100.00%] ··· storage.ReadLatency.time_read                           2/2 failed
[100.00%] ···· For parameters: 1
               asv: benchmark failed (exit status 3)
"""


def test_exit_status_after_a_python_error_is_not_reported_as_without_one():
    names = ["storage.WriteThroughput.time_store_loop", "storage.ReadLatency.time_read"]
    errors = parse_asv_errors(ASV_FAILED_SETUP, names)
    assert errors[names[0]] == "RuntimeError: planted failure (params: (10, 1, 'memory'))"
    # asv prints the exit status once per benchmark, after its last parameter block: no parameters
    assert errors[names[1]] == "benchmark process exited with status 3 without a Python error"


def test_worker_count_is_capped_by_the_cores():
    from memory.benchmarking.runner import worker_count

    assert worker_count(8, 20, cores=2) == 2
    assert worker_count(8, 3, cores=16) == 3
    assert worker_count(1, 5, cores=2) == 1
    assert worker_count(4, 0, cores=2) == 1


def _common_script(body: str, url: str, **env: str) -> subprocess.CompletedProcess:
    """Run `body` after ``from benchmarks import common`` with the suite's Redis at `url`."""
    script = "import sys\nfrom benchmarks import common\n" + body
    full_env = dict(os.environ, AGENTMEMORY_BENCH_REDIS_URL=url, AGENTMEMORY_BENCH_PROFILE="quick", **env)
    return subprocess.run([sys.executable, "-c", script], cwd=str(REPO), env=full_env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def private_redis(tmp_path):
    """A private redis-server on a unix socket (so pausing it disturbs no one else); its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed")
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen([binary, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not sock.exists():
        proc.kill()
        pytest.skip("redis-server did not start")
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=20)


def test_cleanup_waits_out_a_slow_redis(private_redis):
    """A server that answers late (as under 8 workers on 2 cores) still gets its keys removed."""
    body = """
import redis
client = redis.Redis.from_url(common.REDIS_URL)
client.mset({f"asvbench-1-slow:stm:{i}": 1 for i in range(200)})
redis.Redis.from_url(common.REDIS_URL).execute_command("CLIENT", "PAUSE", 1500)
deleted = common.delete_redis_keys("*asvbench-1-slow*")
print(deleted, len(list(client.scan_iter(match="*asvbench-1-slow*"))))
"""
    proc = _common_script(body, private_redis)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["200", "0"], proc.stdout + proc.stderr


def test_cleanup_that_fails_says_so(tmp_path):
    proc = _common_script("print(common.delete_redis_keys('*asvbench-1-x*'))",
                          f"unix://{tmp_path / 'no-such.sock'}")
    assert proc.returncode == 0 and proc.stdout.split() == ["0"], proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "asvbench-1-x" in lines[0] and "Redis" in lines[0], proc.stderr


def _redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return client


def test_redis_systems_log_their_namespace_and_a_failing_setup_removes_its_keys(tmp_path):
    client = _redis()
    log = tmp_path / "namespaces.log"
    body = """
class Failing(common.SystemBenchmark):
    def prepare(self):
        system = self.new_system("redis")
        system.store_agent_state("a", {"x": 1}, 0)
        print(self.namespace)
        raise RuntimeError("planted")

try:
    Failing().setup()
except RuntimeError:
    pass
"""
    proc = _common_script(body, REDIS_URL, AGENTMEMORY_BENCH_NAMESPACE_LOG=str(log))
    assert proc.returncode == 0, proc.stderr
    namespace = proc.stdout.split()[-1]
    assert namespace.startswith("asvbench-") and namespace in log.read_text().split()
    assert list(client.scan_iter(match=f"*{namespace}*")) == []


def test_sweep_removes_only_logged_namespaces_of_ended_processes(tmp_path):
    from memory.benchmarking.runner import logged_namespaces, sweep_namespaces

    client = _redis()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    tag = os.urandom(6).hex()
    ended, alive, unlogged = f"asvbench-{dead}-{tag}", f"asvbench-{os.getpid()}-{tag}", f"asvbench-{dead}-x{tag}"
    client.mset({f"{ns}:stm:{i}": i for ns in (ended, alive, unlogged) for i in range(3)})
    log = tmp_path / "namespaces.log"
    log.write_text(f"{ended}\n{alive}\n*\n\nasvbench-\nnot-ours-{tag}\n")
    try:
        assert logged_namespaces([log, tmp_path / "missing.log"]) == [ended, alive]  # never a pattern
        assert sweep_namespaces(logged_namespaces([log]), REDIS_URL) == (3, 1)
        assert list(client.scan_iter(match=f"{ended}:*")) == []
        assert len(list(client.scan_iter(match=f"{alive}:*"))) == 3  # its process still runs
        assert len(list(client.scan_iter(match=f"{unlogged}:*"))) == 3  # not this run's
    finally:
        for ns in (ended, alive, unlogged):
            leftovers = list(client.scan_iter(match=f"{ns}:*"))
            if leftovers:
                client.delete(*leftovers)


LEAK_CLASS = '''

class RedisLeak(Base):
    """Stores Redis keys, then dies in its timed body or by SIGKILL (no teardown ever runs)."""
    params = [["body", "kill"]]
    param_names = ["how"]

    def setup(self, how):
        import uuid
        import redis
        namespace = f"asvbench-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        log = os.environ.get("AGENTMEMORY_BENCH_NAMESPACE_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(namespace + "\\n")
        client = redis.Redis.from_url(os.environ["AGENTMEMORY_BENCH_REDIS_URL"])
        client.mset({f"{namespace}:stm:{i}:toyleak": i for i in range(50)})
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)

    def time_fails(self, how):
        raise RuntimeError("planted failure in the timed body")
'''


@pytest.mark.asv
@pytest.mark.slow
def test_parallel_run_is_capped_and_sweeps_keys_of_failed_benchmarks(tmp_path):
    if shutil.which("taskset") is None:
        pytest.skip("taskset not installed")
    client = _redis()
    conf = make_toy_project(tmp_path / "toy")
    with open(conf.parent / "benchmarks" / "storage.py", "a") as handle:
        handle.write(LEAK_CLASS)
    env = {"AGENTMEMORY_ASV_CONFIG": str(conf), "AGENTMEMORY_BENCH_PROFILE": "quick", "TOY_FAIL": "",
           "AGENTMEMORY_BENCH_REDIS_URL": REDIS_URL}
    try:
        proc = run_cli(["taskset", "-c", "0", sys.executable, "-m", "memory.benchmarking.cli", "run",
                        "--category", "storage", "--parallel", "--workers", "8", "--output-dir", "out"],
                       tmp_path, env, timeout=900)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, output
        assert list(client.scan_iter(match="asvbench-*:toyleak")) == [], output
        assert "capped at 1" in proc.stdout, output
        assert "FAILED storage/redis_leak" in proc.stdout and "planted failure in the timed body" in proc.stdout
        assert "killed by SIGKILL" in proc.stdout and "without a Python error" not in proc.stdout, output
        assert "3 benchmark(s) run, 1 failed" in proc.stdout, output
        assert re.search(r"removed \d+ Redis key\(s\)", proc.stdout), output
    finally:
        leftovers = list(client.scan_iter(match="asvbench-*:toyleak"))
        if leftovers:
            client.delete(*leftovers)
