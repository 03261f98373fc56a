"""Redis under faults (issue #10): a hung server (SIGSTOP) makes writes time out and be retried, so a
write reported failed may still land -- at most once, never counted twice, and the error says the outcome
is unknown (defect 6); processes sharing a namespace claim each leaving memory atomically, so none is
moved twice, archived in two LTM files, or counted forgotten while it survives (defect 11)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import threading
import time
from typing import Iterator

import pytest

from memory import AgentMemorySystem, ConfigError, MemoryConfig, StorageError
from redis_fixtures import RedisServer, seed_state, start_redis_server, unique_namespace

pytestmark = pytest.mark.redis

STALL_TIMEOUT = 0.25  # MemoryConfig.redis_timeout in the stall tests: a store fails after ~3 x this


def _states(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [seed_state(1, rng, step=i) for i in range(n)]


# -- a server of our own that can hang ---------------------------------------------------------------
@pytest.fixture
def hang_server() -> Iterator[RedisServer]:
    """A redis-server of this test only; always resumed (SIGCONT) and stopped at teardown."""
    server = start_redis_server()
    try:
        yield server
    finally:
        _resume(server)
        server.stop()


def _stall(server: RedisServer) -> None:
    os.kill(server.proc.pid, signal.SIGSTOP)


def _resume(server: RedisServer) -> None:
    if server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)


def _drain(server: RedisServer) -> None:
    """Resume the server and wait until it has run every command the stalled calls left in its sockets."""
    import redis
    _resume(server)
    client = redis.Redis.from_url(server.url, socket_timeout=5)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            clients = client.client_list()
            if len(clients) <= 2:  # ours and the system's live connection
                break
            time.sleep(0.05)
        client.ping()
    finally:
        client.close()


def _system(server: RedisServer, **fields) -> AgentMemorySystem:
    config = MemoryConfig(backend="redis", redis_url=server.url, namespace=unique_namespace(),
                          redis_timeout=STALL_TIMEOUT, cleanup_interval=100_000, **fields)
    config.stm_config.memory_limit = 100_000
    return AgentMemorySystem(config)


def _check_sizes(system: AgentMemorySystem, agent: str) -> None:
    """The tier statistics equal what the records themselves add up to (nothing counted twice)."""
    for tier in (system.stm, system.im):
        records = tier.store.records(agent)
        stats = system.get_memory_statistics(agent)["tiers"][tier.name]
        assert stats["count"] == len(records) == len({r.memory_id for r in records}), tier.name
        assert stats["stored_bytes"] == sum(len(r.content) for r in records), tier.name
        assert stats["raw_bytes"] == sum(r.raw_bytes for r in records), tier.name


# -- defect 6: a failed write is applied at most once, and says its outcome is unknown --------------
def test_redis_timeout_is_validated():
    for bad in (0, -1.0, float("nan"), "5"):
        with pytest.raises(ConfigError, match="redis_timeout"):
            MemoryConfig(redis_timeout=bad).validate()


@pytest.mark.slow  # ~5.5 s of hangs and retries
def test_stores_during_a_hang_land_at_most_once_and_say_outcome_unknown(hang_server):
    system = _system(hang_server)
    try:
        system.store_agent_state("a", {"x": 0}, 0)
        system.im.index("a")  # (built now: building it during the hang would fail on a read, before any write)
        _stall(hang_server)
        started = time.monotonic()
        failures: list[tuple[StorageError, list]] = []
        for i in range(1, 5):  # single stores: the one-command Lua script
            with pytest.raises(StorageError) as err:
                system.store_agent_state("a", {"x": i}, i)
            failures.append((err.value, [{"x": i}]))
        batch = [{"x": 100 + j} for j in range(20)]  # > 16 records: MULTI/EXEC
        with pytest.raises(StorageError) as err:
            system.store_agent_states("a", batch, step_numbers=list(range(100, 120)))
        failures.append((err.value, batch))
        with pytest.raises(StorageError) as err:  # IM: the TTL script
            system.store_agent_states("a", [{"x": 200}, {"x": 201}], step_numbers=[200, 201], tier="im")
        failures.append((err.value, [{"x": 200}, {"x": 201}]))
        assert time.monotonic() - started < 6 * 3 * (STALL_TIMEOUT + 0.3)  # the configured timeout was used
        for exc, contents in failures:
            text = str(exc)
            assert "outcome unknown" in text and "memory_exists" in text, text
            assert len(exc.memory_ids) == len(contents) and exc.memory_ids[0] in text
        _drain(hang_server)

        # what landed, landed once: counts and sizes match the records, nothing doubled
        _check_sizes(system, "a")
        landed = {m for exc, _ in failures for m in exc.memory_ids if system.memory_exists(m)}
        stm_count = system.get_memory_statistics("a")["tiers"]["stm"]["count"]
        im_count = system.get_memory_statistics("a")["tiers"]["im"]["count"]
        assert stm_count + im_count == 1 + len(landed)

        # the documented recovery: store again only what does not exist -- no duplicates either way
        for exc, contents in failures:
            tier = "im" if contents[0]["x"] >= 200 else "stm"
            for mid, content in zip(exc.memory_ids, contents):
                if not system.memory_exists(mid):
                    system.store_agent_state("a", content, content["x"], tier=tier)
        xs = sorted(m["content"]["x"] for m in system.retrieve_by_time_range("a", 0, 1000))
        assert xs == [0, 1, 2, 3, 4] + list(range(100, 120)) + [200, 201]
        _check_sizes(system, "a")
        system.clear_all_memories()
    finally:
        system.close()


def test_retrieval_counts_written_during_a_hang_are_never_doubled(hang_server):
    system = _system(hang_server)
    try:
        mid = system.store_agent_state("a", {"x": 0}, 0)
        for _ in range(5):
            system.retrieve_state(mid)  # buffered: written together later
        _stall(hang_server)
        with pytest.raises(StorageError) as err:
            system.stm.store.flush_touches()
        assert "outcome unknown" in str(err.value)
        _drain(hang_server)
        assert system.stm.store.get(mid).retrieval_count in (0, 5)  # applied once or not at all, never 10 or 15
        system.clear_all_memories()
    finally:
        system.close()


def _evalsha_runs(server: RedisServer) -> int:
    import redis
    client = redis.Redis.from_url(server.url)
    try:
        return client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    finally:
        client.close()


def _run_twice(server: RedisServer, call) -> list:
    """Run `call` while the server hangs a little longer than one reply timeout: the driver's first attempt
    times out, its retry is sent, and the server then runs both. Called again until that is seen (on a
    loaded machine the timing can miss); returns the results of every call."""
    results = []
    for _ in range(5):
        before = _evalsha_runs(server)
        _stall(server)
        timer = threading.Timer(STALL_TIMEOUT * 1.4, _resume, (server,))
        timer.start()
        try:
            results.append(call())
        finally:
            timer.join()
        _drain(server)
        if _evalsha_runs(server) - before >= 2:  # the same script ran twice
            return results
    pytest.fail("the server never ran a retried command twice")


def test_writes_the_driver_sends_twice_count_once(hang_server):
    system = _system(hang_server)
    try:
        mid = system.store_agent_state("a", {"x": 0}, 0)
        for _ in range(5):
            system.retrieve_state(mid)
        _run_twice(hang_server, system.stm.store.flush_touches)
        assert system.stm.store.get(mid).retrieval_count == 5  # not 10

        singles = _run_twice(hang_server, lambda: system.store_agent_state("a", {"x": 1}, 1))
        batches = _run_twice(hang_server, lambda: system.store_agent_states("a", [{"x": 2}, {"x": 3}], tier="im"))
        _check_sizes(system, "a")
        ids = [m["memory_id"] for m in system.retrieve_by_time_range("a", 0, 10)]
        assert sorted(ids) == sorted([mid, *singles, *(m for b in batches for m in b)])  # each call: one copy

        for claimed in _run_twice(hang_server, lambda: system.stm.store.claim("a", [mid, singles[0]])):
            assert [r.memory_id for r in claimed] == [mid, singles[0]]  # a repeated run returns the same claim
        system.clear_all_memories()
    finally:
        system.close()


def test_maintenance_after_a_hang_finishes_the_moves(hang_server):
    system = _system(hang_server)
    try:
        system.config.stm_config.memory_limit = 10
        states = _states(30)
        priorities = [0.0 if i % 3 == 0 else 1.0 for i in range(30)]
        ids = system.store_agent_states("a", states, priorities=priorities)
        _stall(hang_server)
        with pytest.raises(StorageError):
            system.force_memory_maintenance("a")
        _drain(hang_server)
        report = system.force_memory_maintenance("a")
        stats = system.get_memory_statistics("a")
        where = {m: [t for t in ("stm", "im", "ltm") if system.memory_exists(m, tier=t)] for m in ids}
        assert all(len(tiers) <= 1 for tiers in where.values())  # never in two tiers
        kept = sum(1 for tiers in where.values() if tiers)
        assert stats["tiers"]["stm"]["count"] == 10
        assert kept + report["forgotten"] <= 30 and kept >= 20  # the priority-1 memories all survive
        _check_sizes(system, "a")
        system.clear_all_memories()
    finally:
        system.close()


def test_memories_claimed_by_a_failed_move_are_moved_by_the_next_maintenance(hang_server):
    """A move that cannot write IM (an ACL user that may not, at first) leaves its claimed memories in STM;
    the same system's next maintenance, once IM is writable, moves each of them once."""
    import redis
    ns = unique_namespace()
    admin = redis.Redis.from_url(hang_server.url)
    stm_keys = [f"{ns}:{{a}}:stm:*", f"{ns}:stm:*"]
    admin.acl_setuser("mover", enabled=True, passwords=["+pw"], keys=stm_keys, commands=["+@all"])
    config = MemoryConfig(backend="redis", redis_url=f"redis://mover:pw@127.0.0.1:{hang_server.port}/0",
                          namespace=ns, cleanup_interval=100_000, redis_timeout=STALL_TIMEOUT)
    config.stm_config.memory_limit = 2
    try:
        with AgentMemorySystem(config) as system:
            ids = [system.store_agent_state("a", {"x": i}, i) for i in range(5)]
            with pytest.raises(StorageError):
                system.force_memory_maintenance("a")  # claims 3 in STM, then IM refuses them
            assert sorted(r.memory_id for r in system.stm.store.records("a")) == sorted(ids)  # none lost
            admin.acl_setuser("mover", keys=stm_keys + [f"{ns}:{{a}}:im:*", f"{ns}:im:*"], commands=["+@all"])
            assert system.force_memory_maintenance("a") == {"forgotten": 0, "stm_to_im": 3, "im_to_ltm": 0}
            assert system.get_memory_statistics("a")["transitions"]["stm_to_im"] == 3
            _check_sizes(system, "a")
            assert sorted(m["memory_id"] for m in system.retrieve_by_time_range("a", 0, 10)) == sorted(ids)
    finally:
        admin.close()


def test_repeated_writes_are_idempotent_by_id(make_backend_system):
    """A write the driver re-sends (after a lost reply) runs again: the same ids, sizes counted once."""
    if make_backend_system.backend == "memory":
        pytest.skip("a Redis-only behaviour")
    system = make_backend_system(cleanup_interval=100_000)
    store = system.stm.store
    ids = system.store_agent_states("a", _states(20))
    records = store.get_many(ids)
    before = store.stored_bytes("a"), store.count("a")
    store.add(records[:1])  # the one-command script path
    store.add(records)      # the MULTI/EXEC path
    assert (store.stored_bytes("a"), store.count("a")) == before
    claimed = store.claim("a", ids[:5])
    assert [r.memory_id for r in store.claim("a", ids[:5])] == [r.memory_id for r in claimed] == ids[:5]
    assert [r.memory_id for r in store.remove("a", ids[:5])] == ids[:5]
    assert store.remove("a", ids[:5]) == [] and store.claim("a", ids[:5]) == []
    assert store.count("a") == 15
    _check_sizes(system, "a")


# -- defect 11: atomic claims between processes ------------------------------------------------------
def test_a_claimed_memory_is_neither_moved_nor_forgotten_by_another(make_backend_system):
    if make_backend_system.backend == "memory":
        pytest.skip("a Redis-only behaviour")
    ns = unique_namespace()
    a = make_backend_system(namespace=ns, stm_limit=5, cleanup_interval=100_000)
    b = make_backend_system(namespace=ns, stm_limit=5, cleanup_interval=100_000)
    ids = a.store_agent_states("x", _states(10), priorities=[0.0] * 5 + [1.0] * 5)
    held = a.stm.store.claim("x", ids)  # a claims all, then stops (as if it crashed mid-maintenance)
    assert len(held) == 10
    assert b.stm.store.claim("x", ids) == []  # nobody else gets them ...
    assert b.force_memory_maintenance("x") == {"forgotten": 0, "stm_to_im": 0, "im_to_ltm": 0}
    assert b.get_memory_statistics("x")["tiers"]["stm"]["count"] == 10  # ... and nothing is lost


def test_an_abandoned_claim_lapses(make_backend_system):
    if make_backend_system.backend == "memory":
        pytest.skip("a Redis-only behaviour")
    ns = unique_namespace()
    a = make_backend_system(namespace=ns, stm_limit=5, cleanup_interval=100_000)
    b = make_backend_system(namespace=ns, stm_limit=5, cleanup_interval=100_000)
    ids = a.store_agent_states("x", _states(10), priorities=[0.0] * 5 + [1.0] * 5)
    a.stm.store.claim_lease = 0.3
    a.stm.store.claim("x", ids)
    a.close()  # the claimer is gone without finishing
    time.sleep(0.4)
    assert b.force_memory_maintenance("x") == {"forgotten": 5, "stm_to_im": 0, "im_to_ltm": 0}
    assert b.get_memory_statistics("x")["tiers"]["stm"]["count"] == 5


def _claim_worker(url: str, ns: str, worker: int, db_path: str, rounds: int, barrier, out) -> None:
    """Store batches into one shared agent and run maintenance in lockstep with the other workers."""
    config = MemoryConfig(backend="redis", redis_url=url, namespace=ns, cleanup_interval=1_000_000)
    # processes disagree on what to forget: even workers forget retention < 0.5, odd ones forget nothing and
    # move it all (in a real run, indexes read at different moments disagree near the threshold)
    config.discard_threshold = 0.5 if worker % 2 == 0 else 0.0
    config.stm_config.memory_limit = 30
    config.im_config.memory_limit = 30
    config.ltm_config.db_path = db_path
    rng = random.Random(worker)
    with AgentMemorySystem(config) as system:
        stored: list[str] = []
        for r in range(rounds):
            states = [seed_state(1, rng, step=r * 100 + j) for j in range(20)]
            priorities = [rng.choice([0.0, 0.3, 1.0, 1.0]) for _ in states]
            steps = [r * 1000 + worker * 100 + j for j in range(20)]
            stored += system.store_agent_states("shared", states, step_numbers=steps, priorities=priorities)
            barrier.wait(60)
            system.force_memory_maintenance("shared")
            barrier.wait(60)
        stats = system.get_memory_statistics("shared")
        out.put((worker, stored, stats["forgotten"], stats["transitions"]["stm_to_im"],
                 stats["transitions"]["im_to_ltm"]))
        barrier.wait(60)


def _ltm_ids(path: str) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT memory_id FROM memories")}
    finally:
        db.close()


@pytest.mark.slow
@pytest.mark.parametrize("ltm", ["file per process", "shared file"])
def test_processes_claim_each_leaving_memory_once(redis_url, tmp_path, ltm):
    ns, workers, rounds = unique_namespace(), 4, 12
    paths = [str(tmp_path / (f"ltm-{w}.db" if ltm == "file per process" else "ltm.db")) for w in range(workers)]
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_claim_worker, args=(redis_url, ns, w, paths[w], rounds, barrier, out))
             for w in range(workers)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=180) for _ in procs]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        config = MemoryConfig(backend="redis", redis_url=redis_url, namespace=ns)
        config.ltm_config.db_path = str(tmp_path / "inspect.db")
        with AgentMemorySystem(config) as system:
            in_stm = {r.memory_id for r in system.stm.store.records("shared")}
            in_im = {r.memory_id for r in system.im.store.records("shared")}
            system.clear_all_memories()
        ltm_sets = [_ltm_ids(p) for p in sorted(set(paths))]
        in_ltm = set().union(*ltm_sets)
        stored = [m for _, ids, *_ in results for m in ids]
        forgotten = sum(r[2] for r in results)
        stm_to_im = sum(r[3] for r in results)
        im_to_ltm = sum(r[4] for r in results)

        assert len(stored) == len(set(stored)) == workers * rounds * 20
        assert sum(len(s) for s in ltm_sets) == len(in_ltm), "a memory was archived in two LTM files"
        assert not (in_stm & in_im) and not (in_stm & in_ltm) and not (in_im & in_ltm), "a memory in two tiers"
        assert in_stm | in_im | in_ltm <= set(stored)
        survivors = len(in_stm) + len(in_im) + len(in_ltm)
        assert forgotten == len(stored) - survivors, "forgotten over- or under-counted"
        assert im_to_ltm == len(in_ltm), "a move to LTM counted twice (or lost)"
        assert stm_to_im == len(in_im) + len(in_ltm), "a move to IM counted twice (or lost)"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
