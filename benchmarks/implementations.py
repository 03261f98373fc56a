"""Implementations side by side (opt-in category): AgentMemory and other stores on the same work.

Every class's first parameter is ``implementation``, a name of ``memory.benchmarking.peers.NAMES``
(the adapters: AgentMemory embedded and on Redis, the numpy floor, Chroma, sqlite-vec, LanceDB,
FAISS); classes with a size take ``n_memories`` second. An implementation that cannot run here (its
package missing, no Redis) is skipped, saying why. Grids: ``implementations`` of the benchmark
configuration (``names``, ``memory_counts``, ``store_batch_sizes``, ``read_memories``,
``queries_per_call``, ``recall_queries``). The category runs only when named
(``cli run --category implementations``).

The work. Agent ``agent-0`` holds n seeded states (``workloads.test_states``, seed 0), agent
``agent-1`` min(n, 1 000) others (seed 1), so every query is within one agent of two; queries are
held-out states (seed 2). Every implementation gets the same float32 vectors: AgentMemory's STM
encoder output of those states, computed before any timing (AgentMemory itself is given the states
and embeds them as it stores: that cost is in its store time). Attributes ``status`` and
``step_count`` (top-level scalars of the state) are declared filterable.

Builds. The read-side classes (SimilaritySearch, ReadById, StepRange, AttributeFilter, Quality)
share one ``setup_cache`` (asv keys caches by the function's source line, so they inherit the same
one): it builds every implementation at every count once, computes its recall@10 against exact
brute force while the build is open, and leaves the persistent stores (Chroma, sqlite-vec, LanceDB)
in asv's cache directory (its working directory, removed by asv after the last benchmark using it).
A benchmark reopens a persistent store; an in-process one (numpy, FAISS, AgentMemory) is built
again in its setup, which asv repeats before every sample, outside the timing.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import pickle
import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import numpy as np

from memory.benchmarking.peers import Batch, NAMES as ALL_NAMES, Peer, PeerUnavailable, Query, open_peer, peer_class
from memory.benchmarking.peers.numpy_floor import top_rows
from memory.benchmarking.peers.protocol import normalized

from .backends import REDIS_URL, BackendUnavailable, log_namespace
from .conventions import metrics, not_reproducible_at
from .lifecycle import Benchmark, SystemBenchmark
from .settings import CONFIG, PROFILE, TIMING, sorted_unique
from .systems import new_namespace
from .workloads import test_states

SECTION = CONFIG.implementations
IMPLEMENTATIONS: List[str] = [name for name in ALL_NAMES if name in SECTION.names]
COUNTS: List[int] = sorted_unique(SECTION.memory_counts)
STORE_SIZES: List[int] = sorted_unique(SECTION.store_batch_sizes)
READ_N = int(SECTION.read_memories)
QUERIES = int(SECTION.queries_per_call)
RECALL_QUERIES = int(SECTION.recall_queries)
K = 10
AGENT, OTHER = "agent-0", "agent-1"
OTHER_MAX = 1000
ATTRIBUTES = ("status", "step_count")
#: reads by id per timed call; steps per step-range query
READS = 100
RANGE_STEPS = 100
#: The largest count an implementation is built at outside the full profile, where building more
#: would not fit the category's 5 minutes: Chroma inserts ~2 000 memories/s at 10 000 and ~700/s
#: towards 100 000 (145 s for 100 000 on this 2-core machine under load).
BUILD_LIMITS: Dict[str, int] = {"chroma": 10_000}
#: setup_cache builds every implementation at every count: more than one benchmark's timeout.
BUILD_TIMEOUT = max(float(TIMING["timeout"]), 1200.0)


def not_built(name: str, n: int) -> Optional[str]:
    """Why implementation `name` is not built at `n` memories in this profile (None: it is)."""
    limit = BUILD_LIMITS.get(name)
    if limit is not None and n > limit and PROFILE != "full":
        return (f"{name} is built at up to {limit} memories outside the full profile (its inserts would take "
                "minutes: see BUILD_LIMITS)")
    return None


# ---- the work -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    """AgentMemory's STM encoder (state -> the vector every implementation gets)."""
    from memory import AgentMemorySystem, MemoryConfig

    config = MemoryConfig()
    config.ltm_config.db_path = ":memory:"
    with AgentMemorySystem(config) as system:
        return system.get_encoder("stm")


def vectors_of(states: Sequence[Dict[str, Any]]) -> np.ndarray:
    """The float32 vectors of `states`: the encoder's output, the same for every implementation."""
    return np.ascontiguousarray(_encoder().encode_states(list(states)), dtype=np.float32)


@functools.lru_cache(maxsize=4)
def workload(n: int) -> Tuple[Batch, Batch]:
    """(agent-0's n memories, agent-1's min(n, OTHER_MAX)), steps 0.. in order (memoised per process)."""
    mine, other = test_states(n, 1, 0), test_states(min(n, OTHER_MAX), 1, 1)
    return (Batch(AGENT, range(len(mine)), mine, vectors_of(mine)),
            Batch(OTHER, range(len(other)), other, vectors_of(other)))


@functools.lru_cache(maxsize=1)
def queries() -> Tuple[Query, ...]:
    """max(QUERIES, RECALL_QUERIES) held-out query states with their vectors."""
    states = test_states(max(QUERIES, RECALL_QUERIES), 1, 2)
    return tuple(Query(state, vector) for state, vector in zip(states, vectors_of(states)))


@functools.lru_cache(maxsize=4)
def exact_tops(n: int) -> Tuple[frozenset, ...]:
    """Per query (RECALL_QUERIES of them), the rows of agent-0's exact top-K at size `n`: numpy brute
    force over the same vectors, the reference of recall."""
    matrix = normalized(workload(n)[0].vectors)
    return tuple(frozenset(int(r) for r in top_rows(matrix, normalized(q.vector), K)[0])
                 for q in queries()[:RECALL_QUERIES])


def recall_at_k(peer: Peer, ids: Sequence[str], n: int) -> float:
    """Mean share of the exact top-K of the RECALL_QUERIES queries that `peer` returns within agent-0."""
    row_of = {mid: row for row, mid in enumerate(ids)}
    found = []
    for query, exact in zip(queries(), exact_tops(n)):
        hits = {row_of.get(hit.record.memory_id) for hit in peer.top_k(AGENT, query, K)}
        found.append(len(hits & exact) / K)
    return float(np.mean(found))


def open_for_benchmark(name: str, directory: Optional[str] = None) -> Peer:
    """Peer `name` with the suite's attributes (Redis: the suite's server, a logged namespace of its own);
    BackendUnavailable (asv: skipped, saying why) when it cannot run here."""
    options: Dict[str, Any] = {"directory": directory, "attributes": ATTRIBUTES}
    if name == "agentmemory-redis":
        namespace = new_namespace()
        log_namespace(namespace)  # the runner removes its keys should this process die before closing it
        options.update(redis_url=REDIS_URL, namespace=namespace)
    try:
        return open_peer(name, **options)
    except PeerUnavailable as exc:
        raise BackendUnavailable(str(exc)) from None


def store_workload(peer: Peer, batches: Tuple[Batch, Batch]) -> List[str]:
    """Store agent-0's and agent-1's memories (a :func:`workload`); agent-0's ids."""
    mine, other = batches
    ids = peer.store(mine)
    peer.store(other)
    return ids


def save_workload(n: int) -> str:
    """Pickle :func:`workload` of `n` under the working directory; its path. A benchmark process loads
    it in ~0.5 s where making it again (states, then the encoder) takes ~2.5 s at 100 000."""
    path = os.path.join(os.getcwd(), f"workload-{n}.pickle")
    if not os.path.exists(path):
        with open(path, "wb") as handle:
            pickle.dump(workload(n), handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


@functools.lru_cache(maxsize=2)
def load_workload(path: str) -> Tuple[Batch, Batch]:
    """The workload :func:`save_workload` wrote (memoised per process)."""
    enabled = gc.isenabled()
    gc.disable()  # ~10^6 new containers, no cycles: the collector would double the time
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    finally:
        if enabled:
            gc.enable()


def build_all() -> Dict[Tuple[Any, ...], Any]:
    """Build every implementation at every count (and READ_N) once: ``{(name, n): {"recall", "disk_bytes",
    "path", "ids_path", "workload_path"}}`` (the directory of a persistent store kept under the working
    directory and the JSON file of its agent-0 ids beside it, else None; the pickled workload), or
    ``"skipped: <reason>"``. The cache stays
    small: every benchmark process unpickles it, and the peak memory measured includes it."""
    out: Dict[Tuple[Any, ...], Any] = {}
    for name in IMPLEMENTATIONS:
        persistent = peer_class(name).persistent
        for n in sorted_unique(COUNTS + [READ_N]):
            if not_built(name, n):
                out[(name, n)] = f"skipped: {not_built(name, n)}"
                continue
            path = os.path.join(os.getcwd(), "peers", f"{name}-{n}") if persistent else None
            try:
                peer = open_for_benchmark(name, path)
            except BackendUnavailable as exc:
                out[(name, n)] = f"skipped: {exc}"
                continue
            try:
                ids = store_workload(peer, workload(n))
                ids_path = None
                if path is not None:
                    ids_path = path + ".ids.json"
                    with open(ids_path, "w", encoding="utf-8") as handle:
                        json.dump(ids, handle)
                out[(name, n)] = {"disk_bytes": float(peer.disk_bytes()), "recall": recall_at_k(peer, ids, n),
                                  "path": path, "ids_path": ids_path, "workload_path": save_workload(n)}
            finally:
                peer.close()
    return out


class PeerCache(Benchmark):
    """Base of the read-side classes: the shared build (one ``setup_cache`` for all of them)."""

    def setup_cache(self):
        return build_all()

    setup_cache.timeout = BUILD_TIMEOUT

    def built(self, cache: Dict[Tuple[Any, ...], Any], name: str, n: int) -> Dict[str, Any]:
        """The build of `name` at `n`; BackendUnavailable (asv: skipped) when it was not built."""
        entry = cache.get((name, n))
        if not isinstance(entry, dict):
            raise BackendUnavailable(entry or f"{name} was not built at {n} memories")
        return entry


class PeerBenchmark(PeerCache, SystemBenchmark):
    """A read-side benchmark on the shared build: ``open_built`` reopens a persistent store or builds an
    in-process one again, closed on teardown."""

    def open_built(self, cache: Dict[Tuple[Any, ...], Any], name: str, n: int) -> Tuple[Peer, List[str]]:
        """(peer, agent-0's ids) of `name` at `n`, opened for this sample."""
        entry = self.built(cache, name, n)
        peer = open_for_benchmark(name, entry["path"])
        self.defer(peer.close)
        if entry["path"] is None:
            ids = store_workload(peer, load_workload(entry["workload_path"]))
        else:
            with open(entry["ids_path"], encoding="utf-8") as handle:
                ids = json.load(handle)
        peer.top_k(AGENT, queries()[0], K)  # warm: a lazily joined matrix or a loaded index is not timed
        return peer, ids


# ---- the benchmarks --------------------------------------------------------------------------------

class StoreBatch(SystemBenchmark):
    """Storing one batch of n memories of one agent into an empty implementation."""

    params = [IMPLEMENTATIONS, STORE_SIZES]
    param_names = ["implementation", "n_memories"]
    items_per_call = "n_memories"
    ops_per_call = 1

    def prepare(self, implementation, n_memories):
        self.batch = workload(n_memories)[0]
        self.peer = open_for_benchmark(implementation)
        self.defer(self.peer.close)

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed")
    def time_store_batch(self, implementation, n_memories):
        """One store of n_memories (step, state, vector) of one agent (AgentMemory embeds the states)."""
        self.peer.store(self.batch)


class ReadById(PeerBenchmark):
    """Reading READS memories by id, one at a time, from read_memories stored."""

    params = [IMPLEMENTATIONS]
    param_names = ["implementation"]
    items_per_call = READS
    ops_per_call = READS

    def prepare(self, cache, implementation):
        self.peer, ids = self.open_built(cache, implementation, READ_N)
        stride = 7919  # prime: scattered, deterministic
        self.ids = [ids[(i * stride) % len(ids)] for i in range(READS)]
        if self.peer.read(self.ids[0]) is None:
            raise AssertionError(f"{implementation}: a stored memory did not read back")

    @metrics("single_read_latency_seconds", "total_time_seconds")
    def time_read_by_id(self, cache, implementation):
        """READS reads of one id each (latency per read = value / READS)."""
        read = self.peer.read
        for memory_id in self.ids:
            read(memory_id)


class SimilaritySearch(PeerBenchmark):
    """Top-10 by cosine within one agent of n_memories (the other agent holds up to 1 000 more)."""

    params = [IMPLEMENTATIONS, COUNTS]
    param_names = ["implementation", "n_memories"]
    items_per_call = QUERIES
    ops_per_call = QUERIES

    def skip(self, benchmark, implementation, n_memories):
        return not_built(implementation, n_memories)

    def prepare(self, cache, implementation, n_memories):
        self.peer, _ = self.open_built(cache, implementation, n_memories)
        self.queries = queries()[:QUERIES]

    @metrics("search_latency_seconds", "throughput_ops_per_second")
    def time_top10(self, cache, implementation, n_memories):
        """queries_per_call top-10 queries (latency per query = value / queries_per_call)."""
        top_k = self.peer.top_k
        for query in self.queries:
            top_k(AGENT, query, K)


class StepRange(PeerBenchmark):
    """Memories of one agent within a range of RANGE_STEPS steps, of read_memories stored."""

    params = [IMPLEMENTATIONS]
    param_names = ["implementation"]
    items_per_call = QUERIES * RANGE_STEPS
    ops_per_call = QUERIES

    def prepare(self, cache, implementation):
        self.peer, _ = self.open_built(cache, implementation, READ_N)
        rng = random.Random("implementations-step-ranges")
        starts = [rng.randrange(0, max(1, READ_N - RANGE_STEPS)) for _ in range(QUERIES)]
        self.ranges = [(start, start + RANGE_STEPS - 1) for start in starts]

    @metrics("time_range_latency_seconds")
    def time_step_range(self, cache, implementation):
        """queries_per_call step-range queries of RANGE_STEPS steps each (memories returned = items)."""
        step_range = self.peer.step_range
        for start, end in self.ranges:
            step_range(AGENT, start, end)


class AttributeFilter(PeerBenchmark):
    """Memories of one agent whose ``step_count`` equals a value (~0.1 % of read_memories each)."""

    params = [IMPLEMENTATIONS]
    param_names = ["implementation"]
    items_per_call = QUERIES
    ops_per_call = QUERIES

    def prepare(self, cache, implementation):
        self.peer, _ = self.open_built(cache, implementation, READ_N)
        states = load_workload(self.built(cache, implementation, READ_N)["workload_path"])[0].states
        rng = random.Random("implementations-attributes")
        self.values = [states[rng.randrange(len(states))]["step_count"] for _ in range(QUERIES)]

    @metrics("attribute_latency_seconds")
    def time_attribute_equality(self, cache, implementation):
        """queries_per_call attribute-equality queries (latency per query = value / queries_per_call)."""
        attribute_equal = self.peer.attribute_equal
        for value in self.values:
            attribute_equal(AGENT, {"step_count": value})


def unreproducible_where(reproducible: Callable[[Type[Peer]], bool]) -> Dict[str, List[str]]:
    """The ``not_reproducible`` declaration of a metric whose reproducibility is a peer capability
    (`reproducible` reads it from the adapter class): the implementations without it, judged on the threshold."""
    return not_reproducible_at(implementation=[name for name in ALL_NAMES if not reproducible(peer_class(name))])


class Quality(PeerCache):
    """Recall@10 of each implementation against exact brute force (numpy over the same vectors)."""

    params = [IMPLEMENTATIONS, COUNTS]
    param_names = ["implementation", "n_memories"]
    metric_kind = "deterministic"

    def skip(self, benchmark, implementation, n_memories):
        return not_built(implementation, n_memories)

    def setup(self, cache, implementation, n_memories):
        self.built(cache, implementation, n_memories)

    @metrics("recall_at_k")
    def track_recall_at_10(self, cache, implementation, n_memories):
        """Mean recall@10 of recall_queries held-out queries within agent-0 (exact search: 1.0)."""
        return float(self.built(cache, implementation, n_memories)["recall"])

    track_recall_at_10.unit = "fraction"
    track_recall_at_10.not_reproducible = unreproducible_where(lambda peer: peer.reproducible_recall)


class Footprint(PeerBenchmark):
    """What storing read_memories (plus up to 1 000 of another agent) costs: peak memory and disk bytes."""

    params = [IMPLEMENTATIONS]
    param_names = ["implementation"]
    items_per_call = READ_N

    def prepare(self, cache, implementation):
        self.batches = load_workload(self.built(cache, implementation, READ_N)["workload_path"])
        self.peer = open_for_benchmark(implementation)
        self.defer(self.peer.close)

    @metrics("peak_memory_bytes")
    def peakmem_store(self, cache, implementation):
        """Peak resident memory of the benchmark process storing them into an empty implementation (its
        import and open, and the states and vectors, included)."""
        store_workload(self.peer, self.batches)

    @metrics("disk_bytes", kind="deterministic")
    def track_disk_bytes(self, cache, implementation):
        """Bytes of the files the implementation keeps for them (0: it holds memory only), measured on the
        shared build right after storing."""
        return float(self.built(cache, implementation, READ_N)["disk_bytes"])

    track_disk_bytes.unit = "bytes"
    track_disk_bytes.not_reproducible = unreproducible_where(lambda peer: peer.reproducible_bytes)
