"""Quick core figures without asv: store, batch store, read and search speed.

    python scripts/perf_core.py                      # the embedded backend
    python scripts/perf_core.py --redis redis://127.0.0.1:6379/0   # STM/IM on that Redis server

The asv suite (benchmarks/) is the record; this prints the headline numbers in a few seconds.
On Redis it writes under a namespace of its own and clears it when done.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import test_states  # noqa: E402  (the suite's seeded generate_test_state)
from memory import AgentMemorySystem, MemoryConfig  # noqa: E402
from memory.config import redact  # noqa: E402  (never print a password)
from memory.embeddings.encoder import NATIVE_WALK  # noqa: E402


def make_config(redis_url: Optional[str], stm_limit: int = 1000) -> MemoryConfig:
    """Default config (STM limit `stm_limit`), on Redis when a URL is given (in a namespace of its own)."""
    config = MemoryConfig()
    config.stm_config.memory_limit = stm_limit
    if redis_url:
        config.backend, config.redis_url = "redis", redis_url
        config.namespace = f"perfcore-{os.getpid()}"
    return config


def loop_rate(config: MemoryConfig, states, n: int) -> float:
    """States per second of a store_agent_state loop into a fresh system (built before the clock starts)."""
    with AgentMemorySystem(config) as system:
        try:
            start = time.perf_counter()
            for step, state in enumerate(states[:n]):
                system.store_agent_state("a", state, step)
            return n / (time.perf_counter() - start)
        finally:
            system.clear_all_memories()


def batch_rate(config: MemoryConfig, states, n: int) -> float:
    """States per second of one store_agent_states call into a fresh system (built before the clock starts)."""
    batch = list(states[:n])
    with AgentMemorySystem(config) as system:
        try:
            start = time.perf_counter()
            system.store_agent_states("a", batch)
            return n / (time.perf_counter() - start)
        finally:
            system.clear_all_memories()


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", metavar="URL", help="run STM/IM on this Redis server")
    args = parser.parse_args(argv)
    config = make_config(args.redis)
    c1, c5 = test_states(10000, 1), test_states(1000, 5)
    print(f"backend:                             {'redis ' + redact(args.redis) if args.redis else 'memory (embedded)'}")
    print(f"compiled encoder (C speedups):       {'yes' if NATIVE_WALK else 'no (Python fallback)'}")
    print(f"store_agent_state c1, 1000:          {max(loop_rate(config, c1, 1000) for _ in range(5)):9.0f} states/s")
    print(f"store_agent_state c1, 10000 (moves): {max(loop_rate(config, c1, 10000) for _ in range(2)):9.0f} states/s")
    print(f"store_agent_state c5, 1000:          {max(loop_rate(config, c5, 1000) for _ in range(5)):9.0f} states/s")
    print(f"store_agent_states c1, 1000:         {max(batch_rate(config, c1, 1000) for _ in range(5)):9.0f} states/s")
    print(f"store_agent_states c5, 1000:         {max(batch_rate(config, c5, 1000) for _ in range(5)):9.0f} states/s")
    with AgentMemorySystem(make_config(args.redis, stm_limit=20000)) as system:
        try:
            ids = system.store_agent_states("a", list(c1))
            reads = []
            for mid in ids[:2000]:
                start = time.perf_counter()
                system.retrieve_state(mid)
                reads.append(time.perf_counter() - start)
            queries = test_states(300, 1, seed=1)
            searches = []
            for query in queries:
                start = time.perf_counter()
                system.retrieve_similar_states("a", query, k=10, tier="stm")
                searches.append(time.perf_counter() - start)
        finally:
            system.clear_all_memories()
    print(f"retrieve_state p50:                  {statistics.median(reads) * 1e6:9.2f} µs")
    print(f"search k=10 over 10000 STM p50:      {statistics.median(searches) * 1e3:9.3f} ms")


if __name__ == "__main__":
    main()
