"""Tier transitions: forgotten, STM→IM, IM→LTM (limit and TTL), LTM limit; retention ordering."""

import time

import pytest


def test_overflow_moves_lowest_retention_to_im(make_system, states):
    system = make_system(stm_limit=50, cleanup_interval=10_000)
    data = states(80)
    ids = system.store_agent_states("a", data, priorities=[5.0 if i % 2 else 1.0 for i in range(80)])
    report = system.force_memory_maintenance("a")
    assert report == {"forgotten": 0, "stm_to_im": 30, "im_to_ltm": 0}
    st = system.get_memory_statistics("a")
    assert st["tiers"]["stm"]["count"] == 50 and st["tiers"]["im"]["count"] == 30
    moved = [i for i, m in enumerate(ids) if system.memory_exists(m, tier="im")]
    assert all(i % 2 == 0 for i in moved)  # the priority-1 memories left first
    im = system.retrieve_state(ids[moved[0]])
    assert im["tier"] == "im"
    original = data[moved[0]]["attributes"]["attr_0"]
    assert im["content"]["attributes"]["attr_0"] == pytest.approx(original, rel=1e-3)
    assert im["content"]["inventory"] == data[moved[0]]["inventory"]


def test_low_importance_is_forgotten(make_system):
    system = make_system(stm_limit=10, cleanup_interval=10_000)
    for i in range(20):
        system.store_agent_state("a", {"i": i}, i, priority=0.01 if i < 10 else 1.0)
    report = system.force_memory_maintenance("a")
    assert report["forgotten"] == 10 and report["stm_to_im"] == 0
    st = system.get_memory_statistics("a")
    assert st["forgotten"] == 10 and st["total_memories"] == 10


def test_automatic_check_every_cleanup_interval(make_system):
    system = make_system(stm_limit=20, cleanup_interval=25)
    for i in range(24):
        system.store_agent_state("a", {"i": i}, i)
    assert system.get_memory_statistics("a")["tiers"]["stm"]["count"] == 24  # not checked yet
    system.store_agent_state("a", {"i": 24}, 24)
    assert system.get_memory_statistics("a")["tiers"]["stm"]["count"] == 20


def test_im_overflow_goes_to_ltm_compressed(make_system, states):
    system = make_system(stm_limit=20, im_limit=30, cleanup_interval=10_000)
    data = states(100)
    ids = system.store_agent_states("a", data)
    system.force_memory_maintenance("a")
    st = system.get_memory_statistics("a")
    assert [st["tiers"][t]["count"] for t in ("stm", "im", "ltm")] == [20, 30, 50]
    assert st["transitions"] == {"stm_to_im": 80, "im_to_ltm": 50}
    ltm_ids = [m for m in ids if system.memory_exists(m, tier="ltm")]
    mem = system.retrieve_state(ltm_ids[0], tier="ltm")
    src = data[ids.index(ltm_ids[0])]
    assert mem["tier"] == "ltm" and mem["content"]["status"] == src["status"]
    assert mem["content"]["position"][0] == pytest.approx(src["position"][0], rel=0.06, abs=1e-9)
    ltm, stm = st["tiers"]["ltm"], st["tiers"]["stm"]
    assert ltm["stored_bytes"] / ltm["count"] < 0.5 * stm["stored_bytes"] / stm["count"]
    assert ltm["compression_ratio"] > 2
    hits = system.retrieve_similar_states("a", src, k=3, tier="ltm")
    assert hits[0]["memory_id"] == ltm_ids[0]
    hits_all = system.retrieve_similar_states("a", src, k=5)
    assert hits_all[0]["memory_id"] == ltm_ids[0] and len({h["memory_id"] for h in hits_all}) == 5


def test_ttl_expiry_moves_down(make_system):
    system = make_system(cleanup_interval=10_000)
    system.config.stm_config.ttl = 0.05
    system.config.im_config.ttl = 0.05
    mid = system.store_agent_state("a", {"x": 1.23456789}, 0)
    time.sleep(0.1)
    assert system.force_memory_maintenance("a")["stm_to_im"] == 1
    time.sleep(0.1)
    assert system.force_memory_maintenance("a")["im_to_ltm"] == 1
    assert system.retrieve_state(mid)["tier"] == "ltm"


def test_ltm_limit_forgets(make_system):
    system = make_system(stm_limit=5, im_limit=5, ltm_limit=5, cleanup_interval=10_000)
    system.store_agent_states("a", [{"i": i} for i in range(30)])
    system.force_memory_maintenance("a")
    st = system.get_memory_statistics("a")
    assert st["tiers"]["ltm"]["count"] == 5 and st["forgotten"] == 15 and st["total_memories"] == 15


def test_retention_rises_with_importance(make_system):
    system = make_system(stm_limit=100, cleanup_interval=10_000)
    for i in range(500):
        system.store_agent_state("a", {"i": i % 7, "tag": f"t{i % 3}"}, i, priority=float(1 + i % 5))
    system.force_memory_maintenance("a")
    kept = {level: 0 for level in range(1, 6)}
    for m in system.retrieve_by_time_range("a", 0, 10_000):
        if m["tier"] == "stm":
            kept[int(m["metadata"]["priority"])] += 1
    rates = [kept[level] / 100 for level in range(1, 6)]
    assert rates == sorted(rates) and rates[-1] > rates[0]


def test_retrievals_protect_a_memory(make_system):
    system = make_system(stm_limit=5, cleanup_interval=10_000)
    system.config.importance_weights.retrieval = 5.0
    ids = [system.store_agent_state("a", {"i": i}, i) for i in range(10)]
    for _ in range(3):
        system.retrieve_state(ids[0])
    system.force_memory_maintenance()
    assert system.memory_exists(ids[0], tier="stm")
