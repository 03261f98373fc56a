"""Shared fixtures: a fresh system per test, and the seed's state generator (seeded)."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: benchmarks/ for the generator

from benchmarks.workloads import generate_test_state  # noqa: E402
from config_overrides import apply_overrides  # noqa: E402
from memory import AgentMemorySystem, MemoryConfig  # noqa: E402

# the Redis fixtures (redis_url, redis_cluster_url, backend, ...) once per session: a test file that
# star-imported them got its own copy of every session fixture, so the cluster started once per file
pytest_plugins = ["redis_fixtures", "postgres_fixtures"]


def make_state(complexity: int = 1, rng: random.Random | None = None) -> dict[str, Any]:
    """A state from the seed's generate_test_state(complexity) (the suite's own generator)."""
    return generate_test_state(complexity, rng or random.Random(0))


@pytest.fixture
def states() -> Callable[..., list[dict]]:
    """states(n, complexity=1, seed=0) → n seeded seed-shaped states."""
    def build(n: int, complexity: int = 1, seed: int = 0) -> list[dict]:
        r = random.Random(seed)
        return [make_state(complexity, r) for _ in range(n)]
    return build


@pytest.fixture
def make_system(tmp_path) -> Iterator[Callable[..., AgentMemorySystem]]:
    """make_system(**config fields or 'stm_limit'/'im_limit'/…) → a fresh system, closed after the test."""
    built: list[AgentMemorySystem] = []

    def build(config: MemoryConfig | None = None, *, stm_limit: int | None = None, im_limit: int | None = None,
              ltm_limit: int | None = None, cleanup_interval: int | None = None, db_path: str | None = None,
              **fields: Any) -> AgentMemorySystem:
        config = apply_overrides(config or MemoryConfig(**fields), stm_limit=stm_limit, im_limit=im_limit,
                                 ltm_limit=ltm_limit, cleanup_interval=cleanup_interval, db_path=db_path)
        system = AgentMemorySystem(config)
        built.append(system)
        return system

    yield build
    for system in built:
        system.close()


@pytest.fixture
def system(make_system) -> AgentMemorySystem:
    """A fresh system with the default config."""
    return make_system()
