"""The LTM-backend benchmarks (issue #13): every ``ltm_backend="postgres"`` combination runs when a PostgreSQL
server answers at $AGENTMEMORY_BENCH_POSTGRES_URL and is skipped, saying why, when the URL points nowhere;
each cleans up its namespace; the fully shared deployment's track sees one memory (and would see a broken
one); the gate-trust harness counts the new timings as related to the methods they call.

The suite reads its grids and URLs at import, so each check runs the benchmark classes in a subprocess
with a tiny grid (quick profile), or runs real asv on them; the servers come from the fixtures
(tests/postgres_fixtures.py, tests/redis_fixtures.py), skipped saying why when none can be had.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from asv_helpers import REPO, TINY_CONFIG, asv_env, load_results, machine, make_project, run_asv
from postgres_fixtures import TABLES, pg_execute

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: The LTM-backend classes: (module, class).
CLASSES = [("storage", "LtmWriteThroughput"), ("storage", "LtmReadLatency"),
           ("memory_transition", "LtmTransitionOverhead"), ("retrieval", "LtmSimilaritySearchLatency"),
           ("retrieval", "LtmStepRangeQuery"), ("scalability", "SharedDeploymentScaling")]
BENCH_REGEX = r"^(storage\.Ltm|memory_transition\.Ltm|retrieval\.Ltm|scalability\.SharedDeployment)"
NOWHERE = "postgresql://postgres:s3cret@127.0.0.1:1/test"  # nothing listens on port 1

# Runs every benchmark method of CLASSES for every combination (setup, method, teardown) and prints
# {"Class.method(combo)": value, or "skipped: <reason>"} plus the namespaces the systems used.
_RUN_CLASSES = r"""
import importlib, json, math, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.lifecycle import benchmark_names
out, namespaces = {}, []
for module, name in json.loads(sys.argv[2]):
    cls = getattr(importlib.import_module(f"benchmarks.{module}"), name)
    for combo in cls.combinations():
        for method in benchmark_names(cls):
            if combo in getattr(getattr(cls, method), "skip_params", []):
                continue
            key = f"{name}.{method}{combo!r}"
            bench = cls()
            try:
                bench.setup(*combo)
            except NotImplementedError as exc:
                out[key] = f"skipped: {exc}"
                continue
            namespaces.append(bench.namespace)
            try:
                value = getattr(bench, method)(*combo)
                out[key] = "timed" if value is None else value
            finally:
                bench.teardown(*combo)
print(json.dumps({"values": out, "namespaces": namespaces}))
"""


def _tiny_env(tmp_path: Path, postgres: str, redis: str) -> dict:
    config = tmp_path / "bench_config.json"
    config.write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEMORY_BENCH_")}
    env.update(AGENTMEMORY_BENCH_CONFIG=str(config), AGENTMEMORY_BENCH_PROFILE="quick", TMPDIR=str(tmp_path),
               AGENTMEMORY_BENCH_POSTGRES_URL=postgres, AGENTMEMORY_BENCH_REDIS_URL=redis)
    return env


def _run_classes(env: dict, classes=CLASSES) -> dict:
    proc = subprocess.run([sys.executable, "-c", _RUN_CLASSES, str(REPO), json.dumps(classes)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _rows_left(url: str, namespaces) -> dict:
    """{namespace: rows} of the namespaces that still hold a row in any LTM table."""
    left = {}
    for ns in namespaces:
        n = sum(pg_execute(url, f"SELECT count(*) FROM {t} WHERE namespace = %s", (ns,))[0][0] for t in TABLES
                if pg_execute(url, "SELECT to_regclass(%s) IS NOT NULL", (t,))[0][0])
        if n:
            left[ns] = n
    return left


@pytest.mark.slow
def test_postgres_variants_run_and_clean_up_when_the_server_answers(postgres_url, redis_url, tmp_path):
    """Every combination of every LTM-backend class measures a finite value on both LTM backends, the shared
    deployment finds every memory in LTM exactly once from every process, IM→LTM moves are complete, and no
    namespace keeps a row."""
    got = _run_classes(_tiny_env(tmp_path, postgres_url, redis_url))
    values = got["values"]
    for module, name in CLASSES:
        assert any(k.startswith(f"{name}.") and "'postgres'" in k for k in values), name
    skipped = {k: v for k, v in values.items() if isinstance(v, str) and v.startswith("skipped")}
    assert not skipped, skipped
    for key, value in values.items():
        assert value == "timed" or (isinstance(value, float) and math.isfinite(value)), (key, value)
    tracks = {k: v for k, v in values.items() if ".track_" in k}
    assert {k.split("(")[0] for k in tracks} == {"LtmTransitionOverhead.track_moved_fraction",
                                                 "SharedDeploymentScaling.track_ltm_found_fraction"}
    assert all(v == 1.0 for v in tracks.values()), tracks
    assert sum("'postgres'" in k for k in tracks) == sum("'sqlite'" in k for k in tracks) == 2  # tiny grid
    assert got["namespaces"] and _rows_left(postgres_url, got["namespaces"]) == {}


def test_postgres_variants_skip_with_the_reason_when_no_server_answers(redis_url, tmp_path):
    """With the URL pointing nowhere every postgres combination is skipped by BackendUnavailable naming the
    URL (password masked) and the refused connection; the sqlite combinations still measure."""
    got = _run_classes(_tiny_env(tmp_path, NOWHERE, redis_url))
    values = got["values"]
    on_postgres = {k: v for k, v in values.items() if "'postgres'" in k}
    on_sqlite = {k: v for k, v in values.items() if "'sqlite'" in k}
    assert on_postgres and on_sqlite and len(on_postgres) == len(on_sqlite)
    for key, reason in on_postgres.items():
        assert isinstance(reason, str) and reason.startswith("skipped: postgres LTM backend unavailable"), key
        assert "127.0.0.1:1/test" in reason and "s3cret" not in reason and "***" in reason, reason
        assert "refused" in reason.lower(), reason
    assert all(not (isinstance(v, str) and v.startswith("skipped")) for v in on_sqlite.values()), on_sqlite


_BROKEN_SHARING = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.backends import make_config
from benchmarks.scalability import (SHARED_AGENTS, SHARED_LIMIT, SharedDeploymentScaling, SharedProcesses,
                                    found_fraction, ltm_view)
agents = [f"agent_{a}" for a in range(SHARED_AGENTS)]
bench = SharedDeploymentScaling()
bench.setup(2, "sqlite")
try:
    before = len(ltm_view(bench.system, agents)[0])
    bench.time_shared_workload(2, "sqlite")
    during = len(ltm_view(bench.system, agents)[0])   # moved into LTM by the workers' own maintenance
    shared = bench.track_ltm_found_fraction(2, "sqlite")
    # the same deployment with an LTM of its own in every worker process: not one memory
    limits = {"stm_limit": SHARED_LIMIT, "im_limit": SHARED_LIMIT, "discard_threshold": 0.0}
    config = make_config("redis", namespace=bench.namespace + "-own", db_path=":memory:", cleanup_interval=10,
                         **limits).to_dict()
    own = SharedProcesses(2, config)
    try:
        written = set(own.work(range(4)))
        broken = found_fraction(written, own.views(agents))
    finally:
        own.close()
finally:
    bench.teardown(2, "sqlite")
from benchmarks.backends import delete_redis_keys
delete_redis_keys(f"*{bench.namespace}-own*")
print(json.dumps({"before": before, "during": during, "shared": shared, "broken": broken}))
"""


def test_shared_deployment_moves_memories_into_ltm_and_its_track_sees_a_split_memory(redis_url, tmp_path):
    """The timed workload moves memories into the shared LTM as it runs; the track is 1.0 on one shared LTM,
    and below 1 when each worker keeps an LTM of its own (what the track exists to catch)."""
    env = _tiny_env(tmp_path, NOWHERE, redis_url)
    proc = subprocess.run([sys.executable, "-c", _BROKEN_SHARING, str(REPO)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads(proc.stdout)
    assert got["during"] > got["before"], got
    assert got["shared"] == 1.0 and got["broken"] < 0.75, got


def test_found_fraction_counts_missing_and_extra_memories():
    from benchmarks.scalability import found_fraction

    written = {"a", "b", "c", "d"}
    assert found_fraction(written, [(["a", "b", "c", "d"], 4)] * 3) == 1.0
    assert found_fraction(written, [(["a", "b", "c", "d"], 4), (["a", "b", "c"], 3)]) == 0.75
    assert found_fraction(written, [(["a", "b", "c", "d"], 5)]) == 0.75        # a row beyond them
    assert found_fraction(written, [(["a", "b", "c", "d", "x"], 5)]) == 0.75   # a stranger


def test_planted_slowdowns_count_the_ltm_backend_timings_as_related():
    """A flagged LTM-backend timing on a path the planted change slows is related, not a false alarm; a
    parameter value on another path is not."""
    from tools.gate_trust.planted import CHANGES

    def related(change, name, path):
        return any(rule.matches(name, path) for rule in CHANGES[change].related)

    assert related("store_batch", "storage.LtmWriteThroughput.time_store_batch", "ltm_backend_postgres/batch_1000")
    assert related("store_single", "storage.LtmWriteThroughput.time_store_loop", "ltm_backend_postgres/batch_10")
    assert related("retrieve", "storage.LtmReadLatency.time_read", "ltm_backend_postgres/batch_1")
    assert not related("retrieve", "storage.LtmReadLatency.time_read", "ltm_backend_postgres/batch_10")
    for change in ("search", "recall"):
        assert related(change, "retrieval.LtmSimilaritySearchLatency.time_search", "ltm_backend_postgres/volume_500")
    for change in ("store_single", "retrieve", "search"):
        assert related(change, "scalability.SharedDeploymentScaling.time_shared_workload",
                       "ltm_backend_postgres/processes_4")
    assert not related("search", "scalability.SharedDeploymentScaling.track_ltm_found_fraction",
                       "ltm_backend_postgres/processes_4")


def _values(results, name, backend):
    return [v for combo, v in results.get(name, []) if f"'{backend}'" in combo]


@pytest.mark.asv
@pytest.mark.slow
@pytest.mark.parametrize("where", ["server", "nowhere"])
def test_real_asv_run_of_the_ltm_backend_benchmarks(where, postgres_url, redis_url, tmp_path):
    """A real quick asv run of the new benchmarks on a tiny grid: finite postgres results when the server
    answers, n/a (skipped, never failed) when the URL points nowhere; sqlite finite either way; no namespace
    the run logged keeps a PostgreSQL row."""
    url = postgres_url if where == "server" else NOWHERE
    proj = make_project(tmp_path)
    log = tmp_path / "namespaces.log"
    env = asv_env(tmp_path, AGENTMEMORY_BENCH_POSTGRES_URL=url, AGENTMEMORY_BENCH_REDIS_URL=redis_url,
                  AGENTMEMORY_BENCH_NAMESPACE_LOG=str(log))
    machine(proj, env)
    run_asv(proj, env, "run", "--python=same", "--quick", "--set-commit-hash", "HEAD", "--show-stderr",
            "--bench", BENCH_REGEX, timeout=900)
    results = load_results(proj)
    names = [n for n in results if n.split(".")[1] in {c for _, c in CLASSES}]
    assert len(names) == 9, sorted(results)
    for name in names:
        sqlite, postgres = _values(results, name, "sqlite"), _values(results, name, "postgres")
        assert sqlite and all(isinstance(v, float) and math.isfinite(v) for v in sqlite), (name, sqlite)
        if where == "server":
            assert postgres and all(isinstance(v, float) and math.isfinite(v) for v in postgres), (name, postgres)
        else:
            assert postgres and all(v is None or (isinstance(v, float) and math.isnan(v)) for v in postgres), \
                (name, postgres)
    logged = set(log.read_text().split()) if log.is_file() else set()
    if where == "server":
        assert logged and _rows_left(postgres_url, logged) == {}
