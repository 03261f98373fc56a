"""Storage performance: write throughput, read latency, memory efficiency (seed category 1).

Grids: ``storage.batch_sizes``, ``storage.data_complexity_levels``, ``storage.num_samples`` of the
benchmark configuration.  Write benchmarks give STM room for the whole batch (``stm_limit`` at
least the batch size, no automatic maintenance), so they time the write path alone; the cost of
moving memories between tiers is measured in memory_transition.py.  The ``Ltm*`` classes write and
read LTM per LTM backend (``ltm_backend``: the SQLite file, or PostgreSQL when a server answers).
"""

from __future__ import annotations

import itertools
import time

from .conventions import metrics, sampled
from .lifecycle import CachedBenchmark, SystemBenchmark
from .settings import BACKENDS, CONFIG, LTM_BACKENDS, PROFILE, TIERS, ltm_batches, roomy, sorted_unique
from .stats import percentile
from .systems import fresh_system
from .workloads import test_states

AGENT = "benchmark_agent"
BATCH_SIZES = sorted_unique(CONFIG.storage.batch_sizes)
COMPLEXITIES = sorted_unique(CONFIG.storage.data_complexity_levels)
NUM_SAMPLES = int(CONFIG.storage.num_samples)
READ_BATCHES = [1, 10, 50, 100]
LTM_BATCHES = ltm_batches(BATCH_SIZES)
#: LTM reads per LTM backend: one id (retrieve_state) and a batch of 10 (retrieve_states)
LTM_READ_BATCHES = READ_BATCHES[:2]
#: memories preloaded for read benchmarks, and loaded for memory-efficiency tracks
READ_POOL = 1000
EFFICIENCY_N = max(100, min(10 * NUM_SAMPLES, 10000))


#: A per-state store loop costs the same per state at 1 000 and 10 000 states (each store is its own
#: call: on Redis a round trip, ~0.2 ms; embedded, measured in one A/A run: 21 / 21, 61 / 48 and
#: 140 / 103 µs a state at complexity 1, 5 and 10, on Redis 206 / 224 µs), while the 10 000 loops
#: took 0.4-4 s a sample, 12-14 s of every asv round of a commit. So loops longer than this are not
#: run outside the full profile, on any backend or tier; the store_batch benchmarks keep the large
#: batches.
LOOP_MAX = 1000


def long_loop(benchmark: str, batch_size: int) -> bool:
    """Whether `benchmark` is a store loop longer than LOOP_MAX outside the full profile."""
    return benchmark == "time_store_loop" and batch_size > LOOP_MAX and PROFILE != "full"


def duplicate_ltm(tier: str, backend: str):
    """LTM is SQLite on every backend: measured once, under backend="memory" (the reason to skip the rest)."""
    if tier == "ltm" and backend != "memory":
        return "LTM is SQLite on every backend; measured with backend='memory'"
    return None


def fresh_agents():
    """Agent ids for successive calls of a write benchmark, each new: every sample writes into an
    empty agent, so no sample pays for the memories earlier samples (or the warm-up) left behind and
    the samples stay independent of how many asv takes."""
    return (f"{AGENT}-{n}" for n in itertools.count())


class WriteThroughput(SystemBenchmark):
    """Writing states into STM: the seed's loop of store_agent_state, and store_agent_states."""

    params = [BATCH_SIZES, COMPLEXITIES, BACKENDS]
    param_names = ["batch_size", "complexity", "backend"]
    items_per_call = "batch_size"

    def skip(self, benchmark, batch_size, complexity, backend):
        if long_loop(benchmark, batch_size):
            return f"a store loop above {LOOP_MAX} states repeats the one of {LOOP_MAX}, state for state"
        return None

    def prepare(self, batch_size, complexity, backend):
        self.states = test_states(batch_size, complexity)
        self.steps = list(range(batch_size))
        self.system = self.new_system(backend, **roomy(batch_size))
        self.agents = fresh_agents()

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed", ops_per_call="batch_size")
    def time_store_loop(self, batch_size, complexity, backend):
        """One store_agent_state call per state (the seed's write loop)."""
        store, agent = self.system.store_agent_state, next(self.agents)
        for step, state in zip(self.steps, self.states):
            store(agent, state, step)


    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed", ops_per_call=1)
    def time_store_batch(self, batch_size, complexity, backend):
        """One store_agent_states call for the whole batch."""
        self.system.store_agent_states(next(self.agents), self.states, self.steps)


class TierWriteThroughput(SystemBenchmark):
    """Writing states directly into IM or LTM (``tier=`` of the store calls; STM: WriteThroughput)."""

    params = [BATCH_SIZES, ["im", "ltm"], BACKENDS]
    param_names = ["batch_size", "tier", "backend"]
    items_per_call = "batch_size"

    def skip(self, benchmark, batch_size, tier, backend):
        if long_loop(benchmark, batch_size):
            return f"a store loop into IM or LTM above {LOOP_MAX} states repeats the one of {LOOP_MAX}"
        return duplicate_ltm(tier, backend)

    def prepare(self, batch_size, tier, backend):
        self.states = test_states(batch_size, COMPLEXITIES[0])
        self.steps = list(range(batch_size))
        self.system = self.new_system(backend, **roomy(batch_size))
        self.agents = fresh_agents()

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed", ops_per_call="batch_size")
    def time_store_loop(self, batch_size, tier, backend):
        """store_agent_state(..., tier=tier) per state."""
        store, agent = self.system.store_agent_state, next(self.agents)
        for step, state in zip(self.steps, self.states):
            store(agent, state, step, tier=tier)


    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed", ops_per_call=1)
    def time_store_batch(self, batch_size, tier, backend):
        """store_agent_states(..., tier=tier) for the whole batch."""
        self.system.store_agent_states(next(self.agents), self.states, self.steps, tier=tier)


class _ReadBase(SystemBenchmark):
    """READ_POOL memories stored directly into the tier; NUM_SAMPLES requests of batch_size ids."""

    ops_per_call = NUM_SAMPLES
    items_per_call = (NUM_SAMPLES, "batch_size")

    def skip(self, benchmark, batch_size, tier, backend):
        return duplicate_ltm(tier, backend)

    def prepare(self, batch_size, tier, backend):
        self.system = self.new_system(backend, **roomy(READ_POOL))
        self.load_requests(batch_size, tier)

    def load_requests(self, batch_size, tier):
        """Store READ_POOL states into `tier` of self.system and draw the NUM_SAMPLES requests."""
        states = test_states(READ_POOL, COMPLEXITIES[0])
        ids = self.system.store_agent_states(AGENT, states, list(range(READ_POOL)), tier=tier)
        # NUM_SAMPLES requests spread over the pool, each of batch_size distinct ids
        stride = 7919  # prime: a scattered but deterministic access pattern
        self.requests = []
        for i in range(NUM_SAMPLES):
            start = (i * stride) % READ_POOL
            self.requests.append([ids[(start + j) % READ_POOL] for j in range(batch_size)])
        self.single = [r[0] for r in self.requests]
        self.batch_size = batch_size
        # sanity: every id reads back (a broken read path must fail, not look fast)
        missing = sum(1 for m in self.system.retrieve_states(self.requests[0]) if m is None)
        if missing:
            raise AssertionError(f"{missing} of {batch_size} stored memories did not read back from {tier}")

    def _read_all(self):
        if self.batch_size == 1:
            get = self.system.retrieve_state
            for mid in self.single:
                get(mid)
        else:
            get_many = self.system.retrieve_states
            for ids in self.requests:
                get_many(ids)


class ReadLatency(_ReadBase):
    """Reading memories by id from one tier: one id (retrieve_state) or batches (retrieve_states)."""

    params = [READ_BATCHES, TIERS, BACKENDS]
    param_names = ["batch_size", "tier", "backend"]

    @metrics("single_read_latency_seconds", "batch_read_latency_seconds", "total_time_seconds")
    def time_read(self, batch_size, tier, backend):
        """NUM_SAMPLES reads of batch_size ids (batch_size 1: retrieve_state, else retrieve_states)."""
        self._read_all()


class ReadLatencyP95(_ReadBase):
    """Tail latency of reads: one id (retrieve_state) and batches of 100 (retrieve_states)."""

    params = [[1, READ_BATCHES[-1]], TIERS, BACKENDS]
    param_names = ["batch_size", "tier", "backend"]

    def prepare(self, batch_size, tier, backend):
        super().prepare(batch_size, tier, backend)
        self._read_all()  # a warm-up pass: warm caches the way time_read's repeats do

    @metrics("p95_latency_ms")
    @sampled
    def track_p95_latency_ms(self, batch_size, tier, backend):
        """95th percentile of the per-request latency, in milliseconds; one sample = one pass of the
        NUM_SAMPLES requests."""
        clock = time.perf_counter
        latencies = []
        if batch_size == 1:
            get = self.system.retrieve_state
            for mid in self.single:
                t0 = clock()
                get(mid)
                latencies.append(clock() - t0)
        else:
            get_many = self.system.retrieve_states
            for ids in self.requests:
                t0 = clock()
                get_many(ids)
                latencies.append(clock() - t0)
        return percentile(latencies, 95) * 1e3

    track_p95_latency_ms.unit = "ms"


#: A loop of single stores into LTM is one transaction per state (on PostgreSQL one round trip and one
#: commit): from 100 states on its cost per state is flat in the loop's length (PostgreSQL, loaded
#: machine: 3.5 and 3.65 ms a state at 100 and 1 000; a loop of 10 pays the new agent's first write on
#: top, 5.9), so LtmWriteThroughput loops at the smallest batch only (outside the full profile), where a
#: sample is short; time_store_batch runs every LTM batch.
LTM_LOOP_MAX = LTM_BATCHES[0]


class LtmWriteThroughput(SystemBenchmark):
    """Writing states directly into LTM, on each LTM backend (the SQLite file or PostgreSQL), after one
    warm-up store: the first write of an LTM agrees its compression dictionary, once per simulation."""

    params = [LTM_BATCHES, LTM_BACKENDS]
    param_names = ["batch_size", "ltm_backend"]
    items_per_call = "batch_size"

    def skip(self, benchmark, batch_size, ltm_backend):
        if benchmark == "time_store_loop" and batch_size > LTM_LOOP_MAX and PROFILE != "full":
            return f"a store loop into LTM costs one transaction per state, flat in its length; measured at {LTM_LOOP_MAX}"
        return None

    def prepare(self, batch_size, ltm_backend):
        self.states = test_states(batch_size, COMPLEXITIES[0])
        self.steps = list(range(batch_size))
        self.system = self.new_system("memory", ltm_backend=ltm_backend, **roomy(batch_size))
        self.system.store_agent_state(f"{AGENT}-warmup", self.states[0], 0, tier="ltm")
        self.agents = fresh_agents()

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed", ops_per_call="batch_size")
    def time_store_loop(self, batch_size, ltm_backend):
        """store_agent_state(..., tier="ltm") per state."""
        store, agent = self.system.store_agent_state, next(self.agents)
        for step, state in zip(self.steps, self.states):
            store(agent, state, step, tier="ltm")

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed", ops_per_call=1)
    def time_store_batch(self, batch_size, ltm_backend):
        """store_agent_states(..., tier="ltm") for the whole batch."""
        self.system.store_agent_states(next(self.agents), self.states, self.steps, tier="ltm")


class LtmReadLatency(_ReadBase):
    """Reading memories by id from LTM, on each LTM backend: one id (retrieve_state) or 10 (retrieve_states)."""

    params = [LTM_READ_BATCHES, LTM_BACKENDS]
    param_names = ["batch_size", "ltm_backend"]

    def skip(self, benchmark, batch_size, ltm_backend):
        return None

    def prepare(self, batch_size, ltm_backend):
        self.system = self.new_system("memory", ltm_backend=ltm_backend, **roomy(READ_POOL))
        self.load_requests(batch_size, "ltm")

    @metrics("single_read_latency_seconds", "batch_read_latency_seconds", "total_time_seconds")
    def time_read(self, batch_size, ltm_backend):
        """NUM_SAMPLES reads of batch_size ids from LTM (batch_size 1: retrieve_state, else retrieve_states)."""
        self._read_all()


class MemoryEfficiency(CachedBenchmark):
    """Bytes per memory and memories per MB, per tier, after storing EFFICIENCY_N states directly."""

    params = [TIERS, COMPLEXITIES]
    param_names = ["tier", "complexity"]
    items_per_call = EFFICIENCY_N

    def setup_cache(self):
        return self.compute_cache()

    def measure(self, tier, complexity):
        with fresh_system("memory", **roomy(EFFICIENCY_N)) as system:
            states = test_states(EFFICIENCY_N, complexity)
            system.store_agent_states(AGENT, states, list(range(EFFICIENCY_N)), tier=tier)
            stats = system.get_memory_statistics(AGENT)["tiers"][tier]
        count = max(1, int(stats["count"]))
        total = stats["stored_bytes"] + stats["embedding_bytes"]
        return {"stored": stats["stored_bytes"] / count, "embedding": stats["embedding_bytes"] / count,
                "total": float(total), "per_mb": 1e6 / (total / count) if total else 0.0}

    @metrics("stm_bytes_per_state", "im_bytes_per_state", "ltm_bytes_per_state")
    def track_stored_bytes_per_memory(self, cache, tier, complexity):
        """Content bytes as stored in the tier, per memory."""
        return self.value(cache, (tier, complexity), "stored")

    track_stored_bytes_per_memory.unit = "bytes"

    @metrics("embedding_bytes_per_state")
    def track_embedding_bytes_per_memory(self, cache, tier, complexity):
        """Embedding bytes kept by the tier, per memory."""
        return self.value(cache, (tier, complexity), "embedding")

    track_embedding_bytes_per_memory.unit = "bytes"

    @metrics("stm_size_bytes", "im_size_bytes", "ltm_size_bytes")
    def track_tier_bytes(self, cache, tier, complexity):
        """Total bytes (content + embeddings) the tier holds for EFFICIENCY_N memories."""
        return self.value(cache, (tier, complexity), "total")

    track_tier_bytes.unit = "bytes"

    @metrics("memories_per_mb")
    def track_memories_per_mb(self, cache, tier, complexity):
        """Memories per 10^6 bytes of stored content plus embeddings."""
        return self.value(cache, (tier, complexity), "per_mb")

    track_memories_per_mb.unit = "memories"


class BulkLoadMemory(SystemBenchmark):
    """Peak resident memory of the process while bulk-loading a batch into a fresh system."""

    params = [BATCH_SIZES, COMPLEXITIES]
    param_names = ["batch_size", "complexity"]
    items_per_call = "batch_size"

    def prepare(self, batch_size, complexity):
        self.states = test_states(batch_size, complexity)
        self.system = self.new_system("memory", **roomy(batch_size))

    @metrics("peak_memory_bytes")
    def peakmem_bulk_load(self, batch_size, complexity):
        """store_agent_states of batch_size states of the given complexity into STM."""
        self.system.store_agent_states(AGENT, self.states, list(range(batch_size)))
