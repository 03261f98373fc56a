"""Damaged stored bytes: a read by id raises CorruptDataError naming the memory; searches, listings and
maintenance skip the record (one CorruptDataWarning, counted in get_memory_statistics), so one bad record
never breaks an agent. Real Redis records and real SQLite files, damaged with their own clients."""

from __future__ import annotations

import io
import sqlite3
import warnings

import numpy as np
import pytest

from memory import AgentMemorySystem, MemoryConfig, StorageError
from memory.errors import CorruptDataError
from memory.integrity import CorruptDataWarning
from redis_fixtures import namespace_keys

TYPE_OFFSET = 28  # the memory-type byte of a Redis record header (<IIdiqBHdddd: 4+4+8+4+8)


@pytest.fixture
def backend() -> str:
    """make_backend_system on one Redis server (this file's Redis tests need no cluster)."""
    return "redis"


def _states(n: int) -> list[dict]:
    return [{"hp": 10 + i, "name": f"unit-{i}", "status": "idle" if i % 2 else "busy", "pos": [i, i + 1]}
            for i in range(n)]


def _redis_key(system: AgentMemorySystem, url: str, memory_id: str, tier: str = "stm") -> bytes:
    keys = [k for k in namespace_keys(url, system.config.namespace)
            if k.endswith(f":{tier}:m:{memory_id.rpartition(':')[2]}".encode())]
    assert len(keys) == 1, keys
    return keys[0]


def _client(url: str):
    import redis
    return redis.Redis.from_url(url)


def _stat(system: AgentMemorySystem, agent: str, tier: str) -> int:
    return system.get_memory_statistics(agent)["tiers"][tier]["corrupt_skipped"]


# -- Redis records -----------------------------------------------------------------------------------
@pytest.mark.redis
def test_redis_bad_type_byte(make_backend_system):
    system = make_backend_system()
    mid = system.store_agent_state("a", _states(1)[0], 0)
    r = _client(make_backend_system.url)
    r.setrange(_redis_key(system, make_backend_system.url, mid), TYPE_OFFSET, b"\x09")
    with pytest.raises(CorruptDataError, match="memory type 9") as info:
        system.retrieve_state(mid)
    assert info.value.memory_id == mid and mid in str(info.value) and "\n" not in str(info.value)
    r.close()


@pytest.mark.redis
@pytest.mark.parametrize("blob", [b"12345", b"", b"\x00" * 70], ids=["5 bytes", "empty", "lengths wrong"])
def test_redis_short_or_inconsistent_record(make_backend_system, blob):
    system = make_backend_system()
    mid = system.store_agent_state("a", _states(1)[0], 0)
    r = _client(make_backend_system.url)
    r.set(_redis_key(system, make_backend_system.url, mid), blob)
    with pytest.raises(CorruptDataError) as info:
        system.retrieve_state(mid)
    assert isinstance(info.value, StorageError) and info.value.memory_id == mid
    r.close()


def _garble_content(system: AgentMemorySystem, url: str, memory_id: str, tier: str = "stm") -> None:
    """Overwrite a Redis record's content bytes (same length, header intact) with non-JSON."""
    r = _client(url)
    key = _redis_key(system, url, memory_id, tier)
    blob = r.get(key)
    clen = int.from_bytes(blob[:4], "little")
    r.set(key, blob[:len(blob) - clen] + b"\xff{" * (clen // 2) + b"\xff" * (clen % 2))
    r.close()


@pytest.mark.redis
def test_redis_bad_content_raises_on_read_and_is_skipped_by_searches(make_backend_system):
    system = make_backend_system()
    data = _states(10)
    ids = system.store_agent_states("a", data)
    _garble_content(system, make_backend_system.url, ids[3])
    with pytest.raises(CorruptDataError) as info:
        system.retrieve_state(ids[3])
    assert info.value.memory_id == ids[3]
    with pytest.raises(CorruptDataError):
        system.retrieve_states(ids)
    with pytest.warns(CorruptDataWarning, match=ids[3]):
        hits = system.retrieve_similar_states("a", data[3], k=10)
    assert len(hits) == 9 and ids[3] not in [h["memory_id"] for h in hits]
    assert len(system.retrieve_by_time_range("a", 0, 100)) == 9
    assert len(system.retrieve_by_attributes("a", {"status": "idle"})) == 4  # ids[3] is idle
    assert _stat(system, "a", "stm") == 1
    other = make_backend_system(system.config.namespace)  # rebuilds its index from Redis (re-encoding content)
    with pytest.warns(CorruptDataWarning):
        hits = other.retrieve_similar_states("a", data[5], k=10)
    assert len(hits) == 9 and hits[0]["memory_id"] == ids[5]
    assert _stat(other, "a", "stm") == 1


@pytest.mark.redis
def test_redis_bad_content_does_not_break_maintenance(make_backend_system):
    system = make_backend_system(stm_limit=5, im_limit=5, cleanup_interval=1)
    data = _states(40)
    first = system.store_agent_state("a", data[0], 0, priority=0.2)  # the lowest retention: the first to leave
    _garble_content(system, make_backend_system.url, first)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptDataWarning)
        ids = [system.store_agent_state("a", s, i) for i, s in enumerate(data[1:], 1)]
    assert system.retrieve_state(ids[-1])["content"] == data[-1]
    assert system.get_memory_statistics("a")["tiers"]["ltm"]["count"] >= 25
    assert _stat(system, "a", "stm") == 1
    with pytest.raises(CorruptDataError):  # left where it was, still reported on read
        system.retrieve_state(first)


@pytest.mark.redis
def test_redis_bad_header_is_skipped_by_an_index_rebuild(make_backend_system):
    system = make_backend_system()
    ids = system.store_agent_states("a", _states(5))
    _client(make_backend_system.url).set(_redis_key(system, make_backend_system.url, ids[1]), b"12345")
    other = make_backend_system(system.config.namespace)
    with pytest.warns(CorruptDataWarning, match=ids[1]):
        assert len(other.retrieve_similar_states("a", _states(5)[0], k=10)) == 4
    assert other.get_memory_statistics("a")["tiers"]["stm"]["corrupt_skipped"] == 1


# -- LTM rows ---------------------------------------------------------------------------------------------
def _ltm_system(make_system, path: str) -> AgentMemorySystem:
    return make_system(db_path=path)


def _update(path: str, sql: str, *args) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute(sql, args)
    finally:
        db.close()


def _ltm_with_damage(make_system, tmp_path, sql: str):
    """Ten LTM memories of agent 'a'; ids[4]'s row damaged by `sql` (one '?' = the memory id)."""
    path = str(tmp_path / "ltm.db")
    data = _states(10)
    with _ltm_system(make_system, path) as system:
        ids = system.store_agent_states("a", data, tier="ltm")
    _update(path, sql, ids[4])
    return path, data, ids


@pytest.mark.parametrize("sql", [
    "UPDATE memories SET embedding = x'0102030405' WHERE memory_id = ?",
    "UPDATE memories SET memory_type = 'dream' WHERE memory_id = ?",
    "UPDATE memories SET step_number = 'soon' WHERE memory_id = ?",
    "UPDATE memories SET content = 'text, not bytes' WHERE memory_id = ?",
    "UPDATE memories SET content = CAST(x'00' || substr(content, 2) AS BLOB) WHERE memory_id = ?",
    "UPDATE memories SET content = substr(content, 1, length(content) - 8) WHERE memory_id = ?",
    "UPDATE memories SET content = CAST(x'fe' || substr(content, 2) AS BLOB) WHERE memory_id = ?",
], ids=["embedding length", "memory type", "step", "content type", "content bytes", "truncated",
        "unknown dictionary"])
def test_damaged_ltm_row(make_system, tmp_path, sql):
    path, data, ids = _ltm_with_damage(make_system, tmp_path, sql)
    system = _ltm_system(make_system, path)
    with pytest.raises(CorruptDataError) as info:
        system.retrieve_state(ids[4])
    assert info.value.memory_id == ids[4] and ids[4] in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CorruptDataError):
        system.retrieve_states(ids)
    with pytest.warns(CorruptDataWarning, match=ids[4]):
        hits = system.retrieve_similar_states("a", data[4], k=10)
        rows = system.retrieve_by_time_range("a", 0, 100)
        matched = system.retrieve_by_attributes("a", {"hp": 14})
    assert ids[4] not in [h["memory_id"] for h in hits] and len(hits) == 9
    assert [m["memory_id"] for m in rows] == ids[:4] + ids[5:]
    assert matched == []
    assert _stat(system, "a", "ltm") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptDataWarning)
        system.train_compression(states=data, epochs=1)  # re-embedding skips it too
        assert len(system.retrieve_similar_states("a", data[0], k=10)) == 9


def test_one_warning_per_damaged_record(make_system, tmp_path):
    path, data, ids = _ltm_with_damage(make_system, tmp_path, "UPDATE memories SET content = x'00' WHERE memory_id = ?")
    system = _ltm_system(make_system, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            system.retrieve_by_time_range("a", 0, 100)
    assert len([w for w in caught if issubclass(w.category, CorruptDataWarning)]) == 1
    assert _stat(system, "a", "ltm") == 1 and _stat(system, "b", "ltm") == 0


# -- autoencoder weights ----------------------------------------------------------------------------------
def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _weights_blob(system: AgentMemorySystem, key: str, **replace) -> bytes:
    model = system.get_encoder("im" if key == "im_autoencoder" else "ltm")
    dim = model.dim
    arrays = {"w_enc": np.zeros((384, dim), np.float32), "w_dec": np.zeros((dim, 384), np.float32),
              "b_dec": np.zeros(384, np.float32)}
    arrays.update(replace)
    return _npz(**{k: v for k, v in arrays.items() if v is not None})


@pytest.mark.parametrize("key", ["im_autoencoder", "ltm_autoencoder"])
@pytest.mark.parametrize("damage", ["garbage", "nan", "missing array", "wrong decoder shape"])
def test_damaged_autoencoder_blob_refuses_to_open(make_system, tmp_path, key, damage):
    path = str(tmp_path / "ltm.db")
    with _ltm_system(make_system, path) as system:
        blob = {"garbage": lambda: b"PK\x03\x04 not a zip at all",
                "nan": lambda: _weights_blob(system, key, w_enc=np.full((384, system.get_encoder(key[:-12]).dim),
                                                                      np.nan, np.float32)),
                "missing array": lambda: _weights_blob(system, key, b_dec=None),
                "wrong decoder shape": lambda: _weights_blob(system, key, w_dec=np.zeros((3, 3), np.float32)),
                }[damage]()
    _update(path, "INSERT OR REPLACE INTO meta VALUES (?, ?)", key, blob)
    config = MemoryConfig()
    config.ltm_config.db_path = path
    with pytest.raises(CorruptDataError) as info:
        AgentMemorySystem(config)
    message = str(info.value)
    assert path in message and key in message and "\n" not in message and info.value.memory_id is None
