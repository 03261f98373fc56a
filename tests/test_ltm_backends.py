"""The LTM behaviour both backends share, on each (`ltm_backend`: the SQLite file, a PostgreSQL server).

A namespace is one LTM here (make_ltm_system: on SQLite one file per namespace, on PostgreSQL the rows
under it), so what holds for two simulations on one PostgreSQL database is checked against two files too.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from typing import Any

import numpy as np
import pytest

from memory import AgentMemorySystem, CorruptDataError, MemoryConfig
from memory.entry import MemoryRecord
from memory.integrity import CorruptDataWarning
from postgres_fixtures import pg_execute


def content(seq: int, worker: int = 0) -> dict[str, Any]:
    """Exact under LTM rounding (ints, strings, bools, 2-digit floats); different bytes per memory."""
    return {"worker": worker, "seq": seq, "label": chr(80 + seq % 8) * 12 + f"-{worker}-{seq}",
            "ok": seq % 2 == 0, "hp": 0.5 + seq % 8, "tags": ["t" + str(seq % 5), "w" + str(worker)]}


def _in_ltm(system, ids: list[str]) -> list[str]:
    return [m for m in ids if system.memory_exists(m, tier="ltm")]


def test_round_trip_through_the_tiers(make_ltm_system):
    system = make_ltm_system(stm_limit=10, im_limit=10, cleanup_interval=10_000, discard_threshold=0.0)
    ids = system.store_agent_states("a", [content(i) for i in range(60)], list(range(60)))
    report = system.force_memory_maintenance("a")
    assert report == {"forgotten": 0, "stm_to_im": 50, "im_to_ltm": 40}
    ltm_ids = _in_ltm(system, ids)
    assert len(ltm_ids) == 40 and system.get_memory_statistics("a")["tiers"]["ltm"]["count"] == 40
    for mid in ltm_ids:
        mem = system.retrieve_state(mid, tier="ltm")
        assert mem["tier"] == "ltm" and mem["content"] == content(mem["step_number"])
    stats = system.get_memory_statistics("a")["tiers"]["ltm"]
    assert stats["compression_ratio"] > 1.0 and stats["corrupt_skipped"] == 0
    second = make_ltm_system()  # another system on the same LTM sees it all
    assert len(second.retrieve_by_time_range("a", 0, 1000)) == 40
    mems = second.retrieve_states(ltm_ids[:5], tier="ltm")
    assert [m["content"] for m in mems] == [content(m["step_number"]) for m in mems]


def test_step_range_on_ltm(make_ltm_system):
    system = make_ltm_system()
    system.store_agent_states("a", [content(i) for i in range(0, 300, 3)], list(range(0, 300, 3)), tier="ltm")
    system.store_agent_states("a", [content(i) for i in range(1, 300, 3)], list(range(1, 300, 3)), tier="ltm",
                              memory_type="action")
    system.store_agent_states("b", [content(i) for i in range(50)], list(range(50)), tier="ltm")
    got = system.retrieve_by_time_range("a", 30, 60)
    assert [m["step_number"] for m in got] == [s for s in range(30, 61) if s % 3 != 2]
    assert all(m["content"] == content(m["step_number"]) and m["agent_id"] == "a" for m in got)
    actions = system.retrieve_by_time_range("a", 30, 60, memory_type="action")
    assert [m["step_number"] for m in actions] == [s for s in range(30, 61) if s % 3 == 1]
    assert system.retrieve_by_time_range("a", 301, 400) == []


def test_similarity_search_over_ltm(make_ltm_system, states):
    data = states(80, seed=3)
    system = make_ltm_system()
    ids = system.store_agent_states("a", data, tier="ltm")
    for i in (0, 17, 55, 79):
        hits = system.retrieve_similar_states("a", data[i], k=3, tier="ltm")
        assert hits[0]["memory_id"] == ids[i] and hits[0]["similarity"] > 0.99 and len(hits) == 3
    other = make_ltm_system()  # its index is built from the store (the stored float32 embeddings)
    assert other.retrieve_similar_states("a", data[17], k=1, tier="ltm")[0]["memory_id"] == ids[17]


def test_ltm_limit_forgets_the_least_retained(make_ltm_system):
    system = make_ltm_system(stm_limit=5, im_limit=5, ltm_limit=25, cleanup_interval=10_000, discard_threshold=0.0)
    system.store_agent_states("a", [content(i) for i in range(60)], list(range(60)))
    report = system.force_memory_maintenance("a")
    assert report["im_to_ltm"] == 50 and report["forgotten"] == 25
    stats = system.get_memory_statistics("a")
    assert stats["tiers"]["ltm"]["count"] == 25 and stats["forgotten"] == 25
    assert len(system.retrieve_by_time_range("a", 0, 100)) == 35  # 25 LTM + 5 IM + 5 STM


def test_clear_all_memories_clears_only_its_namespace(make_ltm_system):
    a, b = make_ltm_system("amtest-clear-a"), make_ltm_system("amtest-clear-b")
    a_ids = a.store_agent_states("x", [content(i) for i in range(10)], tier="ltm")
    b_ids = b.store_agent_states("x", [content(i) for i in range(10)], tier="ltm")
    a.clear_all_memories()
    assert a.get_memory_statistics("x")["tiers"]["ltm"]["count"] == 0 and not _in_ltm(a, a_ids)
    assert _in_ltm(b, b_ids) == b_ids and b.get_memory_statistics("x")["tiers"]["ltm"]["count"] == 10
    assert make_ltm_system("amtest-clear-a").get_memory_statistics("x")["tiers"]["ltm"]["count"] == 0


def test_namespaces_on_one_database_are_isolated(make_ltm_system, states):
    data = states(20, seed=4)
    a, b = make_ltm_system("amtest-iso-a"), make_ltm_system("amtest-iso-b")
    ids = a.store_agent_states("x", data, tier="ltm")
    assert b.retrieve_state(ids[0]) is None and b.retrieve_states(ids) == [None] * 20
    assert b.retrieve_by_time_range("x", 0, 100) == [] and b.retrieve_similar_states("x", data[0], tier="ltm") == []
    assert b.get_memory_statistics("x")["tiers"]["ltm"]["count"] == 0 and list(b.ltm.store.agent_ids()) == []
    b.store_agent_states("y", data[:3], tier="ltm")
    assert list(a.ltm.store.agent_ids()) == ["x"] and a.ltm.store.version("y") == 0


def test_the_same_memory_added_twice_leaves_one_row(make_ltm_system):
    """Two processes moving one memory into LTM (a retried move, a crash between the LTM write and the IM
    removal) leave one row, readable."""
    a, b = make_ltm_system(), make_ltm_system()
    mid = a.store_agent_state("x", content(1), 1, tier="ltm")
    rec = a.ltm.store.get(mid)
    copy = MemoryRecord(rec.memory_id, rec.agent_id, rec.step_number, rec.memory_type, rec.content, rec.priority,
                        rec.importance, rec.created_at, rec.entered_at, rec.last_accessed, rec.retrieval_count,
                        rec.raw_bytes, np.array(rec.vector))
    b.ltm.store.add([copy])
    a.ltm.store.add([copy] + [rec])
    assert a.ltm.store.count("x") == 1 and b.get_memory_statistics("x")["tiers"]["ltm"]["count"] == 1
    assert b.retrieve_state(mid)["content"] == content(1)
    assert [m["memory_id"] for m in b.retrieve_by_time_range("x", 0, 9)] == [mid]


def test_trained_encoders_and_dictionary_persist(make_ltm_system, states):
    first = make_ltm_system()
    first.train_compression(states=states(100), epochs=3)
    ids = first.store_agent_states("a", [content(i) for i in range(30)], tier="ltm")
    vec = first.get_encoder("ltm").encode(states(1)[0])
    number, zdict = first.ltm.store.current_dictionary()
    first.close()
    second = make_ltm_system()
    assert (second.get_encoder("ltm").encode(states(1)[0]) == vec).all()
    assert second.ltm.store.current_dictionary() == (number, zdict) and number == 1 and zdict
    assert [m["content"] for m in second.retrieve_states(ids, tier="ltm")] == [content(i) for i in range(30)]
    new = second.store_agent_state("a", content(99), 99, tier="ltm")
    assert second.ltm.store.get(new).content[0] >> 3 == 1  # compressed with the stored dictionary


def _damage(build, namespace: str, memory_id: str) -> None:
    """Overwrite a memory's stored content with bytes no codec wrote."""
    if build.backend == "postgres":
        pg_execute(build.url, "UPDATE agentmemory_ltm SET content = '\\x0102' WHERE namespace = %s AND memory_id = %s",
                   (namespace, memory_id))
    else:
        db = sqlite3.connect(build.config(namespace).ltm_config.db_path, isolation_level=None)
        db.execute("UPDATE memories SET content = x'0102' WHERE memory_id = ?", (memory_id,))
        db.close()


def test_damaged_content_raises_on_read_and_is_skipped_by_listings(make_ltm_system):
    system = make_ltm_system("amtest-damaged")
    ids = system.store_agent_states("a", [content(i) for i in range(5)], tier="ltm")
    _damage(make_ltm_system, "amtest-damaged", ids[2])
    with pytest.raises(CorruptDataError, match=f"LTM memory '{ids[2]}' is damaged"):
        system.retrieve_state(ids[2])
    with pytest.warns(CorruptDataWarning):
        got = system.retrieve_by_time_range("a", 0, 10)
    assert [m["memory_id"] for m in got] == ids[:2] + ids[3:]
    assert system.get_memory_statistics("a")["tiers"]["ltm"]["corrupt_skipped"] == 1


# -- another process ---------------------------------------------------------------------------------
def _peer(config: dict, conn) -> None:
    """A system in another process on the same LTM, answering commands from a pipe."""
    with AgentMemorySystem(MemoryConfig.from_dict(config)) as system:
        conn.send("ready")
        while True:
            cmd, arg = conn.recv()
            if cmd == "stop":
                break
            if cmd == "search":
                hits = system.retrieve_similar_states("a", arg, k=1, tier="ltm")
                conn.send(hits[0]["memory_id"] if hits else None)
            elif cmd == "write":
                conn.send(system.store_agent_state("a", arg, 1000, tier="ltm"))
            elif cmd == "count":
                conn.send(system.get_memory_statistics("a")["tiers"]["ltm"]["count"])


def test_another_process_sees_ltm_writes_and_refreshes_its_index(make_ltm_system, states):
    """Each side's warm index is rebuilt when (and because) the other side wrote: the per-agent version."""
    data = states(40, seed=8)
    system = make_ltm_system()
    first = system.store_agent_states("a", data[:20], tier="ltm")
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    peer = ctx.Process(target=_peer, args=(make_ltm_system.config().to_dict(), there), daemon=True)
    peer.start()
    try:
        assert here.poll(60) and here.recv() == "ready"

        def ask(cmd: str, arg: Any = None) -> Any:
            here.send((cmd, arg))
            assert here.poll(30), f"the peer did not answer {cmd}"
            return here.recv()
        assert ask("search", data[5]) == first[5]  # the peer's index, built from the store
        second = system.store_agent_states("a", data[20:], tier="ltm")
        assert ask("search", data[33]) == second[13] and ask("count") == 40  # refreshed: we wrote
        assert system.retrieve_similar_states("a", data[2], k=1, tier="ltm")[0]["memory_id"] == first[2]  # warm
        theirs = ask("write", {"peer": "only", "label": "written by the other process", "n": 7})
        hit = system.retrieve_similar_states("a", {"peer": "only", "label": "written by the other process", "n": 7},
                                             k=1, tier="ltm")[0]
        assert hit["memory_id"] == theirs  # our warm index was refreshed: the peer wrote
        here.send(("stop", None))
    finally:
        peer.join(30)
        if peer.is_alive():
            peer.kill()
    assert peer.exitcode == 0
