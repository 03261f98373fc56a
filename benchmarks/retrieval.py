"""Retrieval performance: similarity search latency and accuracy, step-range and attribute queries
(category 4).

Grids: ``retrieval.dataset_size`` (the largest volume; a tenth of it is the small volume),
``retrieval.query_counts`` (queries per measurement: the largest), ``retrieval.vector_dimensions``
(STM embedding size), ``retrieval.similarity_thresholds``.  Data are clustered states with known
labels (navigation / inventory / social clusters); queries are fresh members of the same clusters.
Tier "all" spreads the volume over STM, IM and LTM in thirds and searches across tiers.  The ``Ltm*``
classes search and query LTM per LTM backend (``ltm_backend``: the SQLite file, or PostgreSQL when a
server answers).
"""

from __future__ import annotations

import time

import numpy as np

from .conventions import metrics, sampled
from .lifecycle import CachedBenchmark, SystemBenchmark
from .settings import BACKENDS, CONFIG, LTM_BACKENDS, PROFILE, SEARCH_TIERS, TIERS, roomy, sorted_unique
from .stats import percentile
from .systems import fresh_system
from .workloads import STATUSES, clustered_states, test_states

AGENT = "benchmark_agent"
DATASET = int(CONFIG.retrieval.dataset_size)
VOLUMES = sorted_unique([max(50, DATASET // 10), DATASET])
#: Volumes of the LTM-backend classes: the small one outside the full profile.  What the backend adds to
#: a search or a step range (a version check, reading the hits' rows) does not grow with the volume;
#: the matrix product that does is the same on both backends (SimilaritySearchLatency measures it).
LTM_VOLUMES = VOLUMES if PROFILE == "full" else VOLUMES[:1]
N_QUERIES = max(CONFIG.retrieval.query_counts)
#: Attribute queries per call: each scans the agent's memories (on Redis it reads them all), so the
#: fewest of query_counts keeps a sample short enough for asv to take several.
ATTRIBUTE_QUERIES = min(CONFIG.retrieval.query_counts)
DIMENSIONS = sorted_unique(CONFIG.retrieval.vector_dimensions)
THRESHOLDS = sorted_unique(CONFIG.retrieval.similarity_thresholds)
K = 10
RECALL_KS = [1, K]
RANGE_WIDTH = 20


def load_clustered(system, volume: int, tier: str):
    """Store `volume` clustered states into `tier` ("all": thirds into stm, im, ltm); return
    (states, labels, ids) in storage order."""
    states, labels = clustered_states(volume, seed=0)
    states = list(states)
    if tier == "all":
        ids = []
        cuts = [0, volume // 3, 2 * volume // 3, volume]
        for part, target in enumerate(TIERS):
            lo, hi = cuts[part], cuts[part + 1]
            ids += system.store_agent_states(AGENT, states[lo:hi], list(range(lo, hi)), tier=target)
    else:
        ids = system.store_agent_states(AGENT, states, list(range(volume)), tier=tier)
    return states, list(labels), ids


def queries(n: int = N_QUERIES):
    """`n` fresh cluster members (another seed) and their labels."""
    states, labels = clustered_states(n, seed=7)
    return list(states), list(labels)


class SimilaritySearchLatency(SystemBenchmark):
    """retrieve_similar_states (k=10) per data volume and tier."""

    params = [VOLUMES, SEARCH_TIERS, BACKENDS]
    param_names = ["volume", "tier", "backend"]
    ops_per_call = N_QUERIES
    items_per_call = N_QUERIES

    def prepare(self, volume, tier, backend):
        self.system = self.new_system(backend, **roomy(volume))
        load_clustered(self.system, volume, tier)
        self.queries, _ = queries()

    @metrics("search_latency_seconds", "throughput_ops_per_second")
    def time_search(self, volume, tier, backend):
        """N_QUERIES similarity searches, k=10."""
        search = self.system.retrieve_similar_states
        for q in self.queries:
            search(AGENT, q, k=K, tier=tier)


class SimilaritySearchP95(SystemBenchmark):
    """Tail latency of one similarity search (k=10) at the largest volume, per tier."""

    params = [SEARCH_TIERS, BACKENDS]
    param_names = ["tier", "backend"]

    def prepare(self, tier, backend):
        self.system = self.new_system(backend, **roomy(DATASET))
        load_clustered(self.system, DATASET, tier)
        self.queries, _ = queries()
        search = self.system.retrieve_similar_states
        for q in self.queries:  # a warm-up pass
            search(AGENT, q, k=K, tier=tier)

    @metrics("p95_latency_ms")
    @sampled
    def track_p95_latency_ms(self, tier, backend):
        """95th percentile of one search's latency, in milliseconds; one sample = one pass of the
        N_QUERIES queries."""
        search = self.system.retrieve_similar_states
        clock = time.perf_counter
        latencies = []
        for q in self.queries:
            t0 = clock()
            search(AGENT, q, k=K, tier=tier)
            latencies.append(clock() - t0)
        return percentile(latencies, 95) * 1e3

    track_p95_latency_ms.unit = "ms"


class SearchLatencyByDimension(SystemBenchmark):
    """STM similarity search latency per embedding size (autoencoder stm_dim)."""

    params = [DIMENSIONS]
    param_names = ["dimension"]
    ops_per_call = N_QUERIES
    items_per_call = N_QUERIES

    def skip(self, benchmark, dimension):
        return "dimension must be at least 4 (stm > im > ltm)" if dimension < 4 else None

    def prepare(self, dimension):
        dims = (dimension, max(2, dimension // 2), max(1, dimension // 4))
        self.system = self.new_system("memory", ltm="memory", dims=dims, **roomy(DATASET))
        load_clustered(self.system, DATASET, "stm")
        self.queries, _ = queries()

    @metrics("search_latency_seconds")
    def time_search(self, dimension):
        """N_QUERIES STM searches, k=10."""
        search = self.system.retrieve_similar_states
        for q in self.queries:
            search(AGENT, q, k=K, tier="stm")


def _exact_neighbours(system, states, ids, qs, k):
    """Per query, the ids of the exact top-k by cosine of the full STM vectors."""
    encoder = system.get_encoder("stm")
    x = np.asarray(encoder.encode_states(states), dtype=np.float64)
    q = np.asarray(encoder.encode_states(qs), dtype=np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    order = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


class SearchRecall(CachedBenchmark):
    """recall@k of retrieve_similar_states against the exact neighbours in the full STM space."""

    params = [SEARCH_TIERS, RECALL_KS]
    param_names = ["tier", "k"]
    items_per_call = N_QUERIES

    def setup_cache(self):
        return self.compute_cache()

    def measure_all(self):
        out = {}
        qs, _ = queries()
        for tier in SEARCH_TIERS:
            with fresh_system("memory", ltm="memory", **roomy(DATASET)) as system:
                states, _, ids = load_clustered(system, DATASET, tier)
                for k in RECALL_KS:
                    exact = _exact_neighbours(system, states, ids, qs, k)
                    hits = 0
                    for query, truth in zip(qs, exact):
                        got = {m["memory_id"] for m in system.retrieve_similar_states(AGENT, query, k=k, tier=tier)}
                        hits += len(got & set(truth))
                    out[(tier, k)] = {"recall": hits / (k * len(qs))}
        return out

    @metrics("recall_at_k")
    def track_recall(self, cache, tier, k):
        """Mean |hits ∩ exact top-k| / k over N_QUERIES queries."""
        return self.value(cache, (tier, k), "recall")

    track_recall.unit = "fraction"


class SearchPrecision(CachedBenchmark):
    """Precision of thresholded search against cluster labels: hits sharing the query's cluster."""

    params = [THRESHOLDS, SEARCH_TIERS]
    param_names = ["threshold", "tier"]
    items_per_call = N_QUERIES

    def setup_cache(self):
        return self.compute_cache()

    def measure_all(self):
        out = {}
        qs, q_labels = queries()
        for tier in SEARCH_TIERS:
            with fresh_system("memory", ltm="memory", **roomy(DATASET)) as system:
                _, labels, ids = load_clustered(system, DATASET, tier)
                label_of = dict(zip(ids, labels))
                for threshold in THRESHOLDS:
                    relevant = returned = 0
                    for query, label in zip(qs, q_labels):
                        found = system.retrieve_similar_states(AGENT, query, k=K, tier=tier, threshold=threshold)
                        returned += len(found)
                        relevant += sum(1 for m in found if label_of.get(m["memory_id"]) == label)
                    out[(threshold, tier)] = {"precision": relevant / returned if returned else float("nan"),
                                              "hits": returned / len(qs)}
        return out

    @metrics("precision")
    def track_precision(self, cache, threshold, tier):
        """Fraction of returned hits (k=10, similarity ≥ threshold) in the query's cluster."""
        return self.value(cache, (threshold, tier), "precision")

    track_precision.unit = "fraction"

    @metrics("hits_per_query")
    def track_hits_per_query(self, cache, threshold, tier):
        """Mean number of hits per query at this threshold (at most 10)."""
        return self.value(cache, (threshold, tier), "hits")

    track_hits_per_query.unit = "memories"


class StepRangeQuery(SystemBenchmark):
    """retrieve_by_time_range over 20-step windows, per data volume."""

    params = [VOLUMES, BACKENDS]
    param_names = ["volume", "backend"]
    ops_per_call = N_QUERIES
    items_per_call = N_QUERIES

    def prepare(self, volume, backend):
        self.system = self.new_system(backend, **roomy(volume))
        self.system.store_agent_states(AGENT, test_states(volume, 1), list(range(volume)))
        self.windows = step_windows(volume)

    @metrics("time_range_latency_seconds")
    def time_step_range(self, volume, backend):
        """N_QUERIES step-range queries."""
        query = self.system.retrieve_by_time_range
        for start, end in self.windows:
            query(AGENT, start, end)


def step_windows(volume: int):
    """N_QUERIES windows of RANGE_WIDTH steps scattered over steps 0..volume-1 (deterministic)."""
    stride = 7919
    span = max(1, volume - RANGE_WIDTH)
    return [((i * stride) % span, (i * stride) % span + RANGE_WIDTH - 1) for i in range(N_QUERIES)]


class _LtmQueries(SystemBenchmark):
    """N_QUERIES queries of LTM per call, at each LTM_VOLUMES volume, on each LTM backend."""

    params = [LTM_VOLUMES, LTM_BACKENDS]
    param_names = ["volume", "ltm_backend"]
    ops_per_call = N_QUERIES
    items_per_call = N_QUERIES

    def new_ltm_system(self, volume, ltm_backend):
        """A system on `ltm_backend` with room for `volume` memories and no automatic maintenance."""
        self.system = self.new_system("memory", ltm_backend=ltm_backend, **roomy(volume))
        return self.system


class LtmSimilaritySearchLatency(_LtmQueries):
    """retrieve_similar_states (k=10) over LTM, on each LTM backend (the SQLite file or PostgreSQL)."""

    def prepare(self, volume, ltm_backend):
        load_clustered(self.new_ltm_system(volume, ltm_backend), volume, "ltm")
        self.queries, _ = queries()

    @metrics("search_latency_seconds", "throughput_ops_per_second")
    def time_search(self, volume, ltm_backend):
        """N_QUERIES similarity searches of LTM, k=10."""
        search = self.system.retrieve_similar_states
        for q in self.queries:
            search(AGENT, q, k=K, tier="ltm")


class LtmStepRangeQuery(_LtmQueries):
    """retrieve_by_time_range over 20-step windows of memories held in LTM, on each LTM backend."""

    def prepare(self, volume, ltm_backend):
        system = self.new_ltm_system(volume, ltm_backend)
        system.store_agent_states(AGENT, test_states(volume, 1), list(range(volume)), tier="ltm")
        self.windows = step_windows(volume)

    @metrics("time_range_latency_seconds")
    def time_step_range(self, volume, ltm_backend):
        """N_QUERIES step-range queries (each spans STM, IM and LTM; only LTM holds memories)."""
        query = self.system.retrieve_by_time_range
        for start, end in self.windows:
            query(AGENT, start, end)


class AttributeQuery(SystemBenchmark):
    """retrieve_by_attributes on a top-level key (status) and a dotted key (goals.0.id)."""

    params = [VOLUMES, ["status", "goals.0.id"], BACKENDS]
    param_names = ["volume", "key", "backend"]
    ops_per_call = ATTRIBUTE_QUERIES
    items_per_call = ATTRIBUTE_QUERIES

    def prepare(self, volume, key, backend):
        self.system = self.new_system(backend, **roomy(volume))
        self.system.store_agent_states(AGENT, test_states(volume, 1), list(range(volume)))
        values = list(STATUSES) if key == "status" else ["goal_0", "goal_1"]
        self.queries = [{key: values[i % len(values)]} for i in range(ATTRIBUTE_QUERIES)]

    @metrics("attribute_latency_seconds")
    def time_attribute_query(self, volume, key, backend):
        """ATTRIBUTE_QUERIES attribute queries."""
        query = self.system.retrieve_by_attributes
        for attributes in self.queries:
            query(AGENT, attributes)
