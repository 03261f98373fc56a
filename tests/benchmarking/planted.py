"""Planted result files for compare/report tests (the documented format, written by BenchmarkResults)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from memory.benchmarking.results import BenchmarkResults

BATCHES = (10, 100, 1000)


def write_run(folder: Path, factor: float = 1.0, ci_width: Optional[float] = None,
              timestamp: str = "20250323_145623") -> str:
    """A storage/write_throughput run whose throughput is `factor` times the reference; with
    `ci_width`, asv-like 99% intervals of ± that fraction around each value."""
    results, stats = {}, {}
    for complexity in (1, 5):
        level = {}
        for batch in BATCHES:
            throughput = 1000.0 * factor / complexity
            seconds = batch / throughput
            level[f"batch_{batch}"] = {"throughput_ops_per_second": throughput, "total_time_seconds": seconds,
                                       "items_processed": batch}
            if ci_width is not None:
                stats[f"complexity_{complexity}/batch_{batch}"] = {
                    "throughput_ops_per_second": {"ci_99": [throughput * (1 - ci_width), throughput * (1 + ci_width)]},
                    "total_time_seconds": {"ci_99": [seconds * (1 - ci_width), seconds * (1 + ci_width)]},
                }
        results[f"complexity_{complexity}"] = level
    metadata = {"execution_time": 1.5, "params": {"batch_sizes": list(BATCHES), "data_complexity_levels": [1, 5]},
                "asv_params": {"batch_size": list(BATCHES), "complexity": [1, 5]},
                "param_keys": {"batch_size": "batch", "complexity": "complexity"}, "stats": stats}
    return BenchmarkResults(str(folder)).save_result("write_throughput", "storage", results, metadata,
                                                     timestamp=timestamp)
