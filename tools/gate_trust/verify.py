"""verify: each planted change measured directly, without the CLI or asv. The unpatched and the
patched ``memory`` package are imported side by side in one process, each from its own worktree of
the scratch clone; a slowdown is timed as alternating chunk pairs of the operation it targets
(Workload), the recall drop as recall@k against exact search, the LTM change as stored bytes (with
the contents read back); one line per change is printed and the results are written as JSON."""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib.util
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .clone import add_worktree, prepare_planted
from .context import Context
from .planted import CHANGES
from .shell import EXIT_OK, HarnessError, Shell, git

AGENT = "gate_trust_agent"
_STATUSES = ("idle", "moving", "gathering", "fighting")
_ITEMS = ("item1", "item2", "item3", "item4", "item5")


def sample_state(rng: random.Random, step: int, complexity: int = 1) -> Dict[str, Any]:
    """A state shaped like the suite's ``generate_test_state(complexity)`` (seeded)."""
    c = complexity
    return {"position": [rng.random() for _ in range(3 * c)],
            "inventory": [_ITEMS[int(rng.random() * 5)] for _ in range(5 * c)],
            "attributes": {f"attr_{i}": rng.random() for i in range(10 * c)},
            "goals": [{"id": f"goal_{g}", "priority": rng.random(), "progress": rng.random(),
                       "subgoals": [f"subgoal_{g}_{j}" for j in range(c)]} for g in range(2 * c)],
            "timestamp": 1_700_000_000 + step, "step_count": rng.randint(1, 1000),
            "status": _STATUSES[int(rng.random() * 4)]}


def sample_states(n: int, seed: int = 0, complexity: int = 1) -> List[Dict[str, Any]]:
    """`n` seeded sample states."""
    rng = random.Random(seed)
    return [sample_state(rng, i, complexity) for i in range(n)]


def load_memory_package(alias: str, tree: Path) -> ModuleType:
    """Import ``<tree>/memory`` as a package named `alias` (its relative imports stay inside it), so an
    unpatched and a patched copy can be timed side by side in one process."""
    if alias in sys.modules:
        return sys.modules[alias]
    root = Path(tree) / "memory"
    spec = importlib.util.spec_from_file_location(alias, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None:
        raise HarnessError(f"cannot import {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    module.AgentMemorySystem  # noqa: B018 - import the (lazily loaded) system module now, from this tree
    return module


def new_system(pkg: ModuleType, room: int, im_limit: Optional[int] = None) -> Any:
    """A system of `pkg` holding `room` memories in STM (and IM, unless `im_limit`) without automatic
    maintenance."""
    config = pkg.MemoryConfig()
    config.stm_config.memory_limit = config.im_config.memory_limit = max(room, 1000) + 1
    if im_limit is not None:
        config.im_config.memory_limit = im_limit
    config.cleanup_interval = 1 << 30
    return pkg.AgentMemorySystem(config)


class Workload:
    """One system of one version of the code, and a chunk of the operation a slowdown targets; `chunk()`
    runs it once. Base and patched workloads are timed chunk by chunk, alternately."""

    def __init__(self, name: str, pkg: ModuleType, states: Sequence[dict], size: Optional[int] = None) -> None:
        self.name, self.pkg, self.states = name, pkg, list(states)
        self.size = size or CHUNK[name]
        self.stores = name.startswith("store")
        # store workloads write into a fresh system every `room` states (bounded memory, no STM overflow)
        self.room = max(self.size, len(self.states), STORE_ROOM) if self.stores else len(self.states)
        self.system = new_system(pkg, self.room)
        self.step = self.held = 0
        if not self.stores:
            self.ids = self.system.store_agent_states(AGENT, self.states, list(range(len(self.states))))
        self.chunk = getattr(self, "_" + name)

    def prepare(self) -> None:
        """Before a timed chunk (untimed): a fresh system when the next stores would not fit."""
        if self.stores and self.held + self.size > self.room:
            self.system.close()
            self.system, self.held = new_system(self.pkg, self.room), 0
        self.held += self.size if self.stores else 0

    def _next_states(self) -> Tuple[List[dict], int]:
        """The next `size` states (cycling through the sample) and the step of the first."""
        n = len(self.states)
        start, self.step = self.step, self.step + self.size
        return [self.states[(start + i) % n] for i in range(self.size)], start

    def _store_single(self) -> None:
        """`size` store_agent_state calls."""
        states, step = self._next_states()
        store = self.system.store_agent_state
        for i, state in enumerate(states):
            store(AGENT, state, step + i)

    def _store_batch(self) -> None:
        """One store_agent_states call of `size` states."""
        states, step = self._next_states()
        self.system.store_agent_states(AGENT, states, list(range(step, step + self.size)))

    def _retrieve(self) -> None:
        """`size` retrieve_state calls over the preloaded ids."""
        get, ids, start = self.system.retrieve_state, self.ids, self.step
        self.step += self.size
        for i in range(start, start + self.size):
            get(ids[(i * 7919) % len(ids)])

    def _search(self) -> None:
        """`size` STM searches (k=10) over the preloaded states."""
        search, states, start = self.system.retrieve_similar_states, self.states, self.step
        self.step += self.size
        for i in range(start, start + self.size):
            search(AGENT, states[(i * 7919) % len(states)], k=10, tier="stm")

    def close(self) -> None:
        """Close the system (its temporary LTM file goes)."""
        self.system.close()


#: States a store workload's system holds before it is replaced (untimed).
STORE_ROOM = 5000
#: Operations per timed chunk: ~0.5-2 ms each, short enough that the two sides of a pair see the same load.
CHUNK = {"store_single": 50, "store_batch": 100, "retrieve": 200, "search": 5}


def paired_times(name: str, base: ModuleType, patched: ModuleType, states: Sequence[dict],
                 pairs: int, chunk: Optional[int] = None) -> Tuple[List[float], List[float]]:
    """(base seconds, patched seconds) of `pairs` chunk pairs, the two sides back to back (order
    flipped every pair), so load from other processes hits both alike."""
    sides = {"base": Workload(name, base, states, chunk), "patched": Workload(name, patched, states, chunk)}
    times: Dict[str, List[float]] = {"base": [], "patched": []}
    clock = time.perf_counter
    try:
        for side in sides.values():  # warm-up
            side.prepare()
            side.chunk()
        gc.collect()
        for r in range(pairs):
            for label in (("base", "patched") if r % 2 == 0 else ("patched", "base")):
                sides[label].prepare()
                t0 = clock()
                sides[label].chunk()
                times[label].append(clock() - t0)
    finally:
        for side in sides.values():
            side.close()
    return times["base"], times["patched"]


def measure_slowdown(name: str, base: ModuleType, patched: ModuleType, n: int = 1000, pairs: int = 200,
                     complexity: int = 1, chunk: Optional[int] = None) -> Dict[str, Any]:
    """Time ratio patched / base of one slowdown change over `n` states: the median of the per-pair
    ratios (the estimate), the ratio of medians and of minima (checks)."""
    base_t, patched_t = paired_times(name, base, patched, sample_states(n, complexity=complexity), pairs, chunk)
    return {"change": name, "n": n, "complexity": complexity, "pairs": pairs, "chunk": chunk or CHUNK[name],
            "base_median_s": statistics.median(base_t), "patched_median_s": statistics.median(patched_t),
            "paired_ratio": statistics.median(p / b for b, p in zip(base_t, patched_t)),
            "ratio": statistics.median(patched_t) / statistics.median(base_t),
            "min_ratio": min(patched_t) / min(base_t), "expected": 1.25}


def exact_top_k(system: Any, states: Sequence[dict], ids: Sequence[str], queries: Sequence[dict],
                k: int) -> List[List[str]]:
    """Per query, the ids of the exact top-k by cosine of the STM state vectors (brute force, float64)."""
    import numpy as np

    encoder = system.get_encoder("stm")
    x = np.asarray(encoder.encode_states(list(states)), dtype=np.float64)
    q = np.asarray(encoder.encode_states(list(queries)), dtype=np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    order = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


def recall_at_k(pkg: ModuleType, states: Sequence[dict], queries: Sequence[dict], k: int = 10) -> float:
    """Mean |hits ∩ exact top-k| / k of STM searches of `queries` over `states`."""
    with new_system(pkg, len(states)) as system:
        ids = system.store_agent_states(AGENT, list(states), list(range(len(states))))
        exact = exact_top_k(system, states, ids, queries, k)
        hits = 0
        for query, truth in zip(queries, exact):
            got = {m["memory_id"] for m in system.retrieve_similar_states(AGENT, query, k=k, tier="stm")}
            hits += len(got & set(truth))
        return hits / (k * len(queries))


def measure_recall(base: ModuleType, patched: ModuleType, n: int = 500, queries: int = 40,
                   k: int = 10) -> Dict[str, Any]:
    """recall@k against exact of the base and patched code on a seeded dataset (k=1 too: untouched)."""
    states, qs = sample_states(n, seed=1), sample_states(queries, seed=2)
    return {"change": "recall", "n": n, "queries": queries, "k": k,
            "base_recall": recall_at_k(base, states, qs, k), "patched_recall": recall_at_k(patched, states, qs, k),
            "base_recall_k1": recall_at_k(base, states, qs, 1),
            "patched_recall_k1": recall_at_k(patched, states, qs, 1),
            "expected": 0.9}


def tier_bytes_and_contents(pkg: ModuleType, states: Sequence[dict]) -> Dict[str, Any]:
    """Stored bytes of `states` written into IM and into LTM (one agent each), the LTM contents read
    back, and the LTM bytes of the same states moved IM → LTM by maintenance (the transition path)."""
    steps = list(range(len(states)))
    with new_system(pkg, len(states)) as system:
        ltm_ids = system.store_agent_states(AGENT, list(states), steps, tier="ltm")
        system.store_agent_states(AGENT + "_im", list(states), steps, tier="im")
        out = {"ltm_bytes": system.get_memory_statistics(AGENT)["tiers"]["ltm"]["stored_bytes"],
               "im_bytes": system.get_memory_statistics(AGENT + "_im")["tiers"]["im"]["stored_bytes"],
               "contents": [system.retrieve_state(m)["content"] for m in ltm_ids]}
    with new_system(pkg, len(states), im_limit=1) as system:
        system.store_agent_states(AGENT, list(states), steps, tier="im")
        system.force_memory_maintenance(AGENT)
        ltm = system.get_memory_statistics(AGENT)["tiers"]["ltm"]
        out.update(moved_ltm_bytes=ltm["stored_bytes"], moved_ltm_count=ltm["count"])
    return out


def measure_ltm(base: ModuleType, patched: ModuleType, n: int = 500) -> Dict[str, Any]:
    """LTM stored bytes patched / base (direct writes and IM→LTM moves), IM bytes (must not move), and
    whether LTM contents read back identical."""
    states = sample_states(n, seed=3)
    b, p = tier_bytes_and_contents(base, states), tier_bytes_and_contents(patched, states)
    return {"change": "ltm_record", "n": n, "base_ltm_bytes": b["ltm_bytes"], "patched_ltm_bytes": p["ltm_bytes"],
            "ratio": p["ltm_bytes"] / b["ltm_bytes"],
            "moved_ratio": p["moved_ltm_bytes"] / b["moved_ltm_bytes"] if b["moved_ltm_bytes"] else None,
            "moved_count": (b["moved_ltm_count"], p["moved_ltm_count"]),
            "im_ratio": p["im_bytes"] / b["im_bytes"], "contents_equal": b["contents"] == p["contents"],
            "expected": 1.25}


def measure_change(name: str, base: ModuleType, patched: ModuleType, pairs: int = 200, n: int = 1000,
                   complexity: int = 1, chunk: Optional[int] = None) -> Dict[str, Any]:
    """The measured effect of one planted change (see verify)."""
    if name == "recall":
        return measure_recall(base, patched)
    if name == "ltm_record":
        return measure_ltm(base, patched)
    return measure_slowdown(name, base, patched, n=n, pairs=pairs, complexity=complexity, chunk=chunk)


def build_extension(tree: Path) -> Optional[Path]:
    """Build the C speedups in place in `tree`; the built file, or None when it could not be built."""
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                          capture_output=True, text=True)
    built = sorted((Path(tree) / "memory" / "embeddings").glob("_speedups*.so"))
    return built[0] if proc.returncode == 0 and built else None


def verify_line(result: Mapping[str, Any]) -> str:
    """One line of a verify result."""
    name = result["change"]
    if name == "recall":
        return (f"recall        recall@10 base {result['base_recall']:.3f} -> patched {result['patched_recall']:.3f} "
                f"(expected 0.900); recall@1 {result['base_recall_k1']:.3f} -> {result['patched_recall_k1']:.3f}")
    if name == "ltm_record":
        return (f"ltm_record    LTM bytes {result['base_ltm_bytes']} -> {result['patched_ltm_bytes']} ratio "
                f"{result['ratio']:.4f} (IM->LTM moves {result['moved_ratio'] or 0:.4f}; IM {result['im_ratio']:.4f}); "
                f"contents equal: {result['contents_equal']}")
    per_call = 1e6 / result["chunk"]
    unit = "state" if name == "store_batch" else "call"
    return (f"{name:<13} ratio {result['paired_ratio']:.3f} (median of per-pair ratios; of medians "
            f"{result['ratio']:.3f}, of minima {result['min_ratio']:.3f}; expected 1.25): "
            f"{result['base_median_s'] * per_call:.2f} -> {result['patched_median_s'] * per_call:.2f} us per {unit}, "
            f"{result['pairs']} pairs of {result['chunk']} {unit}s, {result['n']} "
            f"complexity-{result['complexity']} states")


def cmd_verify(args: argparse.Namespace, ctx: Context) -> int:
    """Measure every selected planted change directly (no CLI): unpatched vs patched, side by side, each
    imported from its own worktree of the clone (so no lazy import can read the other version)."""
    names = args.change or list(CHANGES)
    if ctx.shell.dry_run:
        ctx.shell.note("verify imports a base worktree and each patched worktree side by side; no commands")
        return EXIT_OK
    clone = ctx.ensure_clone()
    trees = clone.path / ".gate_trust_worktrees"
    shutil.rmtree(trees, ignore_errors=True)  # worktrees of a kept clone's earlier verify
    git(["worktree", "prune"], clone.path)
    base_tree = add_worktree(clone, clone.base, trees / "base")
    so = build_extension(base_tree) if args.build_ext else None
    if args.build_ext and so is None:
        print("warning: the C speedups did not build; measuring the pure-Python code", file=sys.stderr)
    base = load_memory_package("gt_verify_base", base_tree)
    results = []
    for name in names:
        head = prepare_planted(Shell(), clone, CHANGES[name])
        tree = add_worktree(clone, head, trees / name)
        if so is not None:
            shutil.copy2(so, tree / "memory" / "embeddings" / so.name)
        result = measure_change(name, base, load_memory_package(f"gt_verify_{name}", tree), pairs=args.pairs,
                                n=args.states, complexity=args.complexity, chunk=args.chunk)
        result["native"] = so is not None
        results.append(result)
        print(verify_line(result), flush=True)
    out = ctx.work_dir / f"gate_trust_verify_{_dt.datetime.now():%Y%m%d_%H%M%S}.json"
    out.write_text(json.dumps({"base": clone.base, "native": so is not None, "results": results}, indent=2,
                              default=str), encoding="utf-8")
    print(f"verify results: {out}")
    return EXIT_OK
