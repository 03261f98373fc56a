"""The Redis backend for STM and IM: tier behaviours on both backends (and a cluster), sharing between
processes, atomicity, native IM expiry, failure behaviour, namespaces and the key layout."""

from __future__ import annotations

import multiprocessing
import random
import socket
import threading
import time

import numpy as np
import pytest

from memory import AgentMemorySystem, MemoryConfig, StorageError
from redis_fixtures import namespace_keys, seed_state, start_redis_server, unique_namespace


def _states(n: int, seed: int = 0, complexity: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [seed_state(complexity, rng, step=i) for i in range(n)]


# -- the core's tier behaviours, on every backend ------------------------------------------------------
def test_round_trip(make_backend_system):
    system = make_backend_system()
    data = _states(20)
    one = system.store_agent_state("a", data[0], 0, priority=2.0)
    many = system.store_agent_states("a", data[1:], step_numbers=list(range(1, 20)))
    action = system.store_agent_action("a", {"move": "north", "speed": 1.5}, 20)
    assert isinstance(one, str) and len(many) == 19
    mem = system.retrieve_state(one)
    assert mem["content"] == data[0] and mem["tier"] == "stm" and mem["step_number"] == 0
    assert mem["metadata"]["priority"] == 2.0 and mem["memory_type"] == "state"
    for mid, state in zip(many, data[1:]):
        assert system.retrieve_state(mid, agent_id="a")["content"] == state
    assert system.retrieve_state(action)["memory_type"] == "action"
    assert system.retrieve_state(one, agent_id="b") is None
    assert system.retrieve_state("a:doesnotexist") is None and system.retrieve_state("nocolon") is None
    assert system.memory_exists(one) and not system.memory_exists("a:0000")
    unicode = {"name": "Zoë ✓ {brace}", "nested": {"list": [1, 2.5, None, True, "x"]}}
    mid = system.store_agent_state("agent:{odd}#1", unicode, 3)
    assert system.retrieve_state(mid)["content"] == unicode
    assert system.retrieve_similar_states("agent:{odd}#1", unicode, k=1)[0]["memory_id"] == mid


def test_transitions_stm_im_ltm(make_backend_system):
    system = make_backend_system(stm_limit=20, im_limit=30, cleanup_interval=10_000)
    data = _states(100)
    ids = system.store_agent_states("a", data)
    report = system.force_memory_maintenance("a")
    assert report == {"forgotten": 0, "stm_to_im": 80, "im_to_ltm": 50}
    st = system.get_memory_statistics("a")
    assert [st["tiers"][t]["count"] for t in ("stm", "im", "ltm")] == [20, 30, 50]
    where = {t: [m for m in ids if system.memory_exists(m, tier=t)] for t in ("stm", "im", "ltm")}
    assert [len(where[t]) for t in ("stm", "im", "ltm")] == [20, 30, 50]
    im = system.retrieve_state(where["im"][0])
    src = data[ids.index(where["im"][0])]
    assert im["tier"] == "im" and im["content"]["inventory"] == src["inventory"]
    assert im["content"]["attributes"]["attr_0"] == pytest.approx(src["attributes"]["attr_0"], rel=1e-3)
    hits = system.retrieve_similar_states("a", src, k=1, tier="im")
    assert hits and hits[0]["memory_id"] == where["im"][0]
    assert st["tiers"]["im"]["stored_bytes"] > 0 and st["tiers"]["ltm"]["compression_ratio"] > 1.0


def test_automatic_maintenance_and_forgetting(make_backend_system):
    system = make_backend_system(stm_limit=10, cleanup_interval=5)
    for i in range(20):
        system.store_agent_state("a", {"i": i, "tag": "x"}, i, priority=0.01 if i < 10 else 1.0)
    system.force_memory_maintenance("a")
    st = system.get_memory_statistics("a")
    assert st["tiers"]["stm"]["count"] == 10
    assert st["forgotten"] + st["tiers"]["im"]["count"] + st["tiers"]["ltm"]["count"] == 10
    forget = make_backend_system(stm_limit=10, cleanup_interval=10_000, discard_threshold=100.0)
    forget.store_agent_states("f", _states(30))
    report = forget.force_memory_maintenance("f")
    assert report == {"forgotten": 20, "stm_to_im": 0, "im_to_ltm": 0}
    assert forget.get_memory_statistics("f")["total_memories"] == 10


def test_search_equals_brute_force(make_backend_system):
    system = make_backend_system()
    data = _states(400, seed=3)
    ids = system.store_agent_states("a", data[:200])
    ids += [system.store_agent_state("a", s, 200 + i) for i, s in enumerate(data[200:])]
    vecs = system.encoder.encode_states(data)
    vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    for q in _states(5, seed=99):
        query = system.encoder.encode(q)
        query = query / np.linalg.norm(query)
        sims = vecs @ query
        expected = [ids[i] for i in np.argsort(-sims, kind="stable")[:10]]
        hits = system.retrieve_similar_states("a", q, k=10, tier="stm")
        assert [h["memory_id"] for h in hits] == expected
        assert [h["similarity"] for h in hits] == pytest.approx(sorted(sims, reverse=True)[:10], abs=1e-5)


def test_time_range_and_attributes(make_backend_system):
    system = make_backend_system()
    for i in range(30):
        system.store_agent_state("a", {"i": i, "status": "idle" if i % 3 else "busy", "pos": {"x": i % 5}}, i)
        system.store_agent_action("a", {"i": i, "do": "wait"}, i)
    got = system.retrieve_by_time_range("a", 10, 14)
    assert sorted(m["step_number"] for m in got) == [10, 10, 11, 11, 12, 12, 13, 13, 14, 14]
    states = system.retrieve_by_time_range("a", 10, 14, memory_type="state")
    assert [m["step_number"] for m in states] == [10, 11, 12, 13, 14]
    busy = system.retrieve_by_attributes("a", {"status": "busy"})
    assert [m["content"]["i"] for m in busy] == list(range(0, 30, 3))
    assert [m["content"]["i"] for m in system.retrieve_by_attributes("a", {"pos.x": 4})] == [4, 9, 14, 19, 24, 29]


def test_statistics(make_backend_system):
    system = make_backend_system()
    ids = system.store_agent_states("a", _states(50))
    system.store_agent_state("b", {"x": 1}, 0)
    st = system.get_memory_statistics("a")
    stored = sum(len(system.stm.store.get(m).content) for m in ids)
    assert st["tiers"]["stm"]["count"] == 50 and st["total_memories"] == 50
    assert st["tiers"]["stm"]["stored_bytes"] == stored == st["tiers"]["stm"]["raw_bytes"]
    assert sorted(system.stm.store.agent_ids()) == ["a", "b"]
    system.stm.remove("a", ids[:10])
    assert system.get_memory_statistics("a")["tiers"]["stm"]["count"] == 40
    assert system.get_memory_statistics("a")["tiers"]["stm"]["stored_bytes"] == \
        sum(len(system.stm.store.get(m).content) for m in ids[10:])


def test_clear_only_own_namespace(make_backend_system):
    mine = make_backend_system()
    other = make_backend_system(namespace=unique_namespace())
    m1 = mine.store_agent_state("a", {"x": 1}, 0)
    m2 = other.store_agent_state("a", {"x": 2}, 0)
    assert mine.retrieve_state(m2) is None and other.retrieve_state(m1) is None
    mine.clear_all_memories()
    assert mine.retrieve_state(m1) is None
    assert other.retrieve_state(m2)["content"] == {"x": 2}
    assert other.get_memory_statistics("a")["tiers"]["stm"]["count"] == 1
    if make_backend_system.url is not None:
        assert namespace_keys(make_backend_system.url, mine.config.namespace) == []
        assert namespace_keys(make_backend_system.url, other.config.namespace)


def test_retrain_reembeds_im(make_backend_system):
    system = make_backend_system(stm_limit=30, cleanup_interval=10_000)
    data = _states(60, seed=5)
    ids = system.store_agent_states("a", data)
    system.force_memory_maintenance("a")
    report = system.train_compression(epochs=2)
    assert len(report["tiers"]["im"]["loss_per_epoch"]) == 2
    im_ids = [m for m in ids if system.memory_exists(m, tier="im")]
    hits = system.retrieve_similar_states("a", data[ids.index(im_ids[0])], k=1, tier="im")
    assert hits[0]["memory_id"] == im_ids[0]


# -- sharing between systems and processes (Redis only) ---------------------------------------------
@pytest.fixture
def redis_backend(backend):
    if backend == "memory":
        pytest.skip("a Redis-only behaviour")
    return backend


def test_second_system_sees_writes(redis_backend, make_backend_system):
    a, b = make_backend_system(), make_backend_system()
    ids = a.store_agent_states("shared", _states(30))
    assert b.retrieve_state(ids[5])["content"] == _states(30)[5]
    assert len(b.retrieve_similar_states("shared", _states(30)[7], k=50, tier="stm")) == 30
    mid = b.store_agent_state("shared", {"from": "b", "v": 1.0}, 99)
    a.retrieve_similar_states("shared", {"x": 1}, k=1)  # a rebuilds its index from the store
    single = a.store_agent_state("shared", {"from": "a", "v": 2.0}, 100)  # a single store after a rebuild
    hits = a.retrieve_similar_states("shared", {"from": "b", "v": 1.0}, k=1)
    assert hits[0]["memory_id"] == mid
    assert b.retrieve_similar_states("shared", {"from": "a", "v": 2.0}, k=1)[0]["memory_id"] == single
    assert a.get_memory_statistics("shared")["tiers"]["stm"]["count"] == 32
    for _ in range(3):
        b.retrieve_state(ids[0])
    b.stm.store.flush_touches()
    assert a.retrieve_state(ids[0])["metadata"]["retrieval_count"] == 5  # 1 (b's first read) + 3 + this one


def _mp_worker(url: str, namespace: str, worker: int, barrier, out) -> None:
    config = MemoryConfig(backend="redis", redis_url=url, namespace=namespace, cleanup_interval=100_000)
    config.stm_config.memory_limit = 100_000
    with AgentMemorySystem(config) as system:
        rng = random.Random(worker)
        ids = []
        for j in range(250):  # singly, alternating between the two shared agents
            ids.append(system.store_agent_state(f"shared-{j % 2}", seed_state(1, rng, j), worker * 1000 + j))
        for agent in ("shared-0", "shared-1"):
            batch = [seed_state(1, rng, j) for j in range(125)]
            ids += system.store_agent_states(agent, batch, step_numbers=[worker * 1000 + 500 + j for j in range(125)])
        barrier.wait(60)
        seen = {}
        for agent in ("shared-0", "shared-1"):
            in_range = system.retrieve_by_time_range(agent, 0, 10_000)
            index = system.stm.index(agent)
            hits = system.retrieve_similar_states(agent, seed_state(1, random.Random(0)), k=2000, tier="stm")
            seen[agent] = (len(in_range), len(index), len(hits), system.stm.store.count(agent))
        out.put((worker, ids, seen))
        barrier.wait(60)


@pytest.mark.slow
def test_four_processes_share_agents(redis_backend, make_backend_system):
    url, ns = make_backend_system.url, unique_namespace()
    cleaner = make_backend_system(namespace=ns)  # registers the namespace for cleanup and the key check
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_mp_worker, args=(url, ns, w, barrier, out)) for w in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    all_ids = [m for _, ids, _ in results for m in ids]
    assert len(all_ids) == len(set(all_ids)) == 2000
    for worker, _, seen in results:
        assert seen == {"shared-0": (1000, 1000, 1000, 1000), "shared-1": (1000, 1000, 1000, 1000)}, worker
    assert all(m is not None for m in cleaner.retrieve_states(all_ids))


def test_entries_are_never_half_visible(redis_backend, make_backend_system):
    writer, reader = make_backend_system(), make_backend_system()
    store = reader.stm.store
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(40):
                ids = writer.store_agent_states("atom", _states(25, seed=i))
                if i % 3 == 2:
                    writer.stm.remove("atom", ids[:25])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=write)
    thread.start()
    checks = 0
    p = store._prefix("atom")
    while not stop.is_set() or checks < 5:
        pipe = store._r.pipeline(transaction=True)
        pipe.zcard(p + "ids")
        pipe.hlen(p + "sz")
        n_ids, n_sizes = pipe.execute()
        assert n_ids == n_sizes and n_ids % 25 == 0  # a batch appears (and leaves) all at once
        for rec in store.records("atom"):
            assert rec.vector is not None and rec.vector.shape == (reader.stm.dim,)
            assert isinstance(reader.stm.codec.decode(rec.content), dict)
        checks += 1
    thread.join()
    assert not errors


# -- IM expiry through Redis --------------------------------------------------------------------------
@pytest.mark.slow  # sleeps 2.3 s for Redis to expire the records
def test_im_records_expire_in_redis(redis_backend, make_backend_system):
    system = make_backend_system(im_ttl=1.0, cleanup_interval=10_000)  # Redis expiry: ttl + 1 s grace
    ids = system.store_agent_states("a", _states(10), tier="im")
    assert system.get_memory_statistics("a")["tiers"]["im"]["count"] == 10
    assert system.retrieve_state(ids[0])["tier"] == "im"
    time.sleep(2.3)  # nobody runs maintenance: Redis alone removes them
    assert all(system.retrieve_state(m) is None for m in ids)
    assert system.retrieve_similar_states("a", _states(1)[0], k=5) == []
    st = system.get_memory_statistics("a")["tiers"]["im"]
    assert st["count"] == 0 and st["stored_bytes"] == 0
    left = [k for k in namespace_keys(make_backend_system.url, system.config.namespace) if b":im:m:" in k]
    assert left == []
    assert system.force_memory_maintenance("a") == {"forgotten": 0, "stm_to_im": 0, "im_to_ltm": 0}


def test_im_ttl_maintenance_moves_to_ltm_before_expiry(redis_backend, make_backend_system):
    system = make_backend_system(im_ttl=1.0, cleanup_interval=10_000)
    ids = system.store_agent_states("a", _states(10), tier="im")
    time.sleep(1.2)  # past the TTL, inside Redis' grace
    assert system.force_memory_maintenance("a")["im_to_ltm"] == 10
    assert all(system.retrieve_state(m)["tier"] == "ltm" for m in ids)


# -- failures -----------------------------------------------------------------------------------------
def test_unreachable_server_fails_fast():
    port = __import__("redis_fixtures").free_port()
    for url in (f"redis://127.0.0.1:{port}/0", f"redis+cluster://127.0.0.1:{port}"):
        t = time.monotonic()
        with pytest.raises(StorageError, match=f"127.0.0.1:{port}"):
            AgentMemorySystem(MemoryConfig(backend="redis", redis_url=url))
        assert time.monotonic() - t < 2.0
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        port = silent.getsockname()[1]
        t = time.monotonic()
        with pytest.raises(StorageError, match=f"127.0.0.1:{port}"):
            AgentMemorySystem(MemoryConfig(backend="redis", redis_url=f"redis://127.0.0.1:{port}/0"))
        assert time.monotonic() - t < 2.0
    finally:
        silent.close()


@pytest.mark.redis
def test_dropped_connection_retries_then_storage_error():
    server = start_redis_server()
    try:
        system = AgentMemorySystem(MemoryConfig(backend="redis", redis_url=server.url, namespace="drop"))
        mid = system.store_agent_state("a", {"x": 1}, 0)
        server.stop()
        t = time.monotonic()
        with pytest.raises(StorageError, match=f"127.0.0.1:{server.port}"):
            system.store_agent_state("a", {"x": 2}, 1)
        with pytest.raises(StorageError):
            system.retrieve_state(mid)
        assert time.monotonic() - t < 5.0
        system.close()
    finally:
        server.stop()


# -- layout -------------------------------------------------------------------------------------------
def test_keys_of_an_agent_share_one_slot(redis_backend, make_backend_system):
    from redis.cluster import key_slot
    system = make_backend_system(stm_limit=5, cleanup_interval=10_000)
    agents = ["plain", "with:colon", "{braces}", "#hash", "x}y{z"]
    for a in agents:
        system.store_agent_states(a, _states(8))
        system.force_memory_maintenance(a)
    keys = namespace_keys(make_backend_system.url, system.config.namespace)
    by_agent_tier: dict[tuple, set] = {}
    for key in keys:
        k = key.decode()
        if "{" in k:
            tag = k[k.index("{"):k.index("}") + 1]
            tier = k[k.index("}") + 2:].split(":")[0]
            by_agent_tier.setdefault((tag, tier), set()).add(key_slot(key))
    assert len(by_agent_tier) == 2 * len(agents)
    assert all(len(slots) == 1 for slots in by_agent_tier.values())
    assert sorted(system.stm.store.agent_ids()) == sorted(agents)
    assert sorted(system.im.store.agent_ids()) == sorted(agents)


@pytest.mark.redis
@pytest.mark.cluster
def test_cluster_flag_with_plain_url(redis_cluster_url):
    url = "redis://" + redis_cluster_url[len("redis+cluster://"):]
    ns = unique_namespace()
    config = MemoryConfig(backend="redis", redis_url=url, redis_cluster=True, namespace=ns)
    with AgentMemorySystem(config) as system:
        ids = system.store_agent_states("a", _states(10))
        ids += system.store_agent_states("b", _states(10))
        assert all(system.retrieve_state(m) for m in ids)
        system.clear_all_memories()
    assert namespace_keys(redis_cluster_url, ns) == []
