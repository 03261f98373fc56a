"""Planted result files for compare/report tests (the documented format, written by BenchmarkResults)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Optional

from memory.benchmarking.results import BenchmarkResults

BATCHES = (10, 100, 1000)


def timing_samples(median: float, spread: float, n: int, seed: str) -> list:
    """`n` seeded samples around `median`, each off by up to ± `spread` (a fraction), median exact."""
    rng = random.Random(seed)
    offsets = sorted(rng.uniform(-spread, spread) for _ in range(n))
    middle = offsets[n // 2] if n % 2 else (offsets[n // 2 - 1] + offsets[n // 2]) / 2
    return [median * (1 + o - middle) for o in offsets]


def write_run(folder: Path, factor: float = 1.0, spread: Optional[float] = 0.02, samples: int = 6,
              timestamp: str = "20250323_145623", profile: str = "default", seed: str = "a",
              interleaved_run: Optional[str] = "planted-pair") -> str:
    """A storage/write_throughput run whose throughput is `factor` times the reference, each timing
    with `samples` samples within ± `spread` of its median (spread None: no samples, as a user's own
    benchmark function writes), marked as measured with `profile` and as one side of the interleaved
    measurement `interleaved_run` (None: a run of its own, as ``cli run`` writes)."""
    results, stats = {}, {}
    for complexity in (1, 5):
        level = {}
        for batch in BATCHES:
            throughput = 1000.0 * factor / complexity
            seconds = batch / throughput
            level[f"batch_{batch}"] = {"throughput_ops_per_second": throughput, "total_time_seconds": seconds,
                                       "items_processed": batch}
            if spread is not None:
                times = timing_samples(seconds, spread, samples, f"{seed}-{complexity}-{batch}")
                stats[f"complexity_{complexity}/batch_{batch}"] = {
                    "total_time_seconds": {"samples": times, "n": len(times)},
                    "throughput_ops_per_second": {"samples": [batch / t for t in times], "n": len(times)},
                }
        results[f"complexity_{complexity}"] = level
    metadata = {"execution_time": 1.5, "params": {"batch_sizes": list(BATCHES), "data_complexity_levels": [1, 5]},
                "asv_params": {"batch_size": list(BATCHES), "complexity": [1, 5]},
                "param_keys": {"batch_size": "batch", "complexity": "complexity"}, "stats": stats,
                "profile": profile,
                "metric_kinds": {"total_time_seconds": "timing", "throughput_ops_per_second": "timing"},
                "derived_metrics": {"throughput_ops_per_second": "total_time_seconds"}}
    if interleaved_run:
        metadata["interleaved_run"] = interleaved_run
    return BenchmarkResults(str(folder)).save_result("write_throughput", "storage", results, metadata,
                                                     timestamp=timestamp)


def write_quality_run(folder: Path, recall: float = 1.0, stored_bytes: float = 487.0,
                      timestamp: str = "20250323_145623") -> str:
    """A retrieval/search_recall run with one deterministic recall and one size metric."""
    results = {"tier_stm": {"k_10": {"recall": recall, "stored_bytes_per_memory": stored_bytes}}}
    metadata = {"metric_kinds": {"recall": "deterministic", "stored_bytes_per_memory": "deterministic"},
                "profile": "default"}
    return BenchmarkResults(str(folder)).save_result("search_recall", "retrieval", results, metadata,
                                                     timestamp=timestamp)
