"""The driver's sweep after an asv run removes the PostgreSQL LTM rows of benchmark namespaces whose process
has ended (issue #13): a killed benchmark process never ran its teardown, so its rows would stay forever.

Real servers: PostgreSQL from tests/postgres_fixtures.py and Redis from tests/redis_fixtures.py (skipped,
saying why, without one). The sweep reads its URLs from the environment at call time (monkeypatched).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postgres_fixtures import drop_namespace, namespace_rows

pytestmark = [pytest.mark.postgres]

REPO = Path(__file__).resolve().parent.parent
NOWHERE = "postgresql://postgres:s3cret@127.0.0.1:1/test"  # nothing listens on port 1


def _dead_pid() -> str:
    """The pid of a process that has exited (its namespaces are ended)."""
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()


def _fill(url: str, namespace: str) -> None:
    """Rows of `namespace` in all four LTM tables: a system on PostgreSQL stores three states into LTM."""
    from memory import AgentMemorySystem, MemoryConfig

    config = MemoryConfig(ltm_backend="postgres", ltm_url=url)
    config.namespace = namespace
    system = AgentMemorySystem(config)
    try:
        for step in range(3):
            system.store_agent_state("agent", {"step": step, "text": "sweep me " * 20}, step, tier="ltm")
    finally:
        system.close()
    assert all(namespace_rows(url, namespace).values()), namespace_rows(url, namespace)


def _session(tmp_path: Path, said: list):
    """The continuous driver's asv session (its `sweep` runs after every asv run)."""
    from memory.benchmarking import asv_adapter
    from memory.benchmarking.config import BenchmarkConfig
    from memory.benchmarking.continuous import _AsvSession

    return _AsvSession(asv_adapter.load_project(None), BenchmarkConfig.for_profile("quick"), tmp_path, said.append)


def test_sweep_removes_rows_of_ended_namespaces_only(tmp_path, monkeypatch, postgres_url, redis_url):
    """A logged namespace of a dead pid loses its rows in every table (and its Redis keys); one of a live
    process (this one) keeps them, and so does a namespace that was not logged."""
    import redis

    monkeypatch.setenv("AGENTMEMORY_BENCH_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("AGENTMEMORY_BENCH_REDIS_URL", redis_url)
    tag = os.urandom(6).hex()
    ended, alive, other = f"asvbench-{_dead_pid()}-{tag}", f"asvbench-{os.getpid()}-{tag}", f"amtest-{tag}"
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    said: list = []
    session = _session(tmp_path, said)
    try:
        for namespace in (ended, alive, other):
            _fill(postgres_url, namespace)
        client.set(f"{ended}:stm:0", 1)
        session.namespace_log.write_text(f"{ended}\n{alive}\n")
        before = {ns: namespace_rows(postgres_url, ns) for ns in (alive, other)}
        session.sweep()
        assert namespace_rows(postgres_url, ended) == dict.fromkeys(before[alive], 0)
        assert {ns: namespace_rows(postgres_url, ns) for ns in (alive, other)} == before
        assert client.get(f"{ended}:stm:0") is None
        assert any("PostgreSQL row(s)" in line for line in said), said
    finally:
        client.delete(f"{ended}:stm:0")
        client.close()
        for namespace in (ended, alive, other):
            drop_namespace(postgres_url, namespace)


def test_delete_namespaces_counts_rows_and_tables_not_created_yet(postgres_url, pg_schema_url):
    """delete_namespaces returns the rows it deleted; a database without the tables yet deletes 0."""
    from memory.stores.postgres import delete_namespaces

    namespace = f"amtest-{os.urandom(6).hex()}"
    try:
        _fill(postgres_url, namespace)
        expected = sum(namespace_rows(postgres_url, namespace).values())
        assert delete_namespaces(postgres_url, [namespace, "amtest-never-used"]) == expected
        assert not any(namespace_rows(postgres_url, namespace).values())
        assert delete_namespaces(postgres_url, [namespace]) == 0
    finally:
        drop_namespace(postgres_url, namespace)
    assert delete_namespaces(pg_schema_url, [namespace]) == 0  # a schema of its own: no agentmemory table


def test_delete_namespaces_unreachable_is_a_masked_storage_error():
    """A server that does not answer is a StorageError naming the URL with its password masked, in seconds."""
    pytest.importorskip("psycopg")
    from memory.errors import StorageError
    from memory.stores.postgres import delete_namespaces

    start = time.monotonic()
    with pytest.raises(StorageError) as caught:
        delete_namespaces(NOWHERE, ["asvbench-1-abcdef"])
    assert time.monotonic() - start < 5
    assert "postgresql://postgres:***@127.0.0.1:1/test" in str(caught.value) and "s3cret" not in str(caught.value)


def test_sweep_on_unreachable_postgres_warns_once(monkeypatch, capsys):
    """The driver's sweep on a PostgreSQL that does not answer: 0 rows, one warning line, within seconds."""
    pytest.importorskip("psycopg")
    from memory.benchmarking.runner import sweep_postgres_rows

    monkeypatch.setenv("AGENTMEMORY_BENCH_POSTGRES_URL", NOWHERE)
    start = time.monotonic()
    assert sweep_postgres_rows([f"asvbench-{_dead_pid()}-{os.urandom(6).hex()}"]) == 0
    assert time.monotonic() - start < 5
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning:") and "127.0.0.1:1" in lines[0], lines
    assert "s3cret" not in lines[0]


def test_benchmark_cleanup_on_unreachable_postgres_says_so_and_returns_0(tmp_path):
    """benchmarks.backends.delete_postgres_rows keeps its contract: one line on stderr and 0 on failure."""
    pytest.importorskip("psycopg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEMORY_BENCH_")}
    env["AGENTMEMORY_BENCH_POSTGRES_URL"] = NOWHERE
    script = f"import sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.backends import delete_postgres_rows; " \
             "print(delete_postgres_rows('asvbench-1-abcdef'))"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0] and "s3cret" not in lines[0], lines
