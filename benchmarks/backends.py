"""The backends a benchmark system runs on: its MemoryConfig, whether the backend is usable here, and
the cleanup of what it left in Redis and PostgreSQL.

* :func:`make_config` -- a ``MemoryConfig`` for a benchmark on "memory" or "redis"
  (``AGENTMEMORY_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/0``), with its LTM on "sqlite"
  or "postgres" (``AGENTMEMORY_BENCH_POSTGRES_URL``, default ``postgresql://postgres@127.0.0.1:5432/test``);
* :func:`redis_backend_status` / :func:`postgres_backend_status` -- probes, memoised per process: a
  server answers and the backend stores and reads back a state; :func:`require_backend` /
  :func:`require_ltm_backend` raise :class:`BackendUnavailable` (a ``NotImplementedError``: asv skips
  the combination) otherwise.  In asv's fork server the probes run once, at import, and every forked
  benchmark process inherits their answers;
* :func:`delete_redis_keys` and :func:`log_namespace` -- removal of a namespace's keys, now and, for
  a process killed before its teardown, after the run (``cli run`` reads the log);
  :func:`delete_postgres_rows` -- removal of a namespace's rows from every LTM table.

Importing this module touches no server (outside asv's fork server).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import uuid
from typing import Any, Callable, Dict, Optional, Tuple

from memory import MemoryConfig
from memory.benchmarking.config import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV
from memory.config import redact, scrub, url_secrets

REDIS_URL_ENV = "AGENTMEMORY_BENCH_REDIS_URL"
REDIS_URL: str = os.environ.get(REDIS_URL_ENV, "").strip() or "redis://127.0.0.1:6379/0"
POSTGRES_URL: str = os.environ.get(POSTGRES_URL_ENV, "").strip() or DEFAULT_POSTGRES_URL
#: libpq's connect timeout of the probe and the cleanup, seconds (its minimum is 2).
POSTGRES_CONNECT_TIMEOUT = 2

#: Prefix of every Redis namespace and temporary directory the suite creates (tests look for it).
NAMESPACE_PREFIX = "asvbench"
#: The file where every Redis namespace is logged (memory.benchmarking.runner.NAMESPACE_LOG_ENV).
NAMESPACE_LOG_ENV = "AGENTMEMORY_BENCH_NAMESPACE_LOG"

#: Reply timeout of the cleanup's Redis calls, and how often it tries: a server slowed down by a
#: loaded machine (the reason a benchmark failed) must not also make its keys stay behind.
CLEANUP_TIMEOUT = 10.0
CLEANUP_ATTEMPTS = 3


class BackendUnavailable(NotImplementedError):
    """The backend of this parameter combination cannot be used here (asv: skipped, n/a).

    The suite's only ``NotImplementedError``: raised by the lifecycle when a benchmark opens a
    system on such a backend, never by a benchmark itself (those declare their skips with
    :meth:`benchmarks.lifecycle.Benchmark.skip`)."""


def make_config(backend: str = "memory", namespace: Optional[str] = None, db_path: Optional[str] = None,
                stm_limit: Optional[int] = None, im_limit: Optional[int] = None,
                ltm_limit: Optional[int] = None, cleanup_interval: Optional[int] = None,
                discard_threshold: Optional[float] = None, stm_ttl: Optional[float] = None,
                im_ttl: Optional[float] = None, dims: Optional[Tuple[int, int, int]] = None,
                importance_weights: Optional[Dict[str, float]] = None,
                ltm_backend: str = "sqlite") -> MemoryConfig:
    """A MemoryConfig for a benchmark; None leaves the library default.  ``ltm_backend="postgres"``
    puts LTM in the database at POSTGRES_URL (``db_path`` is then unused)."""
    cfg = MemoryConfig()
    cfg.backend = backend
    if backend == "redis":
        cfg.redis_url = REDIS_URL
    cfg.ltm_backend = ltm_backend
    if ltm_backend == "postgres":
        cfg.ltm_url = POSTGRES_URL
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


def require_backend(backend: str) -> None:
    """Raise :class:`BackendUnavailable` (asv: skip) unless `backend` can be used here."""
    _require("backend", backend, {"memory": None, "redis": ("redis backend", redis_backend_status)})


def require_ltm_backend(ltm_backend: str) -> None:
    """Raise :class:`BackendUnavailable` (asv: skip) unless LTM on `ltm_backend` can be used here."""
    _require("ltm_backend", ltm_backend,
             {"sqlite": None, "postgres": ("postgres LTM backend", postgres_backend_status)})


def _require(field: str, value: str, probes: Dict[str, Optional[Tuple[str, Callable[[], Tuple[bool, str]]]]]) -> None:
    """The check of both: `probes` maps each known value to None (needs no server) or (its name, its probe)."""
    if value not in probes:
        raise ValueError(f"unknown {field} {value!r}")
    if probes[value] is None:
        return
    name, probe = probes[value]
    ok, reason = probe()
    if not ok:
        raise BackendUnavailable(f"{name} unavailable: {reason}")


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------

def redis_client(timeout: float = 0.5) -> Any:
    import redis  # noqa: WPS433 - optional dependency at run time

    return redis.Redis.from_url(REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)


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
    runner), before any key or PostgreSQL row of it exists: the runner removes the Redis keys and the
    PostgreSQL rows of every logged namespace whose process has ended after the run, also those of a
    benchmark process that was killed (a timeout) and never tore down."""
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
    return _round_trip("redis backend", "stm", lambda ns: delete_redis_keys(f"*{ns}*"), backend="redis",
                       db_path=":memory:")


def _round_trip(name: str, tier: str, remove: Callable[[str], Any], **config: Any) -> Tuple[bool, str]:
    """(usable, reason) of the backend `name`: a system on make_config(**config) in a namespace of its own
    stores one state into `tier` and reads it back; `remove(namespace)` deletes what it left."""
    from memory import AgentMemorySystem

    namespace = f"{NAMESPACE_PREFIX}-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    log_namespace(namespace)
    system = None
    try:
        system = AgentMemorySystem(make_config(namespace=namespace, **config))
        mid = system.store_agent_state("probe", {"x": 1}, 0, tier=tier)
        if system.retrieve_state(mid) is None:
            return False, f"the {name} did not read back a stored state"
        return True, "ok"
    except Exception as exc:  # AgentMemoryError, ConfigError, a missing package...: unavailable, never a failure
        return False, f"{exc.__class__.__name__}: {exc}"
    finally:
        if system is not None:
            try:
                system.close()
            except Exception:
                pass
        remove(namespace)


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------

def delete_postgres_rows(namespace: str) -> int:
    """Delete every row of `namespace` from the LTM tables (memory.stores.postgres.delete_namespaces); return
    how many.  A cleanup that fails says so in one line on stderr and returns 0 (tables not created yet count 0)."""
    try:
        from memory.stores.postgres import delete_namespaces  # imports psycopg: only when needed

        return delete_namespaces(POSTGRES_URL, [namespace], connect_timeout=POSTGRES_CONNECT_TIMEOUT)
    except Exception as exc:  # StorageError (unreachable, timeouts), ConfigError (no psycopg package)
        print(f"agentmemory-asv: could not remove the PostgreSQL rows of namespace {namespace} at "
              f"{redact(POSTGRES_URL)}: {exc.__class__.__name__}", file=sys.stderr)
        return 0


@functools.lru_cache(maxsize=None)
def postgres_backend_status() -> Tuple[bool, str]:
    """(usable, reason): a server answers at POSTGRES_URL and ``ltm_backend="postgres"`` stores a state
    into LTM and reads it back."""
    try:
        import psycopg  # noqa: WPS433 - optional dependency at run time
    except ImportError:
        return False, "psycopg is not installed (pip install 'agentmemory[postgres]')"
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return False, f"no PostgreSQL server answers at {redact(POSTGRES_URL)} ({_driver_text(exc)})"
    return _round_trip("postgres LTM backend", "ltm", delete_postgres_rows, backend="memory", ltm_backend="postgres")


def _driver_text(exc: BaseException) -> str:
    """A driver error in one short line, with the URL's password masked: the reason a skip gives."""
    text = scrub(" ".join(str(exc).split()), url_secrets(POSTGRES_URL))
    return f"{exc.__class__.__name__}: {text[:160]}" if text else exc.__class__.__name__


def in_asv_forkserver() -> bool:
    """True in asv's fork server (``"launch_method": "forkserver"``: ``benchmark.py run_server DIR SOCKET``),
    which imports the suite once and forks one process per benchmark and parameter combination."""
    argv = sys.argv
    return len(argv) > 2 and argv[1] == "run_server" and os.path.basename(argv[0]) == "benchmark.py"


if in_asv_forkserver():
    # Probe Redis once here, so the forked processes inherit the answer (redis_backend_status is
    # memoised) instead of each building a probe system: ~0.1 s in each of the ~100 processes of a
    # run that take a backend parameter.  The same for PostgreSQL.
    redis_backend_status()
    postgres_backend_status()
