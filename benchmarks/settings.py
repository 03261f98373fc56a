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
TIERS: List[str] = ["stm", "im", "ltm"]
SEARCH_TIERS: List[str] = ["stm", "im", "ltm", "all"]

#: A cleanup interval no benchmark reaches, so transitions happen only when a benchmark forces them.
NO_AUTO_CLEANUP = 1 << 30


def sorted_unique(values: Iterable[Any]) -> List[Any]:
    return sorted(set(values))


def roomy(n: int) -> Dict[str, int]:
    """System options whose STM and IM hold `n` memories (at least 1 000) without any transition."""
    room = max(int(n), 1000) + 1
    return {"stm_limit": room, "im_limit": room, "cleanup_interval": NO_AUTO_CLEANUP}
