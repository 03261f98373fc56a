"""Seeded workload generators of the asv suite: the states every benchmark stores, searches and trains on.

APPEND-ONLY.  Changing a generator changes history: every result stored so far was measured on the
states these functions return, and a benchmark fed different states is a different measurement
under the same name (asv does not notice: its version covers the benchmark's own source, not this
module).  Add a new generator (or a new seed) instead of editing one; fix a bug in one only together
with a note that the series of the benchmarks using it restart at that commit.

Everything here is pure: ``random.Random`` instances seeded from the arguments, no clock, no
``memory`` import, no Redis, no configuration -- tests and scripts import this module for the
suite's states without importing the suite.  ``memory/benchmarking/benchmarks/storage.py`` loads it
by path for the plain-function benchmark.

* :func:`generate_test_state` -- the seed's synthetic agent state of variable complexity;
  :func:`test_states` -- `n` of them, memoised;
* :func:`clustered_states` -- states in clusters of three categories, with their labels;
  :func:`category_states` -- clustered states of one category.
"""

from __future__ import annotations

import functools
import gc
import random
from typing import Any, Dict, List, Optional, Tuple

CATEGORIES: List[str] = ["navigation", "inventory", "social"]
STATUSES = ("active", "idle", "planning", "executing")
ITEMS = ("item1", "item2", "item3", "item4", "item5")
BASE_TIME = 1_700_000_000.0  # fixed epoch for generated timestamps (seeded, reproducible)


@functools.lru_cache(maxsize=None)
def _state_names(complexity: int) -> Tuple[Tuple[str, ...], Tuple[Tuple[str, Tuple[str, ...]], ...]]:
    """The deterministic strings of a state of this complexity: attribute keys, goal ids and subgoals."""
    attrs = tuple(f"attr_{i}" for i in range(complexity * 10))
    goals = tuple((f"goal_{i}", tuple(f"subgoal_{i}_{j}" for j in range(complexity))) for i in range(complexity * 2))
    return attrs, goals


def generate_test_state(complexity: int = 1, rng: Optional[random.Random] = None, step: int = 0) -> Dict[str, Any]:
    """The seed's synthetic agent state, with variable complexity, drawn from `rng`.

    Keys: position (complexity*3 floats), inventory (complexity*5 of item1..item5), attributes
    (complexity*10 ``attr_i`` floats), goals (complexity*2 dicts with id, priority, progress and
    ``complexity`` subgoals), timestamp, step_count and status. Every call returns new containers.
    """
    rng = rng if rng is not None else random.Random(0)
    rand = rng.random
    attrs, goals = _state_names(complexity)
    return {
        "position": [rand() for _ in range(complexity * 3)],
        "inventory": [ITEMS[int(rand() * 5)] for _ in range(complexity * 5)],
        "attributes": {key: rand() for key in attrs},
        "goals": [{"id": gid, "priority": rand(), "progress": rand(), "subgoals": list(subgoals)}
                  for gid, subgoals in goals],
        "timestamp": BASE_TIME + step,
        "step_count": rng.randint(1, 1000),
        "status": STATUSES[int(rand() * 4)],
    }


@functools.lru_cache(maxsize=32)
def test_states(n: int, complexity: int = 1, seed: int = 0) -> Tuple[Dict[str, Any], ...]:
    """`n` seeded :func:`generate_test_state` states (memoised per process; treat as read-only)."""
    rng = random.Random(f"states-{seed}-{complexity}")
    # Without the collector: 10 000 states of complexity 10 are ~10^6 new containers, and the
    # collections they trigger cost twice the generation itself (1.0 s instead of 0.35 s, paid in
    # every benchmark process that needs them).  Nothing here forms a reference cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return tuple(generate_test_state(complexity, rng, step=i) for i in range(n))
    finally:
        if enabled:
            gc.enable()


_TERRAINS = ("forest", "desert", "river", "mountain", "city", "swamp", "plains", "cave")
_MOODS = ("friendly", "hostile", "curious", "afraid", "bored", "excited", "sad", "calm")
_TOPICS = ("trade", "weather", "quest", "rumour", "alliance", "threat", "gossip", "help")


def _cluster_prototype(category: str, cluster: int) -> Dict[str, Any]:
    rng = random.Random(f"proto-{category}-{cluster}")
    if category == "navigation":
        return {
            "kind": "navigation", "zone": f"zone_{cluster}", "terrain": _TERRAINS[cluster % len(_TERRAINS)],
            "position": [rng.uniform(-100, 100), rng.uniform(-100, 100)],
            "velocity": [rng.uniform(-2, 2), rng.uniform(-2, 2)], "heading": rng.uniform(0, 360),
            "waypoints": [f"wp_{cluster}_{j}" for j in range(4)],
        }
    if category == "inventory":
        return {
            "kind": "inventory", "shop": f"shop_{cluster}",
            "items": {f"good_{cluster}_{j}": rng.randint(1, 20) for j in range(5)},
            "gold": rng.uniform(0, 1000), "capacity": rng.randint(10, 50), "weight": rng.uniform(1, 100),
        }
    if category == "social":
        return {
            "kind": "social", "partner": f"agent_{cluster}", "mood": _MOODS[cluster % len(_MOODS)],
            "topic": _TOPICS[(cluster * 3) % len(_TOPICS)], "trust": rng.random(),
            "relationship": rng.uniform(-1, 1),
            "messages": [f"msg_{cluster}_{j}" for j in range(3)],
        }
    raise ValueError(f"unknown category {category!r}")


def _jitter(value: Any, rng: random.Random, noise: float) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return value + rng.gauss(0.0, noise * (abs(value) + 1.0))
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return [_jitter(v, rng, noise) for v in value]
    if isinstance(value, dict):
        return {k: _jitter(v, rng, noise) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=32)
def clustered_states(n: int, categories: Tuple[str, ...] = tuple(CATEGORIES), clusters_per_category: int = 4,
                     seed: int = 0, noise: float = 0.05) -> Tuple[Tuple[Dict[str, Any], ...], Tuple[str, ...]]:
    """`n` states in ``len(categories) * clusters_per_category`` clusters, with their labels.

    Each cluster is a prototype state of one category (navigation, inventory, social) with its own
    tokens and numbers; members jitter the numbers by `noise` (relative) and, one time in ten, swap
    one list token.  Labels are ``"<category>/<cluster>"``, assigned round-robin.
    """
    rng = random.Random(f"clusters-{seed}-{n}-{noise}")
    labels: List[str] = []
    states: List[Dict[str, Any]] = []
    keys = [(c, k) for k in range(clusters_per_category) for c in categories]
    for i in range(n):
        category, cluster = keys[i % len(keys)]
        state = _jitter(_cluster_prototype(category, cluster), rng, noise)
        if rng.random() < 0.1:
            for key in ("waypoints", "messages"):
                if key in state:
                    state[key][rng.randrange(len(state[key]))] = f"tok_{rng.randrange(1000)}"
        states.append(state)
        labels.append(f"{category}/{cluster}")
    return tuple(states), tuple(labels)


def category_states(category: str, n: int, seed: int = 0) -> Tuple[Dict[str, Any], ...]:
    """`n` clustered states of one category (for per-category compression quality)."""
    states, _ = clustered_states(n, (category,), 4, seed)
    return states
