"""``cli continuous`` end to end on a tiny real project that asv builds into virtualenvs: an A/A pair
(an empty commit) passes, a planted slowdown and a planted larger record are flagged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Dict

import pytest

from .conftest import run_cli
from memory.benchmarking.paired import PROCESS_PAIRS, pair_cores

pytestmark = [pytest.mark.asv, pytest.mark.slow]

PACKAGE = '''
"""A stand-in for a library whose speed and record size the suite measures."""

LOOPS_LARGE = 1  # passes over the work when n is large
RECORD_BYTES = 400


def work(n):
    total = 0
    for _ in range(LOOPS_LARGE if n > 30000 else 1):
        for i in range(n):
            total += i * i
    return total
'''

SUITE = '''
"""Timed work and a deterministic size, sampled the way the default profile samples."""

import time


class Work:
    # CPU time, not wall time: this test checks the gate's pipeline (flag, confirm, verdict), and on a
    # loaded 2-core machine a 2 ms wall sample is either on a core or not, so a base process measured
    # at the wrong moment looked twice as slow as the planted one (2 of 6 runs failed at load 4)
    timer = time.process_time
    params = [[20000, 40000]]
    param_names = ["size"]
    items_per_call = "size"
    repeat = (5, 8, 2.0)
    number = 1
    rounds = 2
    warmup_time = 0.0
    sample_time = 0.01
    min_run_count = 1

    def setup(self, size):
        import toyperf
        self.work = toyperf.work

    def time_work(self, size):
        self.work(size)

    def track_record_bytes(self, size):
        import toyperf
        return float(toyperf.RECORD_BYTES)

    track_record_bytes.unit = "bytes"
'''

CONF = {
    "version": 1, "project": "toyperf", "project_url": "http://localhost", "repo": ".", "branches": ["main"],
    "environment_type": "virtualenv", "pythons": ["3.11"], "benchmark_dir": "benchmarks",
    "env_dir": ".asv/env", "results_dir": ".asv/results", "html_dir": ".asv/html",
    "build_command": ["python -m pip wheel --no-deps --no-build-isolation --wheel-dir {build_cache_dir} {build_dir}"],
    "install_command": ["in-dir={env_dir} python -m pip install {wheel_file}"],
    "uninstall_command": ["return-code=any python -m pip uninstall -y toyperf"],
    "matrix": {"req": {"setuptools": [""], "wheel": [""]}},
}

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@localhost", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@localhost")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True,
                          env=GIT_ENV).stdout.strip()


def _make_project(root: Path, suite: str) -> Dict[str, str]:
    """A toyperf project at `root` with benchmarks/storage.py = `suite`, committed as base, plus an
    empty commit on top (same tree: A/A); {"root", "base", "same"}."""
    (root / "toyperf").mkdir()
    (root / "toyperf" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    (root / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\nbuild-backend = '
                                         '"setuptools.build_meta"\n[project]\nname = "toyperf"\nversion = "0.1"\n'
                                         '[tool.setuptools]\npackages = ["toyperf"]\n')
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "__init__.py").write_text("")
    (root / "benchmarks" / "storage.py").write_text(textwrap.dedent(suite))
    (root / "asv.conf.json").write_text(json.dumps(CONF, indent=2))
    (root / ".gitignore").write_text(".asv/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=GIT_ENV)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    base = _git(root, "rev-parse", "HEAD")
    _git(root, "commit", "-q", "--allow-empty", "-m", "same tree")
    return {"root": root, "base": base, "same": _git(root, "rev-parse", "HEAD")}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """base, an empty commit on top (same tree: A/A), and a planted commit (twice the work at the
    larger size only, a 25 % larger record) on a branch from base."""
    made = _make_project(tmp_path_factory.mktemp("toyperf"), SUITE)
    root = made["root"]
    _git(root, "checkout", "-q", "-b", "planted", made["base"])
    source = (root / "toyperf" / "__init__.py").read_text()
    (root / "toyperf" / "__init__.py").write_text(source.replace("LOOPS_LARGE = 1", "LOOPS_LARGE = 2")
                                                  .replace("RECORD_BYTES = 400", "RECORD_BYTES = 500"))
    _git(root, "commit", "-q", "-am", "planted: twice the work at size 40000, 25 % larger record")
    planted = _git(root, "rev-parse", "HEAD")
    _git(root, "checkout", "-q", "main")
    return dict(made, planted=planted)


def _continuous(project, head, out):
    env = {"AGENTMEMORY_ASV_CONFIG": str(project["root"] / "asv.conf.json")}
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "continuous", project["base"], head,
                    "--output-dir", str(out)], out.parent, env=env, timeout=900)
    verdict = json.loads((out / "verdict.json").read_text()) if (out / "verdict.json").is_file() else None
    return proc, verdict


def test_identical_commits_pass(project, tmp_path):
    proc, verdict = _continuous(project, project["same"], tmp_path / "aa")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert verdict["counts"]["regression"] == 0 and verdict["base"] == project["base"]
    timings = [m for m in verdict["measurements"] if m["kind"] == "timing"]
    assert len(timings) == 2, verdict["measurements"]  # one verdict per measurement: no throughput twin
    assert all(m["n_baseline"] >= 10 and m["n_current"] >= 10 for m in timings)  # 2 rounds x >= 5 samples
    assert all(m["status"] != "not enough data" for m in timings)
    documents = list((tmp_path / "aa" / "baseline" / "storage").glob("work_*.json"))
    assert documents
    # the first pass tells its two rounds (two processes per commit) apart, for the screen
    stats = json.loads(documents[0].read_text())["metadata"]["stats"]
    cells = [cell["total_time_seconds"] for cell in stats.values() if "total_time_seconds" in cell]
    assert len(cells) == 2 and all(len(c["samples_per_round"]) == 2 and sum(c["samples_per_round"]) == c["n"]
                                   and min(c["samples_per_round"]) >= 5 for c in cells), cells
    assert list((tmp_path / "aa").glob("comparison_*.html"))
    assert "interleave" not in proc.stderr.lower()


def test_planted_slowdown_and_larger_record_are_flagged(project, tmp_path):
    proc, verdict = _continuous(project, project["planted"], tmp_path / "planted")
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-2000:]
    flagged = {(m["metric"], m["path"]): m for m in verdict["regressions"]}
    # the slower size is confirmed by a re-measurement of that one combination (whose results nest
    # no size: it is matched by its canonical path); the other size is untouched
    timings = [m for m in verdict["measurements"] if m["metric"] == "total_time_seconds"]
    timing = flagged.get(("total_time_seconds", "size_40000"))
    assert timing, json.dumps(timings, indent=0)
    # flagged by the screen (its change is the first pass's, noisy under load), confirmed by the pairs
    assert timing["confirmed"] is True and timing["change"] > 0.1 and timing["p_value"] < verdict["screen_alpha"]
    assert ("total_time_seconds", "size_20000") not in flagged
    for size in (20000, 40000):
        size_metric = flagged[("record_bytes", f"size_{size}")]
        assert size_metric["kind"] == "deterministic" and size_metric["change"] == pytest.approx(0.25)
    assert re.search(r"confirmation pass: \d+ flagged timing\(s\), both commits side by side", proc.stdout)
    # the evidence: block pairs from every process pair, the slower commit slower in each of them
    evidence = {e["benchmark"]: e for e in json.loads((tmp_path / "planted" / "confirm" / "paired.json").read_text())}
    pairs = evidence["storage.Work.time_work(40000)"]
    assert pairs["confirmed"] and len(pairs["baseline_current_pairs"]) == PROCESS_PAIRS == 6
    assert pairs["change"] > 0.5 and all(m > 0.25 for m in pairs["process_changes"])  # 2x work
    # both processes of each pair on one core, the pairs on the allowed cores in turn
    assert pairs["cpus"] == [pair_cores(i) for i in range(PROCESS_PAIRS)]
    assert len(pairs["seconds"]) == PROCESS_PAIRS and all(s > 0 for s in pairs["seconds"])
    # the verdict reports the pairs' change; the first pass's stays as screen_change
    assert timing["change"] == pytest.approx(pairs["change"]) and timing["screen_change"] > 0.1
    assert 0 < verdict["confirm_seconds"] <= verdict["wall_seconds"]
    assert re.search(r"confirmation pass: \d+ timing\(s\) in \d+ s, \d+ confirmed", proc.stdout)


def test_bad_commit_is_one_line(project, tmp_path):
    env = {"AGENTMEMORY_ASV_CONFIG": str(project["root"] / "asv.conf.json")}
    for args, message in ((["no-such-commit", "HEAD"], "unknown commit"),
                          ([project["base"], project["base"]], "same commit"),
                          ([project["base"], "HEAD", "--category", "nope"], "unknown category"),
                          ([project["base"], "HEAD", "--screen-alpha", "1.5"], "--screen-alpha must be")):
        proc = run_cli(["python", "-m", "memory.benchmarking.cli", "continuous", *args,
                        "--output-dir", str(tmp_path / "x")], tmp_path, env=env)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_commit_switches_use_uv_for_the_distribution_asv_uninstalls():
    from memory.benchmarking.asvrun import distribution_name, fast_install_commands, uv_binary

    conf = {"project": "Display Name", "uninstall_command": ["return-code=any python -m pip uninstall -y toyperf"]}
    assert distribution_name(conf) == "toyperf"
    assert distribution_name({"project": "agentmemory"}) == "agentmemory"
    if uv_binary() is None:
        pytest.skip("uv is not installed (pip install -e '.[bench]'): continuous falls back to pip")
    commands = fast_install_commands(conf)
    (install,), (uninstall,) = commands["install_command"], commands["uninstall_command"]
    # the same version is installed for every commit: without --reinstall-package uv would keep the old build
    assert "--reinstall-package toyperf" in install and install.endswith("{wheel_file}")
    assert uninstall.startswith("return-code=any ") and uninstall.endswith(" toyperf")
    assert fast_install_commands({"project": "x; rm -rf /"}) == {}  # never a shell-looking name
    # the extras the project installs with its wheel come along (the PostgreSQL driver of asv.conf.json)
    project_conf = json.loads(re.sub(r"^\s*//.*$", "", (Path(__file__).parents[2] / "asv.conf.json").read_text(),
                                     flags=re.M))
    (install,) = fast_install_commands(project_conf)["install_command"]
    assert install.endswith("{wheel_file}[postgres]") and "--reinstall-package agentmemory" in install


@pytest.fixture
def redis_client(redis_url, monkeypatch):
    """A client of the test Redis (tests/redis_fixtures.py), which the CLI's sweep is pointed at too."""
    redis = pytest.importorskip("redis")
    from memory.benchmarking.runner import REDIS_URL_ENV

    monkeypatch.setenv(REDIS_URL_ENV, redis_url)
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield client
    client.close()


def test_each_asv_run_sweeps_the_redis_keys_its_dead_benchmark_processes_left(tmp_path, redis_client):
    """continuous passes the suite a namespace log and, after every asv run (also one that fails or
    times out), removes the keys of logged namespaces whose process has ended."""
    import sys

    from memory.benchmarking import asv_adapter
    from memory.benchmarking.config import BenchmarkConfig
    from memory.benchmarking.continuous import _AsvSession
    from memory.benchmarking.runner import NAMESPACE_LOG_ENV

    client = redis_client
    session = _AsvSession(asv_adapter.load_project(None), BenchmarkConfig.for_profile("quick"), tmp_path,
                          lambda line: said.append(line))
    said: list = []
    assert session.env[NAMESPACE_LOG_ENV] == str(session.namespace_log)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    namespace = f"asvbench-{dead}-{os.urandom(6).hex()}"
    client.mset({f"{namespace}:stm:{i}": i for i in range(4)})
    session.namespace_log.write_text(namespace + "\n")
    try:
        session.sweep()
        assert list(client.scan_iter(match=f"{namespace}:*")) == []
        assert said and "removed 4 Redis key(s)" in said[0]
    finally:
        leftovers = list(client.scan_iter(match=f"{namespace}:*"))
        if leftovers:
            client.delete(*leftovers)


HANGING_SUITE = '''
"""A benchmark whose set-up holds Redis keys under a logged namespace, then hangs: a run someone stops."""

import os
import socket
import time


def _redis(*words):
    """One Redis command over a bare socket (the toy environment has no redis package)."""
    request = "*%d\\r\\n" % len(words) + "".join("$%d\\r\\n%s\\r\\n" % (len(w), w) for w in words)
    host, port = os.environ["TOYTERM_REDIS"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request.encode())
        sock.recv(64)


class Hangs:
    number = 1
    repeat = 1
    rounds = 1
    warmup_time = 0.0
    timeout = 600

    def setup(self):
        namespace = "asvbench-%d-%s" % (os.getpid(), os.environ["TOYTERM_TAG"])
        with open(os.environ["AGENTMEMORY_BENCH_NAMESPACE_LOG"], "a") as log:
            log.write(namespace + "\\n")
        for i in range(3):
            _redis("SET", "%s:stm:%d" % (namespace, i), "1")
        time.sleep(300)

    def time_nothing(self):
        pass
'''


def _terminate_when_hanging(tmp_path, client, redis_url, suite: str, cli_args, hanging: int = 1):
    """Start ``cli <cli_args>`` on a toy project of `suite` (benchmarks that hold 3 Redis keys, then
    hang), SIGTERM it once `hanging` benchmark processes hold their keys; (exit code, stdout, stderr,
    keys left, the benchmark pids). {base} and {same} in `cli_args` are the project's two commits."""
    import signal
    import sys
    import time

    from urllib.parse import urlsplit

    (tmp_path / "proj").mkdir()
    made = _make_project(tmp_path / "proj", suite)
    tag = "toyterm" + os.urandom(6).hex()
    pattern = f"asvbench-*-{tag}:*"
    server = urlsplit(redis_url)
    env = dict(os.environ, AGENTMEMORY_ASV_CONFIG=str(made["root"] / "asv.conf.json"), TOYTERM_TAG=tag,
               TOYTERM_REDIS=f"{server.hostname}:{server.port or 6379}")
    args = [a.format(base=made["base"], same=made["same"]) for a in cli_args]
    proc = subprocess.Popen([sys.executable, "-m", "memory.benchmarking.cli", *args], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        keys: list = []
        deadline = time.monotonic() + 600
        while len(keys) < 3 * hanging and proc.poll() is None and time.monotonic() < deadline:
            keys = list(client.scan_iter(match=pattern))
            time.sleep(0.2)
        assert len(keys) >= 3 * hanging, f"the benchmarks never set their keys (exit {proc.poll()})"
        pids = sorted({int(k.decode().split("-")[1]) for k in keys})
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        leftovers = list(client.scan_iter(match=pattern))
        if leftovers:
            client.delete(*leftovers)
    return proc.returncode, out, err, leftovers, pids


def _assert_ended_and_swept(code, out, err, leftovers, pids):
    assert code == 143, out[-2000:] + err[-2000:]
    assert err.strip().splitlines() == ["error: terminated"]
    assert leftovers == []
    assert f"removed {3 * len(pids)} Redis key(s)" in out, out[-2000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_sigterm_stops_asv_and_sweeps_the_redis_keys_its_benchmarks_left(tmp_path, redis_client, redis_url):
    """A continuous run stopped by SIGTERM (a CI job cancelled) exits 143 with one line, kills asv and
    its benchmark processes, and removes the Redis keys they held; before, the keys stayed and asv ran on."""
    _assert_ended_and_swept(*_terminate_when_hanging(
        tmp_path, redis_client, redis_url, HANGING_SUITE,
        ["continuous", "{base}", "{same}", "--output-dir", str(tmp_path / "out")]))


TWO_HANGING_SUITE = HANGING_SUITE + """

class HangsToo(Hangs):
    pass
"""


@pytest.mark.parametrize("parallel", [False, True], ids=["one-asv-run", "worker-processes"])
def test_sigterm_stops_cli_run_and_its_workers(tmp_path, redis_client, redis_url, parallel):
    """``cli run`` stopped by SIGTERM exits 143 with one line after asv and every benchmark process
    ended and their keys were swept; before, a generic handler took the signal for one benchmark's
    failure (error documents, exit 1), and with --parallel the workers ran on and the CLI waited for them."""
    from memory.benchmarking.runner import worker_count

    workers = worker_count(2, 2) if parallel else 1
    args = ["run", "--category", "storage", "--output-dir", str(tmp_path / "out")]
    code, out, err, leftovers, pids = _terminate_when_hanging(
        tmp_path, redis_client, redis_url, TWO_HANGING_SUITE,
        args + (["--parallel", "--workers", "2"] if parallel else []), hanging=workers)
    _assert_ended_and_swept(code, out, err, leftovers, pids)
    assert not list((tmp_path / "out").glob("**/*.json"))  # nothing half-done written as a result
