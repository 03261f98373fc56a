"""The seed's storage benchmark as a plain function: ``benchmark_write_throughput``.

    from memory.benchmarking.benchmarks.storage import benchmark_write_throughput
    results = benchmark_write_throughput(batch_sizes=[10, 100], data_complexity_levels=[1])
    results["complexity_1"]["batch_100"]["throughput_ops_per_second"]
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from typing import Any, Dict, List, Optional


def generate_test_state(complexity: int = 1, rng: Optional[random.Random] = None) -> Dict[str, Any]:
    """A synthetic agent state whose size grows with `complexity` (seeded when `rng` is given)."""
    rng = rng or random.Random(0)
    state: Dict[str, Any] = {
        "position": {"x": rng.uniform(-100, 100), "y": rng.uniform(-100, 100)},
        "health": rng.uniform(0, 100),
        "energy": rng.uniform(0, 100),
        "status": rng.choice(["active", "idle", "planning", "executing"]),
    }
    for i in range(max(0, complexity - 1)):
        state[f"attribute_{i}"] = {"value": rng.uniform(0, 1), "items": [rng.randint(0, 9) for _ in range(5)],
                                   "label": f"item{rng.randint(1, 5)}"}
    return state


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
                rng = random.Random(complexity * 1_000_003 + batch_size)
                test_states = [generate_test_state(complexity, rng) for _ in range(batch_size)]
                memory_system = AgentMemorySystem(config)
                try:
                    start = time.perf_counter()
                    for i, state in enumerate(test_states):
                        memory_system.store_agent_state(agent_id="benchmark_agent", state_data=state, step_number=i)
                    execution_time = time.perf_counter() - start
                finally:
                    close = getattr(memory_system, "close", None)
                    if callable(close):
                        close()
            complexity_results[f"batch_{batch_size}"] = {
                "throughput_ops_per_second": batch_size / execution_time if execution_time > 0 else 0.0,
                "total_time_seconds": execution_time,
                "items_processed": batch_size,
            }
        results[f"complexity_{complexity}"] = complexity_results
    return results
