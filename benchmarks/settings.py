"""The benchmark configuration of this process and the parameter values the suite's modules share.

``memory.benchmarking.config.BenchmarkConfig.from_env()`` (``AGENTMEMORY_BENCH_CONFIG``,
``AGENTMEMORY_BENCH_PROFILE``): its grids become the classes' ``params``, its profile sets asv's
timing attributes (:class:`benchmarks.lifecycle.Benchmark`).  Read once, at import.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List

from memory.benchmarking.config import BenchmarkConfig

CONFIG: BenchmarkConfig = BenchmarkConfig.from_env()
PROFILE: str = CONFIG.profile
TIMING: Dict[str, Any] = CONFIG.timing()

BACKENDS: List[str] = ["memory", "redis"]
#: Where LTM lives in the LTM-backend benchmarks (their ``ltm_backend`` parameter): the SQLite file, or a
#: PostgreSQL server (``AGENTMEMORY_BENCH_POSTGRES_URL``; skipped when none answers).
LTM_BACKENDS: List[str] = ["sqlite", "postgres"]
TIERS: List[str] = ["stm", "im", "ltm"]
SEARCH_TIERS: List[str] = ["stm", "im", "ltm", "all"]

#: A cleanup interval no benchmark reaches, so transitions happen only when a benchmark forces them.
NO_AUTO_CLEANUP = 1 << 30


def sorted_unique(values: Iterable[Any]) -> List[Any]:
    return sorted(set(values))


#: The largest batch an LTM-backend benchmark writes or moves outside the full profile: PostgreSQL takes a
#: batch of 128 rows or more in one binary COPY, so 1 000 measures that path, at a tenth of the time of
#: 10 000 (a 10 000-memory move and its setup cost ~1.5 s a sample on PostgreSQL).
LTM_BATCH_MAX = 1000


def ltm_batches(batch_sizes: Iterable[int]) -> List[int]:
    """The batch sizes of the LTM-backend benchmarks: the smallest (on PostgreSQL one INSERT) and the
    largest up to LTM_BATCH_MAX (one COPY); all of them in the full profile.  Keeps their share of a run small."""
    sizes = sorted_unique(batch_sizes)
    if PROFILE == "full":
        return sizes
    return sorted_unique([sizes[0], max([b for b in sizes if b <= LTM_BATCH_MAX] or sizes[:1])])


def roomy(n: int) -> Dict[str, int]:
    """System options whose STM and IM hold `n` memories (at least 1 000) without any transition."""
    room = max(int(n), 1000) + 1
    return {"stm_limit": room, "im_limit": room, "cleanup_interval": NO_AUTO_CLEANUP}
