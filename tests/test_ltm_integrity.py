"""A shared LTM file stays exact under concurrent first writes and SIGKILLed writers (real processes, real files).

The race: every process that writes LTM first needs the file's preset zlib dictionary. Before the fix each
built its own and saved it with INSERT OR REPLACE, so records compressed with a losing dictionary read back
wrong. The test forces that window deterministically: it holds the file's write lock while four workers
reach their first LTM write (each has read "no dictionary yet"), then releases them all at once.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from memory import AgentMemorySystem, MemoryConfig
from memory.stores import SQLiteStore
from crash_helpers import kill_once_started

REPO = str(Path(__file__).resolve().parent.parent)

CONTENT = '''
def content(worker, seq):
    """Exact under LTM rounding (ints, strings, bools, 2-digit floats); different bytes per worker."""
    return {"worker": worker, "seq": seq, "label": chr(80 + worker % 8) * 24 + f"-{worker}-{seq}",
            "ok": seq % 2 == 0, "hp": 0.5 + worker % 8, "tags": ["t" + str(seq % 5), "w" + str(worker)]}
'''
exec(CONTENT)  # the parent computes the expected content with the very same function

RACE_WORKER = CONTENT + '''
import sys
from memory import AgentMemorySystem, MemoryConfig
path, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = MemoryConfig()
c.ltm_config.db_path = path
c.stm_config.memory_limit = 1
c.im_config.memory_limit = 1
c.cleanup_interval = 1
with AgentMemorySystem(c) as s:
    print("ready", flush=True)
    sys.stdin.readline()
    ids = []
    for i in range(n):
        ids.append(s.store_agent_state(f"agent-{worker}", content(worker, i), i))
        print("stored", ids[-1], flush=True)
    for i, mid in enumerate(ids):
        if s.memory_exists(mid, tier="ltm"):
            print("ltm", i, mid, flush=True)
'''


def _config(path: str) -> MemoryConfig:
    config = MemoryConfig()
    config.ltm_config.db_path = path
    return config


def _spawn(code: str, *args: Any, **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO, text=True, **kwargs)


@pytest.mark.slow  # four writer processes, each importing the package: 2.2 s on 2 busy cores
def test_concurrent_first_writers_agree_on_one_dictionary(tmp_path):
    """Four processes whose first LTM writes meet on a fresh file: every archived memory reads back exactly."""
    path = str(tmp_path / "shared.db")
    AgentMemorySystem(_config(path)).close()  # the schema exists; no dictionary yet
    workers = [_spawn(RACE_WORKER, path, w, 12, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE) for w in range(4)]
    lock = sqlite3.connect(path, isolation_level=None)
    try:
        for p in workers:
            assert p.stdout.readline().strip() == "ready"
        lock.execute("BEGIN IMMEDIATE")  # hold the write lock: nobody's first LTM write can finish yet
        for p in workers:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in workers:  # the 3rd store moves IM -> LTM (limits 1): each worker is now at its first LTM write
            for _ in range(2):
                assert p.stdout.readline().startswith("stored ")
        time.sleep(0.5)  # let each reach the write lock (microseconds of work left)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    archived: dict[str, tuple[int, int]] = {}
    for w, p in enumerate(workers):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        for line in out.splitlines():
            if line.startswith("ltm "):
                _, seq, mid = line.split()
                archived[mid] = (w, int(seq))
    assert {w for w, _ in archived.values()} == {0, 1, 2, 3}
    with AgentMemorySystem(_config(path)) as reader:
        for mid, (w, seq) in archived.items():
            assert reader.retrieve_state(mid, tier="ltm")["content"] == content(w, seq), mid


def test_dictionary_is_agreed_first_writer_wins(tmp_path):
    """Two stores on one file propose different dictionaries: both get the first one, by number."""
    path = str(tmp_path / "ltm.db")
    a, b = SQLiteStore(path, 32), SQLiteStore(path, 32)
    try:
        first = a.agree_dictionary(b"dictionary of a")
        second = b.agree_dictionary(b"dictionary of b")
        assert first == second == (1, b"dictionary of a")
        assert b.dictionary(1) == b"dictionary of a" and b.dictionary(2) is None
    finally:
        a.close(), b.close()


def test_records_name_their_dictionary(tmp_path):
    """An LTM record carries the number of the dictionary it was compressed with (one header byte)."""
    path = str(tmp_path / "ltm.db")
    with AgentMemorySystem(_config(path)) as system:
        mid = system.store_agent_state("a", content(1, 1), 1, tier="ltm")
    db = sqlite3.connect(path)
    try:
        blob, = db.execute("SELECT content FROM memories WHERE memory_id = ?", (mid,)).fetchone()
        number, data = db.execute("SELECT number, data FROM dictionaries").fetchone()
    finally:
        db.close()
    assert blob[0] & 0b110 == 0b110  # an invalid deflate block type: never the start of a legacy record
    assert blob[0] >> 3 == number == 1 and data


def test_legacy_records_still_read(tmp_path):
    """A file of the previous format (headerless raw deflate, dictionary in meta) reads back, and new
    records written to it adopt its dictionary."""
    import zlib

    from memory.embeddings.codec import json_dumps
    path = str(tmp_path / "old.db")
    with AgentMemorySystem(_config(path)) as system:  # the schema; then rewrite a record the old way
        mid = system.store_agent_state("a", content(2, 0), 0, tier="ltm")
    zdict = json_dumps(content(2, 99))
    comp = zlib.compressobj(9, zlib.DEFLATED, -12, 5, zdict=zdict)
    legacy = comp.compress(json_dumps(content(2, 0))) + comp.flush()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DELETE FROM dictionaries")
    db.execute("INSERT OR REPLACE INTO meta VALUES ('zlib_dictionary', ?)", (zdict,))
    db.execute("UPDATE memories SET content = ? WHERE memory_id = ?", (legacy, mid))
    db.close()
    with AgentMemorySystem(_config(path)) as system:
        assert system.retrieve_state(mid)["content"] == content(2, 0)
        new = system.store_agent_state("a", content(2, 1), 1, tier="ltm")
    with AgentMemorySystem(_config(path)) as system:
        assert system.retrieve_state(new)["content"] == content(2, 1)
        assert system.retrieve_state(mid)["content"] == content(2, 0)
    db = sqlite3.connect(path)
    assert db.execute("SELECT data FROM dictionaries WHERE number = 1").fetchone()[0] == zdict
    db.close()


CRASH_WORKER = CONTENT + '''
import os, random, sys
from memory import AgentMemorySystem, MemoryConfig
path, worker, side = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = MemoryConfig()
c.ltm_config.db_path = path
c.stm_config.memory_limit = 2
c.im_config.memory_limit = 2
c.cleanup_interval = 1
rng = random.Random(worker)
with AgentMemorySystem(c) as s, open(side, "a", buffering=1) as log:
    log.write("ready\\n")
    seq = 0
    while True:  # until SIGKILLed: single and batch LTM stores, and STM stores that move into LTM
        kind = rng.randrange(3)
        if kind == 0:
            mids = [s.store_agent_state(f"w{worker}", content(worker, seq), seq, tier="ltm")]
            seqs = [seq]
        elif kind == 1:
            n = rng.randrange(2, 40)
            seqs = list(range(seq, seq + n))
            mids = s.store_agent_states(f"w{worker}", [content(worker, q) for q in seqs], seqs, tier="ltm")
        else:
            s.store_agent_state(f"w{worker}", content(worker, seq), seq)
            mids, seqs = [], [seq]
        for mid, q in zip(mids, seqs):  # written only after the call returned: these are committed
            log.write(f"{q} {mid}\\n")
        seq = seqs[-1] + 1
'''


@pytest.mark.slow  # rounds of SIGKILLed writer processes for up to 10 s (8 s measured)
def test_sigkilled_writers_lose_no_committed_memory(tmp_path):
    """Writers of one LTM file SIGKILLed mid-write, round after round: every memory a writer saw stored
    reads back exactly, and the file passes SQLite's integrity check."""
    path = str(tmp_path / "crash.db")
    rng = random.Random(10)
    committed: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + 10
    rounds = 0
    while rounds < 12 and (rounds < 3 or len(committed) < 100 or (rounds < 6 and time.monotonic() < deadline)):
        sides = [str(tmp_path / f"r{rounds}w{w}.log") for w in range(3)]
        procs = [_spawn(CRASH_WORKER, path, 10 * rounds + w, side, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE) for w, side in enumerate(sides)]
        kill_once_started(procs, sides, rng.uniform(0.05, 0.4))
        for w, side in enumerate(sides):
            with open(side) as log:
                lines = log.read().split("\n")[1:-1]  # after "ready"; a last line cut by the kill is dropped
            for line in lines:
                seq, mid = line.split()
                committed[mid] = (10 * rounds + w, int(seq))
        rounds += 1
    assert len(committed) >= 100
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    with AgentMemorySystem(_config(path)) as reader:
        mids = list(committed)
        got = reader.retrieve_states(mids, tier="ltm")
        wrong = [m for m, mem in zip(mids, got) if mem is None or mem["content"] != content(*committed[m])]
        assert not wrong, f"{len(wrong)} of {len(mids)} committed memories lost or changed, e.g. {wrong[:3]}"


REMOVE_WORKER = r"""
import sys
from memory.stores import SQLiteStore
store = SQLiteStore(sys.argv[1], 32)
ids = [f"a:{i}" for i in range(int(sys.argv[2]))]
print("ready", flush=True)
sys.stdin.readline()
print("removed", len(store.remove("a", ids)), flush=True)
store.close()
"""


def test_processes_removing_the_same_memories_get_each_exactly_once(tmp_path):
    """Forgetting past the LTM limit (or any removal) in processes that share the file: a memory is
    returned, so counted as forgotten or moved, by exactly one of them."""
    import numpy as np

    from memory.entry import MemoryRecord

    path, n = str(tmp_path / "shared.db"), 300
    store = SQLiteStore(path, 32)
    store.add([MemoryRecord(f"a:{i}", "a", i, "state", b"x" * 10, 0.5, 0.5, 1.0, 1.0, 1.0, 0, 10,
                            np.zeros(32, dtype=np.float32)) for i in range(n)])
    store.close()
    workers = [_spawn(REMOVE_WORKER, path, n, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE) for _ in range(4)]
    lock = sqlite3.connect(path, isolation_level=None)
    try:
        for p in workers:
            assert p.stdout.readline().strip() == "ready"
        lock.execute("BEGIN IMMEDIATE")  # every remover meets the others at the write lock
        for p in workers:
            p.stdin.write("go\n")
            p.stdin.flush()
        time.sleep(0.5)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    counts = []
    for p in workers:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        counts.append(int(out.split()[-1]))
    assert sorted(counts) == [0, 0, 0, n], counts  # before: [300, 300, 300, 300]
