"""Conformance of every memory implementation under test (memory.benchmarking.peers) to the protocol.

For each registered peer that can run here (its package installed, Redis up): the same queries give
the same answers as brute force over the same data -- top-k ids and similarities (an approximate
index: a recall bound), step ranges, attribute equality, and a read by id returns the stored state.
Real packages, real temporary directories, the real Redis server; a peer that cannot run is skipped
with its reason.
"""

from __future__ import annotations

import os
import random
import socket

import numpy as np
import pytest
from redis_fixtures import namespace_keys, unique_namespace

from benchmarks import workloads
from memory import AgentMemorySystem, MemoryConfig
from memory.benchmarking.peers import (NAMES, Batch, InvalidBatch, Peer, PeerError, PeerUnavailable, Query,
                                       UnsupportedQuery, availability, open_peer, peer_class, requirements)
from memory.benchmarking.peers.protocol import TEMP_PREFIX, require_module

ATTRIBUTES = ("status", "step_count", "flag")
A, B = "agent-a", "agent-b"
N_A, N_B, N_QUERIES, K = 1200, 300, 12, 10
#: Peers whose build here takes seconds (their package's import, Chroma's HNSW inserts): slow tests.
SLOW_PEERS = ("chroma", "lancedb")
PEER_PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_PEERS else n for n in NAMES]
#: An approximate index (Chroma's HNSW) must find at least this share of the exact top-k here.
MIN_RECALL = 0.9


def _vectors(states):
    config = MemoryConfig()
    config.ltm_config.db_path = ":memory:"
    with AgentMemorySystem(config) as system:
        return system.get_encoder("stm").encode_states(list(states))


def _with_flags(states, seed):
    """Copies of `states` with a bool attribute (True/False/absent), to check bool != int equality."""
    rng = random.Random(seed)
    out = []
    for state in states:
        state = dict(state)
        pick = rng.random()
        if pick < 0.4:
            state["flag"] = True
        elif pick < 0.8:
            state["flag"] = False
        out.append(state)
    return out


@pytest.fixture(scope="module")
def data():
    """Agent A: N_A states at steps 0, 3, 6, ... stored in two batches; agent B: N_B others; queries."""
    states_a = _with_flags(workloads.test_states(N_A, 1, 10), 1)
    states_b = _with_flags(workloads.test_states(N_B, 1, 11), 2)
    query_states = workloads.test_states(N_QUERIES, 1, 12)
    vectors_a, vectors_b, vectors_q = _vectors(states_a), _vectors(states_b), _vectors(query_states)
    steps_a = [3 * i for i in range(N_A)]
    half = N_A // 2
    batches = [Batch(A, steps_a[:half], states_a[:half], vectors_a[:half]),
               Batch(B, list(range(N_B)), states_b, vectors_b),
               Batch(A, steps_a[half:], states_a[half:], vectors_a[half:])]
    queries = [Query(s, v) for s, v in zip(query_states, vectors_q)]
    return {"batches": batches, "queries": queries, "states_a": states_a, "steps_a": steps_a,
            "vectors_a": vectors_a, "states_b": states_b}


def _options(name, request):
    """The Redis peer's server (the session's) and a namespace of its own, checked empty at teardown."""
    if name != "agentmemory-redis":
        return {}
    url, namespace = request.getfixturevalue("redis_url"), unique_namespace("peers-test")
    request.addfinalizer(lambda: _assert_no_keys(url, namespace))
    return {"redis_url": url, "namespace": namespace}


def _assert_no_keys(url, namespace):
    left = namespace_keys(url, namespace)
    assert not left, f"the Redis peer left {len(left)} keys of {namespace} behind"


def _open(name, request, **extra):
    try:
        return open_peer(name, attributes=ATTRIBUTES, **_options(name, request), **extra)
    except PeerUnavailable as exc:
        pytest.skip(f"{name} cannot run here: {exc.reason}")


@pytest.fixture(scope="module", params=PEER_PARAMS)
def loaded(request, data):
    """Peer `param` holding the data: (peer, ids of agent A in order, ids of agent B); built once per
    module (the tests only read it)."""
    peer = _open(request.param, request)
    try:
        first, ids_b, second = (peer.store(batch) for batch in data["batches"])
        yield peer, first + second, ids_b
    finally:
        peer.close()


def _cosines(matrix, vector):
    rows = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return rows @ (vector / np.linalg.norm(vector))


def test_ids_are_unique_strings(loaded):
    peer, ids_a, ids_b = loaded
    assert all(isinstance(i, str) for i in ids_a + ids_b)
    assert len(set(ids_a + ids_b)) == N_A + N_B


def test_read_by_id_returns_the_stored_state(loaded, data):
    peer, ids_a, ids_b = loaded
    for row in range(0, N_A, 97):
        record = peer.read(ids_a[row])
        assert record is not None
        assert (record.memory_id, record.agent_id, record.step) == (ids_a[row], A, data["steps_a"][row])
        assert record.state == data["states_a"][row]
    record = peer.read(ids_b[7])
    assert (record.agent_id, record.step, record.state) == (B, 7, data["states_b"][7])
    assert peer.read("no-such:memory") is None


def test_top_k_matches_brute_force(loaded, data):
    """Exact peers: the true top-10 of agent A (by their cosines; ties at the 10th may swap), best first,
    with the true similarity. Approximate peers: every hit is agent A's with its true similarity, and
    recall@10 is at least MIN_RECALL."""
    peer, ids_a, _ = loaded
    row_of = {mid: row for row, mid in enumerate(ids_a)}
    found = []
    for query in data["queries"]:
        truth = _cosines(data["vectors_a"], query.vector)
        exact = np.sort(truth)[::-1][:K]
        hits = peer.top_k(A, query, K)
        assert len(hits) == K
        rows = [row_of.get(hit.record.memory_id) for hit in hits]
        assert None not in rows, "a hit that is not agent A's"
        got = np.array([truth[r] for r in rows])
        np.testing.assert_allclose([hit.similarity for hit in hits], got, atol=2e-4)
        assert all(a >= b - 1e-5 for a, b in zip(got, got[1:])), "hits not best first"
        assert all(hit.record.state == data["states_a"][r] for hit, r in zip(hits, rows))
        if peer.exact:
            np.testing.assert_allclose(got, exact, atol=1e-5)
        found.append(len(set(rows) & set(np.argsort(-truth)[:K].tolist())) / K)
    assert np.mean(found) >= (1.0 - 1e-9 if peer.exact else MIN_RECALL), found


def test_top_k_beyond_the_agent_returns_all_of_it(loaded, data):
    peer, _, ids_b = loaded
    hits = peer.top_k(B, data["queries"][0], N_B + 50)
    assert sorted(hit.record.memory_id for hit in hits) == sorted(ids_b)
    assert peer.top_k("nobody", data["queries"][0], 5) == []


@pytest.mark.parametrize("start,end", [(0, 0), (3, 30), (301, 599), (1, 2), (3000, 10 ** 9), (5, 5)])
def test_step_range_matches_brute_force(loaded, data, start, end):
    peer, ids_a, _ = loaded
    want = [ids_a[row] for row, step in enumerate(data["steps_a"]) if start <= step <= end]
    got = peer.step_range(A, start, end)
    assert [r.memory_id for r in got] == want
    assert [r.step for r in got] == sorted(r.step for r in got)
    assert all(r.agent_id == A for r in got)


@pytest.mark.parametrize("attributes", [{"status": "idle"}, {"status": "planning"}, {"flag": True},
                                        {"flag": False}, {"status": "active", "flag": True}])
def test_attribute_equality_matches_brute_force(loaded, data, attributes):
    peer, ids_a, _ = loaded
    want = [ids_a[row] for row, state in enumerate(data["states_a"])
            if all(k in state and state[k] == v and isinstance(state[k], bool) == isinstance(v, bool)
                   for k, v in attributes.items())]
    assert want
    assert [r.memory_id for r in peer.attribute_equal(A, attributes)] == want


def test_attribute_equality_on_an_int_and_on_nothing(loaded, data):
    peer, ids_a, _ = loaded
    value = data["states_a"][5]["step_count"]
    want = [ids_a[row] for row, state in enumerate(data["states_a"]) if state["step_count"] == value]
    assert [r.memory_id for r in peer.attribute_equal(A, {"step_count": value})] == want
    assert peer.attribute_equal(A, {"status": "no such status"}) == []
    assert peer.attribute_equal(A, {"flag": 1}) == []  # 1 is not True
    with pytest.raises(UnsupportedQuery, match="not declared"):
        peer.attribute_equal(A, {"position": 1})


def test_bad_queries_are_typed_errors(loaded, data):
    peer, _, _ = loaded
    with pytest.raises(UnsupportedQuery):
        peer.top_k(A, data["queries"][0], 0)
    with pytest.raises(UnsupportedQuery):
        peer.top_k(A, Query({}, np.zeros(3)), 5)  # float64
    with pytest.raises(UnsupportedQuery):
        peer.step_range(A, 10, 9)
    with pytest.raises(UnsupportedQuery):
        peer.attribute_equal(A, {})
    with pytest.raises(InvalidBatch):
        peer.store("not a batch")


@pytest.mark.parametrize("name", PEER_PARAMS)
def test_close_removes_the_temporary_directory_and_is_final(name, request, data):
    peer = _open(name, request)
    peer.store(data["batches"][1])
    directory = peer.directory
    assert directory.is_dir() and directory.name.startswith(TEMP_PREFIX)
    peer.close()
    peer.close()  # idempotent
    assert not directory.exists()
    with pytest.raises(PeerError, match="closed"):
        peer.read("x")


@pytest.mark.parametrize("name", [p for p in PEER_PARAMS if peer_class(getattr(p, "values", [p])[0]).persistent])
def test_a_persistent_peer_reopens_what_it_stored(name, request, data, tmp_path):
    first = _open(name, request, directory=tmp_path / "store")
    try:
        ids_a = first.store(data["batches"][0])
        ids_b = first.store(data["batches"][1])
    finally:
        first.close()
    assert (tmp_path / "store").is_dir(), "a given directory is the caller's: close keeps it"
    again = _open(name, request, directory=tmp_path / "store")
    try:
        assert again.read(ids_a[3]).state == data["states_a"][3]
        more = again.store(data["batches"][2])
        assert not set(more) & set(ids_a + ids_b), "ids of a reopened store collide with earlier ones"
        assert [r.memory_id for r in again.step_range(A, 0, 10 ** 9)] == ids_a + more
        assert len(again.top_k(B, data["queries"][0], 5)) == 5
    finally:
        again.close()


@pytest.mark.slow
def test_disk_bytes_count_the_files_of_persistent_peers(request, data):
    for name in NAMES:
        try:
            peer = open_peer(name, attributes=ATTRIBUTES, **_options(name, request))
        except PeerUnavailable:
            continue
        with peer:
            empty = peer.disk_bytes()
            peer.store(data["batches"][1])
            stored = peer.disk_bytes()
        if name in ("numpy", "faiss", "agentmemory-redis") or name == "agentmemory":
            assert stored == empty, name  # memory only (AgentMemory's LTM file stays as it was)
        else:
            assert stored > empty, name


# ---- unavailability, the registry, batches --------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_redis_peer_without_a_server_is_unavailable_and_leaves_nothing(tmp_path):
    before = set(os.listdir(tmp_path))
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    with pytest.raises(PeerUnavailable) as caught:
        open_peer("agentmemory-redis", redis_url=url, directory=tmp_path / "d")
    assert caught.value.name == "agentmemory-redis" and "no Redis server answers" in caught.value.reason
    assert availability("agentmemory-redis", redis_url=url) == caught.value.reason
    assert set(os.listdir(tmp_path)) <= before | {"d"}


def test_a_missing_package_is_a_typed_unavailability():
    with pytest.raises(PeerUnavailable) as caught:
        require_module("example", "agentmemory_no_such_module", "no-such-package")
    assert caught.value.name == "example"
    assert "pip install no-such-package" in caught.value.reason
    assert str(caught.value).startswith("example unavailable: ")


def test_registry_names_classes_and_requirements():
    assert NAMES[:3] == ("agentmemory", "agentmemory-redis", "numpy")
    assert {"chroma", "faiss"} <= set(NAMES) and {"sqlite-vec", "lancedb"} & set(NAMES)
    for name in NAMES:
        cls = peer_class(name)
        assert cls.name == name and cls.description
    assert requirements(["numpy", "chroma", "faiss"]) == ["chromadb", "faiss-cpu"]
    with pytest.raises(PeerError, match="unknown implementation"):
        open_peer("mongodb")


def test_reproducibility_is_a_capability_of_the_protocol():
    """Chroma's HNSW builds differ in recall and bytes, LanceDB's in bytes only; every other peer is
    exactly reproducible (its recall and bytes are judged exactly), the protocol's default."""
    assert Peer.reproducible_recall is True and Peer.reproducible_bytes is True
    capabilities = {name: (peer_class(name).reproducible_recall, peer_class(name).reproducible_bytes)
                    for name in NAMES}
    assert capabilities.pop("chroma") == (False, False)
    assert capabilities.pop("lancedb") == (True, False)
    assert set(capabilities.values()) == {(True, True)}, capabilities


def test_the_implementations_benchmarks_declare_what_the_peers_cannot_reproduce():
    from benchmarks.conventions import not_reproducible_of
    from benchmarks.implementations import Footprint, Quality

    assert not_reproducible_of(Quality, "track_recall_at_10") == {"implementation": ["chroma"]}
    assert not_reproducible_of(Footprint, "track_disk_bytes") == {"implementation": ["chroma", "lancedb"]}
    assert not_reproducible_of(Footprint, "peakmem_store") == {}
    # the machine-readable catalogue (benchmarks/common.py --catalog) says so too
    from benchmarks.catalog import metric_catalog

    declared = {name: entry["not_reproducible"] for name, entry in metric_catalog().items() if entry["not_reproducible"]}
    assert declared == {"implementations.Quality.track_recall_at_10": {"implementation": ["chroma"]},
                        "implementations.Footprint.track_disk_bytes": {"implementation": ["chroma", "lancedb"]}}


@pytest.mark.parametrize("bad", [
    dict(steps=[0, 1], states=[{}], vectors=np.zeros((1, 4), np.float32)),
    dict(steps=[0], states=[{}], vectors=np.zeros((1, 4))),
    dict(steps=[0], states=[{}], vectors=np.full((1, 4), np.nan, np.float32)),
    dict(steps=[-1], states=[{}], vectors=np.zeros((1, 4), np.float32)),
    dict(steps=[True], states=[{}], vectors=np.zeros((1, 4), np.float32)),
    dict(steps=[0], states=["x"], vectors=np.zeros((1, 4), np.float32)),
])
def test_a_bad_batch_is_rejected_before_any_store(bad):
    with pytest.raises(InvalidBatch):
        Batch("agent", **bad)
    with pytest.raises(InvalidBatch):
        Batch("", [0], [{}], np.zeros((1, 4), np.float32))
