"""Shared fixtures: a fresh system per test, and the seed's state generator (seeded)."""

from __future__ import annotations

import random
from typing import Any, Callable, Iterator

import pytest

from config_overrides import apply_overrides
from memory import AgentMemorySystem, MemoryConfig


def make_state(complexity: int = 1, rng: random.Random | None = None) -> dict[str, Any]:
    """A state shaped like the seed's generate_test_state(complexity)."""
    r = rng or random.Random(0)
    return {
        "position": [r.random() for _ in range(complexity * 3)],
        "inventory": [r.choice(["item1", "item2", "item3", "item4", "item5"]) for _ in range(complexity * 5)],
        "attributes": {f"attr_{i}": r.random() for i in range(complexity * 10)},
        "goals": [{"id": f"goal_{i}", "priority": r.random(), "progress": r.random(),
                   "subgoals": [f"subgoal_{i}_{j}" for j in range(complexity)]} for i in range(complexity * 2)],
        "timestamp": 1_700_000_000.0 + r.random() * 1000,
        "step_count": r.randint(1, 1000),
        "status": r.choice(["active", "idle", "planning", "executing"]),
    }


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
