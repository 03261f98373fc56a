"""The documented benchmarking API over the asv suite: config, runner, results, reports, compare.

Light on import: pandas, matplotlib and asv are imported only by the modules that need them.

    from memory.benchmarking.config import BenchmarkConfig
    from memory.benchmarking.results import BenchmarkResults
    from memory.benchmarking.runner import BenchmarkRunner
"""

from __future__ import annotations

from .config import (CATEGORIES, PROFILES, BenchmarkConfig, CompressionConfig, IntegrationConfig,
                     MemoryTransitionConfig, RetrievalConfig, ScalabilityConfig, StorageConfig)

__all__ = [
    "BenchmarkConfig", "StorageConfig", "CompressionConfig", "MemoryTransitionConfig", "RetrievalConfig",
    "ScalabilityConfig", "IntegrationConfig", "CATEGORIES", "PROFILES", "BenchmarkResults", "BenchmarkRunner",
]


def __getattr__(name: str):
    # BenchmarkResults pulls pandas/matplotlib and BenchmarkRunner pulls asv helpers: load them lazily.
    if name == "BenchmarkResults":
        from .results import BenchmarkResults
        return BenchmarkResults
    if name == "BenchmarkRunner":
        from .runner import BenchmarkRunner
        return BenchmarkRunner
    raise AttributeError(f"module 'memory.benchmarking' has no attribute {name!r}")
