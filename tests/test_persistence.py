"""LTM is a real SQLite file that a new system (or process) on the same path sees."""

import sqlite3
import subprocess
import sys


def test_new_system_sees_ltm(make_system, states, tmp_path):
    path = str(tmp_path / "ltm.db")
    data = states(60, seed=5)
    first = make_system(stm_limit=10, im_limit=10, cleanup_interval=10_000, db_path=path)
    ids = first.store_agent_states("a", data)
    first.force_memory_maintenance("a")
    ltm_ids = [m for m in ids if first.memory_exists(m, tier="ltm")]
    assert len(ltm_ids) == 40
    first.close()
    assert (tmp_path / "ltm.db").exists()  # a configured path is kept
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    second = make_system(db_path=path)
    mem = second.retrieve_state(ltm_ids[3])
    assert mem["tier"] == "ltm" and mem["content"]["status"] == data[ids.index(ltm_ids[3])]["status"]
    assert len(second.retrieve_by_time_range("a", 0, 1000)) == 40
    hit = second.retrieve_similar_states("a", data[ids.index(ltm_ids[7])], k=1)[0]
    assert hit["memory_id"] == ltm_ids[7]
    assert second.get_memory_statistics("a")["tiers"]["ltm"]["count"] == 40


def test_another_process_reads_ltm(make_system, tmp_path):
    path = str(tmp_path / "shared.db")
    system = make_system(db_path=path)
    mid = system.store_agent_state("a", {"hp": 99.1234, "name": "zed"}, 4, tier="ltm")
    code = (f"from memory import AgentMemorySystem, MemoryConfig\n"
            f"c = MemoryConfig(); c.ltm_config.db_path = {path!r}\n"
            f"with AgentMemorySystem(c) as s: print(s.retrieve_state({mid!r})['content'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "{'hp': 99.0, 'name': 'zed'}"


def test_trained_encoders_persist(make_system, states, tmp_path):
    path = str(tmp_path / "ltm.db")
    first = make_system(db_path=path)
    first.train_compression(states=states(100), epochs=3)
    w = first.get_encoder("ltm").encode(states(1)[0])
    first.close()
    second = make_system(db_path=path)
    assert (second.get_encoder("ltm").encode(states(1)[0]) == w).all()


def test_dimension_mismatch_is_refused(make_system, tmp_path):
    import pytest
    from memory import MemoryConfig, StorageError
    path = str(tmp_path / "ltm.db")
    make_system(db_path=path).close()
    config = MemoryConfig()
    config.ltm_config.db_path = path
    config.autoencoder_config.ltm_dim = 16
    with pytest.raises(StorageError, match="ltm_dim"):
        make_system(config)
