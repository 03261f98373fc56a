"""Shared pieces of the AgentMemory asv suite.

* the benchmark configuration (``memory.benchmarking.config.BenchmarkConfig.from_env()``): its grids
  become the classes' ``params`` and its profile sets asv's timing attributes (:class:`Benchmark`);
* seeded workload generators: the seed's :func:`generate_test_state`, clustered states with known
  labels (:func:`clustered_states`), agent trajectories (:func:`agent_trajectory`);
* :class:`SystemBenchmark`, a base class whose :meth:`~SystemBenchmark.new_system` builds a fresh
  ``AgentMemorySystem`` per backend ("memory", and "redis" when a server answers at
  ``AGENTMEMORY_BENCH_REDIS_URL`` and the backend exists, else ``NotImplementedError`` so asv skips the
  combination) and whose teardown closes every system and removes every temporary file and Redis key
  it made;
* the metric convention (``items_per_call``, ``ops_per_call``, ``track_<metric>_<unit>``, each
  track's ``metric_kind``) and :func:`metric_catalog`, which lists every benchmark with what it yields
  (see benchmarks/README.md). ``python benchmarks/common.py --catalog`` prints that catalogue as JSON;
* :func:`sampled`, which turns a timing-like track into several samples asv treats like a timing.

Only the public API of ``memory`` is used, the way a user calls it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import timeit
import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from memory import MemoryConfig
from memory.config import redact
from memory.benchmarking.config import BenchmarkConfig
from memory.errors import AgentMemoryError, ConfigError, StorageError

# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------

CONFIG: BenchmarkConfig = BenchmarkConfig.from_env()
PROFILE: str = CONFIG.profile
TIMING: Dict[str, Any] = CONFIG.timing()

REDIS_URL_ENV = "AGENTMEMORY_BENCH_REDIS_URL"
REDIS_URL: str = os.environ.get(REDIS_URL_ENV, "").strip() or "redis://127.0.0.1:6379/0"

#: Prefix of every Redis namespace and temporary directory the suite creates (tests look for it).
NAMESPACE_PREFIX = "asvbench"
#: The file where every Redis namespace is logged (memory.benchmarking.runner.NAMESPACE_LOG_ENV).
NAMESPACE_LOG_ENV = "AGENTMEMORY_BENCH_NAMESPACE_LOG"
TEMP_PREFIX = "agentmemory-asv-"

BACKENDS: List[str] = ["memory", "redis"]
TIERS: List[str] = ["stm", "im", "ltm"]
SEARCH_TIERS: List[str] = ["stm", "im", "ltm", "all"]
CATEGORIES: List[str] = ["navigation", "inventory", "social"]
STATUSES = ("active", "idle", "planning", "executing")
ITEMS = ("item1", "item2", "item3", "item4", "item5")
BASE_TIME = 1_700_000_000.0  # fixed epoch for generated timestamps (seeded, reproducible)

#: A cleanup interval no benchmark reaches, so transitions happen only when a benchmark forces them.
NO_AUTO_CLEANUP = 1 << 30

#: What a benchmark's value is (its ``metric_kind``): "timing" -- varies run to run, judged on its
#: samples; "deterministic" -- the same in every run and process, any change is real; "resource" --
#: bytes of memory (``peakmem_*``).  time_* are timing and peakmem_* resource by type; every track_
#: declares its kind (:func:`sampled`, ``@metrics(..., kind=...)``, or its class's attribute).
METRIC_KINDS = ("timing", "deterministic", "resource")


def sorted_unique(values: Iterable[Any]) -> List[Any]:
    return sorted(set(values))


# ---------------------------------------------------------------------------------------------
# asv base classes
# ---------------------------------------------------------------------------------------------

class Benchmark:
    """Base of every benchmark class: asv timing attributes from the profile, the metric convention.

    ``items_per_call`` -- memories (or steps) one call of a ``time_*``/``peakmem_*`` method handles;
    throughput = items_per_call / time.  ``ops_per_call`` -- public-API calls one call makes;
    latency per operation = time / ops_per_call.  Either is an int, the name of a param whose value
    is the count, or a tuple of those multiplied together.
    """

    timer = timeit.default_timer
    repeat = TIMING["repeat"]
    number = TIMING["number"]
    warmup_time = TIMING["warmup_time"]
    rounds = TIMING["rounds"]
    sample_time = TIMING["sample_time"]
    timeout = TIMING["timeout"]
    min_run_count = 1
    items_per_call: Any = 1
    ops_per_call: Any = 1


class _Handle:
    __slots__ = ("system", "tempdir", "namespace", "backend")

    def __init__(self, system: Any, tempdir: Optional[str], namespace: str, backend: str):
        self.system, self.tempdir, self.namespace, self.backend = system, tempdir, namespace, backend


class SystemBenchmark(Benchmark):
    """A benchmark whose ``setup`` builds fresh systems and whose ``teardown`` removes them.

    Subclasses implement ``prepare(*params)`` (called by ``setup``; build data and systems there) and
    never define ``setup``/``teardown`` themselves.  If ``prepare`` fails, every system built so far
    is released before the error propagates (asv does not call teardown after a failed setup).
    """

    def setup(self, *params: Any) -> None:
        self._handles: List[Any] = []
        try:
            self.prepare(*params)
        except BaseException:
            self.release()
            raise

    def prepare(self, *params: Any) -> None:  # pragma: no cover - overridden
        pass

    def teardown(self, *params: Any) -> None:
        self.release()

    def release(self) -> None:
        handles, self._handles = getattr(self, "_handles", []), []
        for handle in reversed(handles):
            if isinstance(handle, _Handle):
                release_handle(handle)
            else:
                try:
                    handle()
                except Exception as exc:
                    print(f"agentmemory-asv: cleanup failed: {exc!r}", file=sys.stderr)

    def defer(self, cleanup: Any) -> None:
        """Run `cleanup()` on release (before the systems built earlier are closed)."""
        self._handles.append(cleanup)

    def new_system(self, backend: str = "memory", **options: Any) -> Any:
        """A fresh AgentMemorySystem on `backend`; options: see :func:`open_system`/:func:`make_config`."""
        handle = open_system(backend, **options)
        self._handles.append(handle)
        self.namespace = handle.namespace
        return handle.system


class CachedBenchmark(Benchmark):
    """Quality tracks measured once per run: ``setup_cache`` measures every parameter combination
    (in fresh systems it closes itself) and each ``track_*`` looks its value up.  The values are
    deterministic: seeded data, step-based (not clock-based) retention, no thread timing.

    Subclasses implement ``measure(*params) -> {metric: value}`` (or ``measure_all()`` to share work
    across combinations, e.g. one trained autoencoder) and must define their own one-line
    ``def setup_cache(self): return self.compute_cache()`` -- asv keys caches by source line, so an
    inherited setup_cache would be shared between classes.  A combination whose measure raises
    NotImplementedError is skipped by asv.
    """

    metric_kind = "deterministic"

    def compute_cache(self) -> Dict[Tuple[Any, ...], Any]:
        return self.measure_all()

    def combos(self) -> List[Tuple[Any, ...]]:
        params = getattr(self, "params", None) or []
        if params and not isinstance(params[0], (list, tuple)):
            params = [params]
        return list(itertools.product(*params)) if params else [()]

    def measure_all(self) -> Dict[Tuple[Any, ...], Any]:
        out: Dict[Tuple[Any, ...], Any] = {}
        for combo in self.combos():
            try:
                out[combo] = self.measure(*combo)
            except NotImplementedError as exc:
                out[combo] = f"skipped: {exc}"
        return out

    def measure(self, *params: Any) -> Dict[str, float]:  # pragma: no cover - overridden
        raise NotImplementedError

    def setup(self, cache: Dict[Tuple[Any, ...], Any], *params: Any) -> None:
        entry = cache.get(tuple(params))
        if entry is None or isinstance(entry, str):
            raise NotImplementedError(entry or f"no measurement for {params}")

    @staticmethod
    def value(cache: Dict[Tuple[Any, ...], Any], params: Sequence[Any], metric: str) -> float:
        return float(cache[tuple(params)][metric])


@contextlib.contextmanager
def fresh_system(backend: str = "memory", **options: Any):
    """``with fresh_system(...) as system:`` -- a system released (closed, files and keys removed)
    on exit; for setup_cache code, which has no teardown, and for a system per sample."""
    handle = open_system(backend, **options)
    try:
        yield handle.system
    finally:
        release_handle(handle)


def require_backend(backend: str) -> None:
    """Raise NotImplementedError (asv: skip) unless `backend` can be used here."""
    if backend == "memory":
        return
    if backend == "redis":
        ok, reason = redis_backend_status()
        if not ok:
            raise NotImplementedError(f"redis backend unavailable: {reason}")
        return
    raise NotImplementedError(f"unknown backend {backend!r}")


def make_config(backend: str = "memory", namespace: Optional[str] = None, db_path: Optional[str] = None,
                stm_limit: Optional[int] = None, im_limit: Optional[int] = None,
                ltm_limit: Optional[int] = None, cleanup_interval: Optional[int] = None,
                discard_threshold: Optional[float] = None, stm_ttl: Optional[float] = None,
                im_ttl: Optional[float] = None, dims: Optional[Tuple[int, int, int]] = None,
                importance_weights: Optional[Dict[str, float]] = None) -> MemoryConfig:
    """A MemoryConfig for a benchmark; None leaves the library default."""
    cfg = MemoryConfig()
    cfg.backend = backend
    if backend == "redis":
        cfg.redis_url = REDIS_URL
    if namespace is not None:
        cfg.namespace = namespace
    cfg.ltm_config.db_path = db_path
    if stm_limit is not None:
        cfg.stm_config.memory_limit = int(stm_limit)
    if im_limit is not None:
        cfg.im_config.memory_limit = int(im_limit)
    if ltm_limit is not None:
        cfg.ltm_config.memory_limit = int(ltm_limit)
    if cleanup_interval is not None:
        cfg.cleanup_interval = int(cleanup_interval)
    if discard_threshold is not None:
        cfg.discard_threshold = float(discard_threshold)
    if stm_ttl is not None:
        cfg.stm_config.ttl = float(stm_ttl)
    if im_ttl is not None:
        cfg.im_config.ttl = float(im_ttl)
    if dims is not None:
        cfg.autoencoder_config.stm_dim, cfg.autoencoder_config.im_dim, cfg.autoencoder_config.ltm_dim = dims
    if importance_weights:
        for name, value in importance_weights.items():
            if hasattr(cfg.importance_weights, name):
                setattr(cfg.importance_weights, name, float(value))
    return cfg


def open_system(backend: str = "memory", ltm: str = "file", namespace: Optional[str] = None,
                **options: Any) -> _Handle:
    """Build a fresh system with a unique namespace and its own temporary directory.

    ``ltm="file"`` puts the SQLite LTM in a private temporary directory (removed on release);
    ``ltm="memory"`` uses ``":memory:"`` (no file at all).
    """
    require_backend(backend)
    from memory import AgentMemorySystem  # imported lazily: `import memory` stays light

    namespace = namespace or new_namespace()
    if backend == "redis":
        log_namespace(namespace)
    tempdir = None
    if ltm == "file":
        tempdir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
        db_path = os.path.join(tempdir, "ltm.db")
    else:
        db_path = ":memory:"
    try:
        system = AgentMemorySystem(make_config(backend, namespace=namespace, db_path=db_path, **options))
    except BaseException:
        _remove_leftovers(tempdir, namespace, backend)
        raise
    return _Handle(system, tempdir, namespace, backend)


def new_namespace() -> str:
    """A namespace no other system uses: ``asvbench-<pid>-<random>``."""
    return f"{NAMESPACE_PREFIX}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def release_handle(handle: _Handle) -> None:
    """Close the system, then remove its temporary directory and any Redis key of its namespace."""
    try:
        handle.system.close()
    except Exception as exc:  # a failing close must not leak files or keys
        print(f"agentmemory-asv: close failed: {exc!r}", file=sys.stderr)
    _remove_leftovers(handle.tempdir, handle.namespace, handle.backend)


def _remove_leftovers(tempdir: Optional[str], namespace: str, backend: str) -> None:
    if tempdir:
        shutil.rmtree(tempdir, ignore_errors=True)
    if backend == "redis":
        delete_redis_keys(f"*{namespace}*")


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------

def redis_client(timeout: float = 0.5) -> Any:
    import redis  # noqa: WPS433 - optional dependency at run time

    return redis.Redis.from_url(REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


#: Reply timeout of the cleanup's Redis calls, and how often it tries: a server slowed down by a
#: loaded machine (the reason a benchmark failed) must not also make its keys stay behind.
CLEANUP_TIMEOUT = 10.0
CLEANUP_ATTEMPTS = 3


def delete_redis_keys(pattern: str) -> int:
    """Delete every key matching `pattern`; return how many were deleted. A slow server is waited
    for (CLEANUP_TIMEOUT, CLEANUP_ATTEMPTS tries); a cleanup that still fails says so in one line on
    stderr and returns 0."""
    failure: Optional[BaseException] = None
    for attempt in range(CLEANUP_ATTEMPTS):
        try:
            return _delete_matching(pattern)
        except Exception as exc:  # connection refused, timeouts, a missing redis package
            failure = exc
            if attempt + 1 < CLEANUP_ATTEMPTS:
                time.sleep(0.2 * (attempt + 1))
    print(f"agentmemory-asv: could not remove the Redis keys matching {pattern} at {redact(REDIS_URL)}: "
          f"{failure.__class__.__name__}", file=sys.stderr)
    return 0


def _delete_matching(pattern: str) -> int:
    """One pass of :func:`delete_redis_keys`: scan, then delete in batches of 500."""
    client = redis_client(CLEANUP_TIMEOUT)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
        return len(keys)
    finally:
        client.close()


def log_namespace(namespace: str) -> None:
    """Append `namespace` to the file named by $AGENTMEMORY_BENCH_NAMESPACE_LOG (set by the benchmark
    runner), before any key of it exists: the runner removes the keys of every logged namespace after
    the run, also those of a benchmark process that was killed (a timeout) and never tore down."""
    path = os.environ.get(NAMESPACE_LOG_ENV, "").strip()
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:  # one short append: atomic between processes
            handle.write(namespace + "\n")
    except OSError as exc:
        print(f"agentmemory-asv: cannot log namespace {namespace} to {path}: {exc}", file=sys.stderr)


@functools.lru_cache(maxsize=None)
def redis_backend_status() -> Tuple[bool, str]:
    """(usable, reason): a server answers at REDIS_URL and ``backend="redis"`` stores and reads."""
    try:
        client = redis_client()
        client.ping()
        client.close()
    except Exception as exc:
        return False, f"no Redis server answers at {redact(REDIS_URL)} ({exc.__class__.__name__})"
    from memory import AgentMemorySystem

    namespace = f"{NAMESPACE_PREFIX}-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    log_namespace(namespace)
    system = None
    try:
        system = AgentMemorySystem(make_config("redis", namespace=namespace, db_path=":memory:"))
        mid = system.store_agent_state("probe", {"x": 1}, 0)
        if system.retrieve_state(mid) is None:
            return False, "the redis backend did not read back a stored state"
        return True, "ok"
    except (AgentMemoryError, NotImplementedError, ImportError, ConfigError, StorageError) as exc:
        return False, f"{exc.__class__.__name__}: {exc}"
    except Exception as exc:  # any other failure: treat as unavailable, never fail the suite
        return False, f"{exc.__class__.__name__}: {exc}"
    finally:
        if system is not None:
            try:
                system.close()
            except Exception:
                pass
        delete_redis_keys(f"*{namespace}*")


# ---------------------------------------------------------------------------------------------
# workload generators (seeded; each call uses its own random.Random)
# ---------------------------------------------------------------------------------------------

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


def agent_trajectory(agent_index: int, steps: int, complexity: int = 1, seed: int = 0) -> List[Dict[str, Any]]:
    """A coherent trajectory: position walks, inventory and goals evolve, status changes rarely."""
    rng = random.Random(f"trajectory-{seed}-{agent_index}")
    state = generate_test_state(complexity, rng, step=0)
    out = []
    for step in range(steps):
        state = json.loads(json.dumps(state))  # independent copy per step
        state["position"] = [p + rng.gauss(0.0, 0.05) for p in state["position"]]
        for key in state["attributes"]:
            state["attributes"][key] = min(1.0, max(0.0, state["attributes"][key] + rng.gauss(0, 0.02)))
        for goal in state["goals"]:
            goal["progress"] = min(1.0, goal["progress"] + rng.random() * 0.01)
        if rng.random() < 0.05:
            state["status"] = rng.choice(STATUSES)
        if rng.random() < 0.1:
            state["inventory"][rng.randrange(len(state["inventory"]))] = rng.choice(ITEMS)
        state["timestamp"] = BASE_TIME + step
        state["step_count"] = step
        out.append(state)
    return out


# ---------------------------------------------------------------------------------------------
# small numeric helpers (used by quality tracks)
# ---------------------------------------------------------------------------------------------

def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rho (average ranks for ties); 0.0 when either side is constant."""
    import numpy as np

    def ranks(values: Sequence[float]) -> Any:
        arr = np.asarray(values, dtype=float)
        order = arr.argsort(kind="mergesort")
        r = np.empty(len(arr), dtype=float)
        sorted_vals = arr[order]
        i = 0
        while i < len(arr):
            j = i
            while j + 1 < len(arr) and sorted_vals[j + 1] == sorted_vals[i]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2.0
            i = j + 1
        return r

    rx, ry = ranks(xs), ranks(ys)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else math.nan


def leaves(value: Any, prefix: str = "") -> Iterable[Tuple[str, Any]]:
    """(dotted path, leaf) pairs of a JSON-like value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from leaves(item, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, value


# ---------------------------------------------------------------------------------------------
# metric catalogue (machine-readable form of benchmarks/README.md)
# ---------------------------------------------------------------------------------------------

MODULES = ("storage", "compression", "memory_transition", "retrieval", "scalability", "integration")


def metric_catalog() -> Dict[str, Dict[str, Any]]:
    """Every benchmark of the suite: ``{asv name: {type, unit, metric_kind, params, param_names,
    items_per_call, ops_per_call, seed_metrics, doc, skip_params}}``.

    ``seed_metrics`` name what the adapter derives from the benchmark's value (see README):
    a ``time_*`` value is seconds per call; throughput_ops_per_second = items_per_call / value,
    total_time_seconds = value, items_processed = items_per_call, latency = value / ops_per_call.
    """
    import importlib
    import inspect

    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.dirname(here) not in sys.path:
        sys.path.insert(0, os.path.dirname(here))
    base = importlib.import_module("benchmarks.common").Benchmark  # not __main__'s copy
    catalog: Dict[str, Dict[str, Any]] = {}
    for module_name in MODULES:
        module = importlib.import_module(f"benchmarks.{module_name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, base):
                continue
            for attr in sorted(dir(cls)):
                kind = attr.split("_", 1)[0]
                if kind not in ("time", "peakmem", "track") or not callable(getattr(cls, attr)):
                    continue
                method = getattr(cls, attr)
                unit = getattr(method, "unit", {"time": "seconds", "peakmem": "bytes"}.get(kind, "unit"))
                catalog[f"{module_name}.{cls_name}.{attr}"] = {
                    "type": kind, "unit": unit, "metric_kind": metric_kind_of(cls, attr),
                    "params": [list(p) for p in getattr(cls, "params", [])] if getattr(cls, "params", None) else [],
                    "param_names": list(getattr(cls, "param_names", [])),
                    "items_per_call": _jsonable(getattr(method, "items_per_call", getattr(cls, "items_per_call", 1))),
                    "ops_per_call": _jsonable(getattr(method, "ops_per_call", getattr(cls, "ops_per_call", 1))),
                    "seed_metrics": list(getattr(method, "seed_metrics", ())),
                    "doc": (inspect.getdoc(method) or inspect.getdoc(cls) or "").split("\n")[0],
                    # parameter combinations asv skips by declaration (asv's skip_params; n/a)
                    "skip_params": [list(combo) for combo in getattr(method, "skip_params", ())],
                }
    return catalog


def metric_kind_of(cls: type, attr: str) -> Optional[str]:
    """The ``metric_kind`` of benchmark `attr` of `cls`: the method's, else the class's, else by type
    (time_* "timing", peakmem_* "resource"); None for a track_ that declares none."""
    declared = getattr(getattr(cls, attr), "metric_kind", None) or getattr(cls, "metric_kind", None)
    return declared or {"time": "timing", "peakmem": "resource"}.get(attr.split("_", 1)[0])


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def count_for(spec: Any, param_names: Sequence[str], params: Sequence[Any]) -> float:
    """Evaluate an ``items_per_call``/``ops_per_call`` spec for one parameter combination."""
    if isinstance(spec, (list, tuple)):
        out = 1.0
        for part in spec:
            out *= count_for(part, param_names, params)
        return out
    if isinstance(spec, str):
        value = params[list(param_names).index(spec)]
        return float(value)
    return float(spec)


def metrics(*names: str, items_per_call: Any = None, ops_per_call: Any = None, kind: Optional[str] = None):
    """Decorator: the seed metric names a benchmark method yields (recorded in the catalogue), and
    optionally per-method ``items_per_call``/``ops_per_call`` overriding the class's and its
    ``metric_kind`` (one of METRIC_KINDS; e.g. ``kind="deterministic"`` for a count or fraction)."""
    if kind is not None and kind not in METRIC_KINDS:
        raise ValueError(f"metric kind must be one of {METRIC_KINDS}; got {kind!r}")

    def mark(func):
        func.seed_metrics = names
        if items_per_call is not None:
            func.items_per_call = items_per_call
        if ops_per_call is not None:
            func.ops_per_call = ops_per_call
        if kind is not None:
            if getattr(func, "metric_kind", kind) != kind:
                raise ValueError(f"{func.__name__} is already a {func.metric_kind} metric, not {kind}")
            func.metric_kind = kind
        return func
    return mark


def samples_per_track() -> int:
    """Samples a :func:`sampled` track takes in one benchmark process (the profile's ``track_samples``)."""
    return max(1, int(TIMING.get("track_samples", 5)))


def sampled(func: Callable[..., float]) -> Callable[..., Dict[str, Any]]:
    """Decorator for a timing-like ``track_*``: the body measures ONE sample (a float) and is called
    :func:`samples_per_track` times; asv gets ``{"samples": [...], "number": 1}``, which it treats like a
    timing (median as the value, quartiles and confidence interval; samples appended across rounds)."""
    if getattr(func, "metric_kind", "timing") != "timing":
        raise ValueError(f"{func.__name__} is declared {func.metric_kind}; a sampled track is a timing")

    @functools.wraps(func)
    def sample_track(self, *params):
        samples = []
        for _ in range(samples_per_track()):
            value = float(func(self, *params))
            if not math.isfinite(value):
                raise ValueError(f"{func.__name__}{params}: non-finite sample {value!r}")
            samples.append(value)
        return {"samples": samples, "number": 1}

    sample_track.metric_kind = "timing"
    return sample_track


def in_asv_forkserver() -> bool:
    """True in asv's fork server (``"launch_method": "forkserver"``: ``benchmark.py run_server DIR SOCKET``),
    which imports the suite once and forks one process per benchmark and parameter combination."""
    argv = sys.argv
    return len(argv) > 2 and argv[1] == "run_server" and os.path.basename(argv[0]) == "benchmark.py"


if in_asv_forkserver():
    # Probe Redis once here, so the forked processes inherit the answer (redis_backend_status is
    # memoised) instead of each building a probe system: ~0.1 s in each of the ~100 processes of a
    # run that take a backend parameter.
    redis_backend_status()


if __name__ == "__main__":  # pragma: no cover - a helper for the adapter and humans
    if "--catalog" in sys.argv:
        print(json.dumps(metric_catalog(), indent=2, sort_keys=True))
    else:
        print(f"profile={PROFILE} timing={TIMING}")
        print(json.dumps(CONFIG.to_dict(), indent=2))
