"""Storing and reading memories: every public method on the embedded backend."""

import numpy as np
import pytest

from memory import AgentMemorySystem, AgentMemoryError


def test_store_returns_id_and_reads_back_exactly(system, states):
    s = states(1)[0]
    mid = system.store_agent_state("a1", s, step_number=3, priority=2.0)
    assert isinstance(mid, str)
    m = system.retrieve_state(mid)
    assert m["content"] == s and m["tier"] == "stm" and m["step_number"] == 3
    assert m["memory_type"] == "state" and m["agent_id"] == "a1"
    assert m["metadata"]["priority"] == 2.0 and m["metadata"]["importance"] == pytest.approx(2.0)
    assert m["metadata"]["retrieval_count"] == 1
    assert system.retrieve_state(mid)["metadata"]["retrieval_count"] == 2


def test_stored_content_is_a_snapshot(system):
    state = {"inventory": ["a"], "hp": 10}
    mid = system.store_agent_state("a", state, 0)
    state["inventory"].append("b")
    state["hp"] = 0
    got = system.retrieve_state(mid)["content"]
    assert got == {"inventory": ["a"], "hp": 10}
    got["hp"] = -1  # mutating what we were given must not change the memory either
    assert system.retrieve_state(mid)["content"]["hp"] == 10


def test_actions_and_interactions_have_their_type(system):
    a = system.store_agent_action("a", {"action": "move"}, 1)
    i = system.store_agent_interaction("a", {"with": "b", "kind": "trade"}, 2)
    assert system.retrieve_state(a)["memory_type"] == "action"
    assert system.retrieve_state(i)["memory_type"] == "interaction"
    assert [m["memory_type"] for m in system.retrieve_by_time_range("a", 0, 10, memory_type="action")] == ["action"]


def test_batch_equals_loop(make_system, states):
    data = states(300, seed=4)
    loop, batch = make_system(), make_system()
    loop_ids = [loop.store_agent_state("a", s, i) for i, s in enumerate(data)]
    batch_ids = batch.store_agent_states("a", data, step_numbers=list(range(300)))
    assert len(batch_ids) == 300 and len(set(batch_ids)) == 300
    for i in (0, 150, 299):
        assert loop.retrieve_state(loop_ids[i])["content"] == batch.retrieve_state(batch_ids[i])["content"]
    q = data[42]
    assert [m["step_number"] for m in loop.retrieve_similar_states("a", q, k=5)] == \
        [m["step_number"] for m in batch.retrieve_similar_states("a", q, k=5)]
    assert loop.get_memory_statistics("a")["tiers"]["stm"] == batch.get_memory_statistics("a")["tiers"]["stm"]


def test_batch_default_steps_continue(system):
    system.store_agent_states("a", [{"x": 1}, {"x": 2}])
    system.store_agent_states("a", [{"x": 3}])
    assert [m["step_number"] for m in system.retrieve_by_time_range("a", 0, 99)] == [0, 1, 2]


def test_retrieve_state_filters(system):
    mid = system.store_agent_state("a", {"x": 1}, 0)
    assert system.retrieve_state(mid, agent_id="b") is None
    assert system.retrieve_state(mid, tier="im") is None
    assert system.retrieve_state(mid, tier="stm")["tier"] == "stm"
    assert system.retrieve_state("a:nope") is None
    assert system.retrieve_states([mid, "a:nope"]) [1] is None
    assert system.retrieve_states([mid])[0]["memory_id"] == mid


def test_memory_exists(system):
    mid = system.store_agent_state("a", {"x": 1}, 0)
    assert system.memory_exists(mid) and system.memory_exists(mid, tier="stm")
    assert not system.memory_exists(mid, tier="ltm") and not system.memory_exists("zzz")


def test_similarity_equals_brute_force(make_system, states):
    system = make_system(stm_limit=5000)
    data = states(3000, seed=7)
    ids = system.store_agent_states("a", data)
    enc = system.get_encoder("stm")
    matrix = enc.encode_states(data)
    rng = np.random.default_rng(0)
    for q in rng.choice(3000, 5, replace=False):
        query = states(1, seed=1000 + int(q))[0]
        exact = np.argsort(-(matrix @ enc.encode(query)), kind="stable")[:10]
        hits = system.retrieve_similar_states("a", query, k=10, tier="stm")
        assert [h["memory_id"] for h in hits] == [ids[i] for i in exact]
        sims = [h["similarity"] for h in hits]
        assert sims == sorted(sims, reverse=True)
    top = system.retrieve_similar_states("a", data[5], k=1)[0]
    assert top["memory_id"] == ids[5] and top["similarity"] == pytest.approx(1.0, abs=1e-5)


def test_similar_states_prefer_close_values(system):
    base = {"pos": [0.5, 0.5], "hp": 80, "mood": "calm"}
    near = {"pos": [0.51, 0.5], "hp": 81, "mood": "calm"}
    far = {"pos": [9.0, -4.0], "hp": 3, "mood": "angry"}
    ids = {name: system.store_agent_state("a", s, i) for i, (name, s) in enumerate([("near", near), ("far", far)])}
    hits = system.retrieve_similar_states("a", base, k=2)
    assert hits[0]["memory_id"] == ids["near"] and hits[0]["similarity"] > 0.9 > hits[1]["similarity"]


def test_similarity_filters(system):
    system.store_agent_state("a", {"kind": "apple", "n": 1}, 0)
    act = system.store_agent_action("a", {"kind": "apple", "n": 1}, 1)
    assert [h["memory_id"] for h in system.retrieve_similar_states("a", {"kind": "apple", "n": 1}, k=5,
                                                                    memory_type="action")] == [act]
    assert system.retrieve_similar_states("a", {"kind": "zebra"}, k=5, threshold=0.99) == []
    assert system.retrieve_similar_states("nobody", {"x": 1}) == []


def test_time_range_and_attributes(system):
    for i in range(20):
        system.store_agent_state("a", {"status": "idle" if i % 2 else "busy", "flag": i % 3 == 0,
                                       "n": i % 3, "goals": [{"id": f"g{i % 4}"}], "a.b": i}, i)
    rng = system.retrieve_by_time_range("a", 5, 9)
    assert [m["step_number"] for m in rng] == [5, 6, 7, 8, 9]
    idle = system.retrieve_by_attributes("a", {"status": "idle"})
    assert [m["step_number"] for m in idle] == list(range(1, 20, 2))
    assert [m["step_number"] for m in system.retrieve_by_attributes("a", {"goals.0.id": "g1", "status": "idle"})] \
        == [1, 5, 9, 13, 17]
    assert [m["step_number"] for m in system.retrieve_by_attributes("a", {"a.b": 4})] == [4]  # literal dotted key
    flagged = system.retrieve_by_attributes("a", {"flag": True})
    assert [m["step_number"] for m in flagged] == [0, 3, 6, 9, 12, 15, 18]
    ones = system.retrieve_by_attributes("a", {"n": 1})  # 1 is not True
    assert all(m["content"]["n"] == 1 and m["content"]["flag"] is not True for m in ones) and len(ones) == 7
    assert system.retrieve_by_attributes("a", {"missing.key": 1}) == []


def test_statistics(system, states):
    system.store_agent_states("a", states(50))
    st = system.get_memory_statistics("a")
    stm = st["tiers"]["stm"]
    assert stm["count"] == 50 and st["total_memories"] == 50 and st["forgotten"] == 0
    assert stm["stored_bytes"] > 50 * 100 and stm["embedding_dim"] == 384 and stm["embedding_bytes"] == 50 * 384 * 4
    assert st["tiers"]["im"]["count"] == 0 and st["tiers"]["ltm"]["stored_bytes"] == 0
    assert st["state_counts"]["stm"] == 50 and st["memory_usage"]["stm_bytes"] == stm["stored_bytes"]


def test_clear_all_memories(system):
    mid = system.store_agent_state("a", {"x": 1}, 0)
    system.store_agent_state("a", {"x": 1}, 1, tier="ltm")
    system.clear_all_memories()
    assert not system.memory_exists(mid)
    assert system.get_memory_statistics("a")["total_memories"] == 0
    assert system.retrieve_similar_states("a", {"x": 1}) == []
    system.store_agent_state("a", {"x": 2}, 2)
    assert system.get_memory_statistics("a")["total_memories"] == 1


def test_direct_tier_writes(system, states):
    data = states(20)
    im_ids = system.store_agent_states("a", data[:10], tier="im")
    ltm_id = system.store_agent_state("a", data[10], 10, tier="ltm")
    assert system.retrieve_state(im_ids[0])["tier"] == "im"
    assert system.retrieve_state(ltm_id)["tier"] == "ltm"
    st = system.get_memory_statistics("a")["tiers"]
    assert st["im"]["count"] == 10 and st["ltm"]["count"] == 1 and st["stm"]["count"] == 0
    hits = system.retrieve_similar_states("a", data[3], k=1, tier="im")
    assert hits[0]["memory_id"] == im_ids[3]


def test_lifecycle(tmp_path):
    with AgentMemorySystem() as system:
        system.store_agent_state("a", {"x": 1}, 0, tier="ltm")
        temp_db = system.ltm_path
        assert temp_db and __import__("os").path.exists(temp_db)
    assert not __import__("os").path.exists(temp_db)  # the default temporary LTM is removed
    with pytest.raises(AgentMemoryError, match="closed"):
        system.store_agent_state("a", {"x": 1}, 1)


def test_singleton():
    first = AgentMemorySystem.get_instance()
    try:
        assert AgentMemorySystem.get_instance() is first
        assert AgentMemorySystem() is not first
    finally:
        first.close()
    assert AgentMemorySystem.get_instance() is not first
    AgentMemorySystem.get_instance().close()


def test_threads_lose_nothing(system):
    import threading
    def work(t):
        for i in range(300):
            system.store_agent_state(f"agent-{t % 2}", {"t": t, "i": i}, i)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    total = sum(system.get_memory_statistics(f"agent-{a}")["total_memories"] for a in range(2))
    assert total == 1200


def test_big_integers_survive_every_tier(system):
    state = {"big": 2**70, "neg": -(2**65), "x": 1.5}
    ids = [system.store_agent_state("a", state, 0, tier=t) for t in ("stm", "im", "ltm")]
    for mid in ids:
        got = system.retrieve_state(mid)["content"]
        assert got["big"] == 2**70 and type(got["big"]) is int and got["neg"] == -(2**65)


def test_subclasses_of_json_types_are_stored_as_plain_values(system):
    import enum
    from collections import OrderedDict

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    state = OrderedDict(level=Level.HIGH, name=Name("zed"), nested=OrderedDict(a=[1, 2]))
    mid = system.store_agent_state("a", state, 0)
    got = system.retrieve_state(mid)["content"]
    assert got == {"level": 3, "name": "zed", "nested": {"a": [1, 2]}} and type(got["level"]) is int
    ids = system.store_agent_states("a", [state])
    assert system.retrieve_state(ids[0])["content"] == got


def test_failed_construction_leaves_no_temp_dir(tmp_path, monkeypatch):
    import tempfile
    from memory import MemoryConfig, StorageError
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = MemoryConfig(backend="redis", redis_url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(StorageError):
        AgentMemorySystem(config)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threshold, hits", [(1e300, 0), (-1e300, 2), (1.0000001, 0), (-1.0, 2)])
def test_extreme_thresholds_mean_none_or_all_without_a_numpy_warning(threshold, hits):
    """A threshold far outside [-1, 1] is valid (finite) and means no hit or every hit; it used to reach
    numpy as a float32 cast that overflowed (RuntimeWarning)."""
    import warnings
    with AgentMemorySystem() as system, warnings.catch_warnings():
        warnings.simplefilter("error")
        system.store_agent_states("a", [{"x": 1}, {"y": "z"}])
        assert len(system.retrieve_similar_states("a", {"x": 1}, k=5, threshold=threshold)) == hits
