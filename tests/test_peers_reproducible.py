"""Reproducible peer builds: the same memories, built in two fresh processes, give the same measurements.

The implementations benchmark judges a peer's recall@10 and disk bytes exactly (deterministic
metrics), so a peer whose build differs from process to process raises false alarms. Each build
here runs in its own interpreter (what differs between asv runs: random seeds, hash keys, the
clock), stores agent A's memories in two batches (a create, then an append) and agent B's in one,
and reports its disk bytes, its recall@10 against brute force and its top-10 ids. Real package,
real directories; skipped with the reason when the package is missing.

Chroma is not here: its builds are not reproducible (see ``memory/benchmarking/peers/chroma_store.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memory.benchmarking.peers import availability

ROOT = Path(__file__).resolve().parents[1]
#: Large enough that Lance's string compression samples the state column (FSST trains on a random
#: sample once a page holds 32 KB of strings: ~0.7 KB per state here), small enough for ~3 s a build.
N_A, N_B, N_QUERIES, K, DIM = 400, 100, 8, 10, 64

BUILD = r"""
import json, sys
import numpy as np
from benchmarks import workloads
from memory.benchmarking.peers import Batch, Query, open_peer
from memory.benchmarking.peers.numpy_floor import top_rows
from memory.benchmarking.peers.protocol import normalized

name, n_a, n_b, n_q, k, dim = sys.argv[1], *map(int, sys.argv[2:7])
rng = np.random.default_rng(7)
vectors = rng.standard_normal((n_a + n_b + n_q, dim)).astype(np.float32)
states_a, states_b = workloads.test_states(n_a, 1, 0), workloads.test_states(n_b, 1, 1)
half = n_a // 2
peer = open_peer(name, attributes=("status", "step_count"))
try:
    ids = peer.store(Batch("agent-a", range(half), states_a[:half], vectors[:half]))
    peer.store(Batch("agent-b", range(n_b), states_b, vectors[n_a:n_a + n_b]))
    ids += peer.store(Batch("agent-a", range(half, n_a), states_a[half:], vectors[half:n_a]))
    disk = peer.disk_bytes()
    row_of = {mid: row for row, mid in enumerate(ids)}
    matrix, found, tops = normalized(vectors[:n_a]), [], []
    for vector in vectors[n_a + n_b:]:
        exact = set(int(r) for r in top_rows(matrix, normalized(vector), k)[0])
        hits = [row_of.get(hit.record.memory_id) for hit in peer.top_k("agent-a", Query({}, vector), k)]
        found.append(len(set(hits) & exact) / k)
        tops.append(hits)
finally:
    peer.close()
print(json.dumps({"disk_bytes": disk, "recall": float(np.mean(found)), "tops": tops}))
"""


def _build(name: str) -> dict:
    """One build of peer `name` in a fresh interpreter: its disk bytes, recall@10 and top-10 rows."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("PYTHONHASHSEED", None)  # each process its own hash seed, as two asv runs have
    done = subprocess.run([sys.executable, "-c", BUILD, name, *map(str, (N_A, N_B, N_QUERIES, K, DIM))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lancedb"])
def test_two_processes_build_the_same_peer(name):
    """Two fresh processes storing the same memories measure the same disk bytes and recall, bit for bit."""
    reason = availability(name)
    if reason is not None:
        pytest.skip(f"{name} cannot run here: {reason}")
    first, second = _build(name), _build(name)
    assert first["disk_bytes"] > N_A * DIM * 4  # the vectors alone: something real was counted
    assert first["disk_bytes"] == second["disk_bytes"]
    assert first["recall"] == second["recall"] == 1.0  # an exact peer
    assert first["tops"] == second["tops"]
