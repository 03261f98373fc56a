"""The seed's storage benchmark as a plain function: ``benchmark_write_throughput``.

    from memory.benchmarking.benchmarks.storage import benchmark_write_throughput
    results = benchmark_write_throughput(batch_sizes=[10, 100], data_complexity_levels=[1])
    results["complexity_1"]["batch_100"]["throughput_ops_per_second"]

The states are the asv suite's (``benchmarks/workloads.py``: the seed's ``generate_test_state``), so
it runs from a source checkout, like the suite.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional

#: The asv suite's workload generators in the source tree this package belongs to.
SUITE_WORKLOADS = Path(__file__).resolve().parents[3] / "benchmarks" / "workloads.py"


@functools.lru_cache(maxsize=None)
def suite_workloads() -> ModuleType:
    """benchmarks/workloads.py of this checkout, loaded by path: the one ``generate_test_state`` of
    the project (the seed's state shape), shared with the asv suite and the tests.  That module
    imports only the standard library, and loading it by path keeps any other ``benchmarks``
    package on sys.path out of the way."""
    if not SUITE_WORKLOADS.is_file():
        raise FileNotFoundError(f"the asv suite's workload generators are not at {SUITE_WORKLOADS}: "
                                "the plain-function benchmarks run from a source checkout")
    spec = importlib.util.spec_from_file_location("agentmemory_suite_workloads", SUITE_WORKLOADS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_write_throughput(batch_sizes: Optional[List[int]] = None,
                               data_complexity_levels: Optional[List[int]] = None,
                               **kwargs: Any) -> Dict[str, Any]:
    """Write throughput of store_agent_state into STM, per complexity and batch size.

    Args:
        batch_sizes: batch sizes to test (default [10, 100, 1000, 10000])
        data_complexity_levels: state complexity levels to test (default [1, 5, 10])

    Returns:
        ``{"complexity_<c>": {"batch_<n>": {"throughput_ops_per_second", "total_time_seconds",
        "items_processed"}}}``
    """
    from memory import AgentMemorySystem, MemoryConfig

    batch_sizes = batch_sizes or [10, 100, 1000, 10000]
    data_complexity_levels = data_complexity_levels or [1, 5, 10]
    results: Dict[str, Any] = {}
    for complexity in data_complexity_levels:
        complexity_results: Dict[str, Any] = {}
        for batch_size in batch_sizes:
            with tempfile.TemporaryDirectory(prefix="agentmemory-bench-") as folder:
                config = MemoryConfig()
                config.ltm_config.db_path = os.path.join(folder, f"benchmark_ltm_{complexity}_{batch_size}.db")
                config.stm_config.memory_limit = max(config.stm_config.memory_limit, batch_size + 1)
                # the states asv's storage.WriteThroughput stores for the same batch size and complexity
                test_states = suite_workloads().test_states(batch_size, complexity)
                with AgentMemorySystem(config) as memory_system:
                    start = time.perf_counter()
                    for i, state in enumerate(test_states):
                        memory_system.store_agent_state(agent_id="benchmark_agent", state_data=state, step_number=i)
                    execution_time = time.perf_counter() - start
            complexity_results[f"batch_{batch_size}"] = {
                "throughput_ops_per_second": batch_size / execution_time if execution_time > 0 else 0.0,
                "total_time_seconds": execution_time,
                "items_processed": batch_size,
            }
        results[f"complexity_{complexity}"] = complexity_results
    return results
