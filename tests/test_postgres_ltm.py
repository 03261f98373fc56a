"""LTM on PostgreSQL (issue #13): the store, its schema, namespaces, failures, and many processes on one memory.

Needs a server (tests/postgres_fixtures.py finds one or skips); the behaviour both LTM backends share is
tested on both in tests/test_ltm_backends.py.
"""

from __future__ import annotations

import multiprocessing
import random
import socket
import time
from typing import Any

import numpy as np
import pytest

from memory import AgentMemorySystem, ConfigError, CorruptDataError, MemoryConfig, StorageError
from memory.entry import MemoryRecord
from memory.integrity import CorruptDataWarning
from crash_helpers import kill_once_started
from postgres_fixtures import TcpProxy, drop_namespace, pg_execute, unique_namespace

pytestmark = pytest.mark.postgres
SECRET = "Zq9sEcReT"


def _store(url: str, namespace: str, dim: int = 32, **kwargs: Any):
    from memory.stores.postgres import PostgresStore
    return PostgresStore(url, dim, namespace, **kwargs)


def _records(n: int, agent: str = "a", tag: str = "", dim: int = 32) -> list[MemoryRecord]:
    return [MemoryRecord(f"{agent}:{tag}{i}", agent, i, "state", b"x" * 10, 0.5, 0.5, 1.0, 1.0, 1.0, 0, 10,
                         np.full(dim, i, dtype=np.float32)) for i in range(n)]


def _config(url: str, namespace: str, **fields: Any) -> MemoryConfig:
    config = MemoryConfig(ltm_backend="postgres", ltm_url=url, namespace=namespace, **fields)
    return config


# -- the store ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [5, 600])  # one INSERT of arrays; COPY (again: through the temporary table)
def test_store_protocol(postgres_url, pg_namespace, n):
    store = _store(postgres_url, pg_namespace)
    try:
        assert store.shared and store.keeps_vectors and store.answers_step_ranges
        assert store.version("a") == 0 and store.count("a") == 0 and list(store.agent_ids()) == []
        v1 = store.add(_records(n))
        assert v1 == 1 and store.count("a") == n and store.version("a") == 1
        assert store.add(_records(n)) == 2 and store.count("a") == n  # the same ids again: no new rows
        got = store.get("a:3")
        assert got.step_number == 3 and got.content == b"x" * 10 and got.vector.dtype == np.float32
        assert (got.vector == 3).all()
        assert [r and r.memory_id for r in store.get_many(["a:4", "nope", "a:0"])] == ["a:4", None, "a:0"]
        assert [r.step_number for r in store.records_in_steps("a", 2, 4)] == [2, 3, 4]
        assert [r.step_number for r in store.records("a")] == list(range(n))
        assert store.stored_bytes("a") == (10 * n, 10 * n) and list(store.agent_ids()) == ["a"]
        removed = store.remove("a", ["a:1", "a:2", "nope"])
        assert sorted(r.memory_id for r in removed) == ["a:1", "a:2"] and store.remove("a", ["a:1"]) == []
        assert store.count("a") == n - 2 and store.version("a") == 4
        got.retrieval_count, got.last_accessed = 7, 99.0
        store.touch([got])
        assert store.get("a:3").retrieval_count == 7  # buffered: read back from the buffer
        store.flush_touches()
        assert pg_execute(postgres_url, "SELECT retrieval_count, last_accessed FROM agentmemory_ltm "
                          "WHERE namespace = %s AND memory_id = 'a:3'", (pg_namespace,)) == [(7, 99.0)]
        assert store.update_vectors("a", ["a:3"], np.zeros((1, 32))) == 5 and (store.get("a:3").vector == 0).all()
        assert store.get("a\x00") is None and store.records("a\x00") == [] and store.version("a\x00") == 0
        store.clear()
        assert store.count("a") == 0 and store.version("a") == 6 and list(store.agent_ids()) == []
    finally:
        store.close()


def test_dictionaries_and_meta_are_per_namespace(postgres_url, pg_namespace):
    other = unique_namespace()
    a, b, c = _store(postgres_url, pg_namespace), _store(postgres_url, pg_namespace), _store(postgres_url, other)
    try:
        assert a.current_dictionary() is None
        assert a.agree_dictionary(b"first") == b.agree_dictionary(b"second") == (1, b"first")  # first writer wins
        assert b.dictionary(1) == b"first" and b.dictionary(2) is None and b.legacy_dictionary() is None
        assert c.current_dictionary() is None and c.agree_dictionary(b"other") == (1, b"other")
        a.set_meta("w", b"1")
        a.set_meta("w", b"2")
        assert b.get_meta("w") == b"2" and c.get_meta("w") is None
    finally:
        a.close(), b.close(), c.close()
        drop_namespace(postgres_url, other)


def test_dimension_mismatch_is_refused(postgres_url, pg_namespace):
    _store(postgres_url, pg_namespace).close()
    with pytest.raises(StorageError, match="32-dim embeddings; this config uses ltm_dim=16"):
        _store(postgres_url, pg_namespace, dim=16)


def test_damaged_rows_raise_on_read_and_are_skipped_in_listings(postgres_url, pg_namespace):
    store = _store(postgres_url, pg_namespace)
    try:
        store.add(_records(4))
        pg_execute(postgres_url, "UPDATE agentmemory_ltm SET memory_type = 'bogus' WHERE namespace = %s AND "
                   "memory_id = 'a:1'", (pg_namespace,))
        pg_execute(postgres_url, "UPDATE agentmemory_ltm SET embedding = '\\x00' WHERE namespace = %s AND "
                   "memory_id = 'a:2'", (pg_namespace,))
        with pytest.raises(CorruptDataError, match="row of memory 'a:1' is damaged \\(memory_type\\)") as info:
            store.get("a:1")
        assert info.value.memory_id == "a:1" and "\n" not in str(info.value)
        with pytest.raises(CorruptDataError, match="embedding \\(1 bytes, not 128\\)"):
            store.get_many(["a:2"])
        with pytest.warns(CorruptDataWarning):
            assert [r.memory_id for r in store.records("a")] == ["a:0", "a:3"]
        assert [r.memory_id for r in store.records_in_steps("a", 0, 9)] == ["a:0", "a:3"]
        assert store.corrupt_skipped("a") == 2 and store.corrupt_skipped() == 2
        assert len(store.remove("a", ["a:1", "a:3"])) == 1 and store.count("a") == 2  # the damaged row goes too
    finally:
        store.clear()
        store.close()


# -- schema ---------------------------------------------------------------------------------------------
def test_schema_is_created_on_first_use_and_versioned(pg_schema_url):
    store = _store(pg_schema_url, "ns")
    store.close()
    assert pg_execute(pg_schema_url, "SELECT component, version FROM agentmemory_schema") == [("ltm", 1)]
    indexes = {r[0] for r in pg_execute(pg_schema_url, "SELECT indexdef FROM pg_indexes WHERE tablename = "
                                                       "'agentmemory_ltm'")}
    assert any("(namespace, agent_id, step_number)" in d for d in indexes), indexes


def test_newer_schema_refuses_to_open(pg_schema_url):
    _store(pg_schema_url, "ns").close()
    pg_execute(pg_schema_url, "UPDATE agentmemory_schema SET version = 99 WHERE component = 'ltm'")
    with pytest.raises(StorageError) as info:
        _store(pg_schema_url, "ns")
    message = str(info.value)
    assert "schema is version 99, newer than this agentmemory knows (1)" in message and "\n" not in message
    with pytest.raises(StorageError, match="version 99"):
        AgentMemorySystem(_config(pg_schema_url, "ns"))


def test_concurrent_first_opens_create_the_schema_once(pg_schema_url):
    """Four processes opening a database without the tables at once: all open it (the advisory lock)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert pool.map(_open_and_count, [pg_schema_url] * 4) == [0] * 4


def _open_and_count(url: str) -> int:
    store = _store(url, "ns")
    try:
        return store.count("a")
    finally:
        store.close()


# -- config -------------------------------------------------------------------------------------------
def test_config_fields_are_validated_and_masked():
    assert MemoryConfig().ltm_backend == "sqlite"
    with pytest.raises(ConfigError, match="ltm_backend must be one of sqlite, postgres; got 'mysql'"):
        MemoryConfig(ltm_backend="mysql").validate()
    with pytest.raises(ConfigError, match="ltm_url must start with postgresql:// or postgres://"):
        MemoryConfig(ltm_backend="postgres", ltm_url="mysql://h/db").validate()
    with pytest.raises(ConfigError, match="ltm_url contains '#'") as info:
        MemoryConfig(ltm_backend="postgres", ltm_url=f"postgresql://u:a#{SECRET}@h/db").validate()
    assert SECRET not in str(info.value)
    MemoryConfig(ltm_backend="postgres", ltm_url="postgresql://u@h1:5432,h2:5433/db").validate()  # libpq multi-host
    MemoryConfig(ltm_url="not a url").validate()  # only checked when used
    shown = repr(MemoryConfig(ltm_backend="postgres", ltm_url=f"postgresql://user:{SECRET}@h:5432/db"))
    assert SECRET not in shown and "ltm_url='postgresql://user:***@h:5432/db'" in shown


def test_sqlite_stays_the_default(make_system):
    system = make_system()
    assert type(system.ltm.store).__name__ == "SQLiteStore" and system.ltm_path.endswith("ltm.db")


# -- failures -------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast_with_the_password_masked():
    url = f"postgresql://user:{SECRET}@127.0.0.1:{_free_port()}/db"
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        AgentMemorySystem(_config(url, "ns"))
    assert time.monotonic() - started < 2.0
    message = str(info.value)
    assert "PostgreSQL at postgresql://user:***@127.0.0.1:" in message and "unreachable" in message
    assert SECRET not in message and "\n" not in message


def test_a_server_that_never_answers_fails_within_the_connect_timeout():
    """A listener that accepts and never replies (a frozen server): StorageError after ~2 s, not a hang."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"postgresql://user:{SECRET}@127.0.0.1:{listener.getsockname()[1]}/db"
        started = time.monotonic()
        with pytest.raises(StorageError, match="unreachable") as info:
            _store(url, "ns")
        assert time.monotonic() - started < 3.0 and SECRET not in str(info.value)


def test_a_terminated_connection_is_reconnected(postgres_url, pg_namespace):
    store = _store(postgres_url, pg_namespace)
    try:
        store.add(_records(3))
        pid = store._run(lambda conn: conn.info.backend_pid)
        pg_execute(postgres_url, "SELECT pg_terminate_backend(%s)", (pid,))
        assert store.count("a") == 3  # the dropped connection was replaced
        assert store._run(lambda conn: conn.info.backend_pid) != pid
        store.clear()
    finally:
        store.close()


def _proxied(postgres_url: str) -> tuple[TcpProxy, str]:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    params = conninfo_to_dict(postgres_url)
    proxy = TcpProxy(params.get("host") or "127.0.0.1", int(params.get("port") or 5432))
    return proxy, make_conninfo(postgres_url, host="127.0.0.1", port=str(proxy.port))


def test_a_lost_server_is_retried_a_bounded_number_of_times(postgres_url, pg_namespace):
    proxy, url = _proxied(postgres_url)
    store = _store(url, pg_namespace)
    try:
        store.add(_records(3))
        proxy.stop()
        started = time.monotonic()
        with pytest.raises(StorageError, match="gave up after 2 retries; last: .*unreachable"):
            store.count("a")
        assert time.monotonic() - started < 3.0
    finally:
        store.close()
        proxy.stop()
    cleaner = _store(postgres_url, pg_namespace)
    cleaner.clear()
    cleaner.close()


def test_a_frozen_server_never_hangs_a_call(postgres_url, pg_namespace):
    """The server stops answering mid-session (its kernel still acknowledges): the watchdog breaks the
    call, reconnecting times out, StorageError in bounded time."""
    proxy, url = _proxied(postgres_url)
    store = _store(url, pg_namespace, timeout=1.0)
    try:
        store.add(_records(3))
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(StorageError, match="gave up after 2 retries"):
            store.count("a")
        elapsed = time.monotonic() - started
        assert 2.0 < elapsed < 12.0, elapsed  # 2 * timeout + 1 s, then two 2 s connect timeouts
    finally:
        proxy.stop()
        store.close()
    cleaner = _store(postgres_url, pg_namespace)
    cleaner.clear()
    cleaner.close()


# -- the fully shared deployment: STM/IM on Redis, LTM on PostgreSQL, many processes --------------------
AGENTS = ("a0", "a1", "a2")


def _shared_config(redis_url: str, postgres_url: str, namespace: str, **fields: Any) -> MemoryConfig:
    config = _config(postgres_url, namespace, backend="redis", redis_url=redis_url, cleanup_interval=1,
                     discard_threshold=0.0, **fields)
    config.stm_config.memory_limit = 2
    config.im_config.memory_limit = 2
    return config


def _shared_content(worker: int, seq: int) -> dict[str, Any]:
    """Exact under LTM rounding."""
    return {"worker": worker, "seq": seq, "label": f"w{worker}-s{seq}", "hp": 0.5 + seq % 4, "ok": seq % 3 == 0}


def _shared_worker(args: tuple) -> tuple[list[tuple[str, str, int, int]], int]:
    """One of the processes: stores memories of the shared agents, its maintenance moving them along."""
    config, worker, n = args
    rng = random.Random(worker)
    out = []
    with AgentMemorySystem(MemoryConfig.from_dict(config)) as system:
        for seq in range(n):
            agent = AGENTS[rng.randrange(len(AGENTS))]
            out.append((system.store_agent_state(agent, _shared_content(worker, seq), seq), agent, worker, seq))
        failures = sum(system.get_memory_statistics(a)["maintenance_failures"] for a in AGENTS)
    return out, failures


def _drain_into_ltm(redis_url: str, postgres_url: str, namespace: str, pause: float) -> None:
    """Maintain the shared agents with STM and IM TTLs of a microsecond until both are empty: all in LTM."""
    drain = _shared_config(redis_url, postgres_url, namespace)
    drain.stm_config.ttl = drain.im_config.ttl = 1e-6
    with AgentMemorySystem(drain) as system:
        for _ in range(20):
            for agent in AGENTS:
                system.force_memory_maintenance(agent)
            if not any(t.store.count(a) for t in (system.stm, system.im) for a in AGENTS):
                return
            time.sleep(pause)
        left = {(t.name, a): t.store.count(a) for t in (system.stm, system.im) for a in AGENTS}
    raise AssertionError(f"memories stayed in STM or IM: {left}")


def _clear_shared(redis_url: str, postgres_url: str, namespace: str) -> None:
    """Delete the namespace's Redis keys (checked gone by redis_namespace) and its PostgreSQL rows."""
    with AgentMemorySystem(_shared_config(redis_url, postgres_url, namespace)) as system:
        system.clear_all_memories()
    drop_namespace(postgres_url, namespace)


@pytest.mark.slow  # four spawned processes on Redis and PostgreSQL: ~5 s
@pytest.mark.redis
def test_processes_sharing_agents_on_redis_and_postgres_lose_and_duplicate_nothing(redis_url, redis_namespace,
                                                                                     postgres_url):
    """4 processes, shared agents, STM and IM limits of 2 (every store moves memories): afterwards every
    memory is in LTM exactly once, none lost, none left behind in STM or IM, its content exact."""
    ns = redis_namespace
    config = _shared_config(redis_url, postgres_url, ns)
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(4) as pool:
            parts = pool.map(_shared_worker, [(config.to_dict(), w, 40) for w in range(4)])
        stored = [m for part, _ in parts for m in part]
        assert len({m[0] for m in stored}) == 160 and [failures for _, failures in parts] == [0] * 4
        moved = pg_execute(postgres_url, "SELECT count(*) FROM agentmemory_ltm WHERE namespace = %s", (ns,))[0][0]
        assert moved >= 100  # most moved while the processes ran (at most 2 + 2 per agent stay behind)
        _drain_into_ltm(redis_url, postgres_url, ns, 0.01)  # what is left in STM or IM moves on
        with AgentMemorySystem(config) as system:
            for agent in AGENTS:
                mine = [m for m in stored if m[1] == agent]
                rows = pg_execute(postgres_url, "SELECT memory_id FROM agentmemory_ltm WHERE namespace = %s "
                                  "AND agent_id = %s", (ns, agent))
                assert sorted(r[0] for r in rows) == sorted(m[0] for m in mine)  # once each, none lost
                got = system.retrieve_states([m[0] for m in mine], tier="ltm")
                assert [g["content"] for g in got] == [_shared_content(w, s) for _, _, w, s in mine]
    finally:
        _clear_shared(redis_url, postgres_url, ns)


CRASH_WORKER = r'''
import json, random, sys
from memory import AgentMemorySystem, MemoryConfig
config, worker, side = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(worker)
with AgentMemorySystem(MemoryConfig.from_dict(config)) as s, open(side, "a", buffering=1) as log:
    s.stm.store.claim_lease = s.im.store.claim_lease = 0.5  # a killed worker's claims lapse soon
    log.write("ready\n")
    seq = 0
    while True:  # until SIGKILLed, mid-move or not
        agent = "a%d" % rng.randrange(3)
        mid = s.store_agent_state(agent, {"worker": worker, "seq": seq, "label": "w%d-s%d" % (worker, seq)}, seq)
        log.write("%s %s %d\n" % (mid, agent, seq))  # written once stored
        seq += 1
'''


@pytest.mark.slow  # rounds of SIGKILLed worker processes: ~8 s
@pytest.mark.redis
def test_sigkilled_movers_lose_and_duplicate_nothing(redis_url, redis_namespace, postgres_url, tmp_path):
    """Workers moving memories STM -> IM -> LTM (Redis, PostgreSQL) SIGKILLed at random moments: every memory
    a worker saw stored ends in LTM exactly once (the LTM write comes first and is idempotent by id)."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    ns = redis_namespace
    config = json.dumps(_shared_config(redis_url, postgres_url, ns).to_dict())
    rng = random.Random(13)
    stored: dict[str, tuple[str, int, int]] = {}
    try:
        for round_ in range(3):
            sides = [str(tmp_path / f"r{round_}w{w}.log") for w in range(3)]
            procs = [subprocess.Popen([sys.executable, "-c", CRASH_WORKER, config, str(10 * round_ + w), side],
                                      cwd=str(Path(__file__).resolve().parent.parent), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE) for w, side in enumerate(sides)]
            kill_once_started(procs, sides, rng.uniform(0.3, 1.0))
            for w, side in enumerate(sides):
                for line in Path(side).read_text().split("\n")[1:-1]:  # a line cut by the kill is dropped
                    mid, agent, seq = line.split()
                    stored[mid] = (agent, 10 * round_ + w, int(seq))
        assert len(stored) >= 50
        time.sleep(0.6)  # the killed workers' claims lapse
        _drain_into_ltm(redis_url, postgres_url, ns, 0.05)
        with AgentMemorySystem(_shared_config(redis_url, postgres_url, ns)) as system:
            rows = pg_execute(postgres_url, "SELECT memory_id FROM agentmemory_ltm WHERE namespace = %s", (ns,))
            in_ltm = [r[0] for r in rows]
            assert len(in_ltm) == len(set(in_ltm))
            lost = set(stored) - set(in_ltm)
            assert not lost, f"{len(lost)} of {len(stored)} stored memories are not in LTM, e.g. {sorted(lost)[:3]}"
            got = system.retrieve_states(list(stored), tier="ltm")
            assert [(g["content"]["worker"], g["content"]["seq"]) for g in got] == [v[1:] for v in stored.values()]
    finally:
        _clear_shared(redis_url, postgres_url, ns)
