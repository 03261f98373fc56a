"""Fresh AgentMemorySystems for benchmarks, and their complete removal.

Each system gets a namespace no other system uses (``asvbench-<pid>-<random>``, logged before any
key or row exists when on Redis or PostgreSQL) and, with ``ltm="file"``, its SQLite LTM in a private temporary directory
``agentmemory-asv-*`` -- or, with ``ltm_backend="postgres"``, its LTM rows under that namespace on the
PostgreSQL server.  Releasing it closes the system, removes the directory and deletes every Redis key
and PostgreSQL row of the namespace.  :class:`benchmarks.lifecycle.SystemBenchmark` opens systems through
:func:`open_system`; code without a teardown (``setup_cache``, a system per sample) uses
:func:`fresh_system`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any, Optional

from .backends import (NAMESPACE_PREFIX, delete_postgres_rows, delete_redis_keys, log_namespace, make_config,
                       require_backend, require_ltm_backend)

TEMP_PREFIX = "agentmemory-asv-"


class SystemHandle:
    """A benchmark's system and what releasing it removes: its temporary directory, Redis namespace
    and PostgreSQL rows."""

    __slots__ = ("system", "tempdir", "namespace", "backend", "ltm_backend")

    def __init__(self, system: Any, tempdir: Optional[str], namespace: str, backend: str,
                 ltm_backend: str = "sqlite"):
        self.system, self.tempdir, self.namespace, self.backend = system, tempdir, namespace, backend
        self.ltm_backend = ltm_backend


def open_system(backend: str = "memory", ltm: str = "file", namespace: Optional[str] = None,
                ltm_backend: str = "sqlite", **options: Any) -> SystemHandle:
    """Build a fresh system with a unique namespace and its own temporary directory.

    ``ltm="file"`` puts the SQLite LTM in a private temporary directory (removed on release);
    ``ltm="memory"`` uses ``":memory:"`` (no file at all); ``ltm_backend="postgres"`` puts LTM on the
    PostgreSQL server instead (rows under the namespace, deleted on release; `ltm` is then unused).
    Options: :func:`benchmarks.backends.make_config`.  An unusable backend raises
    :class:`benchmarks.backends.BackendUnavailable` (asv: skip).
    """
    require_backend(backend)
    require_ltm_backend(ltm_backend)
    from memory import AgentMemorySystem  # imported lazily: `import memory` stays light

    namespace = namespace or new_namespace()
    if backend == "redis" or ltm_backend == "postgres":
        log_namespace(namespace)
    tempdir = None
    if ltm == "file" and ltm_backend == "sqlite":
        tempdir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
        db_path = os.path.join(tempdir, "ltm.db")
    else:
        db_path = ":memory:"
    try:
        system = AgentMemorySystem(make_config(backend, namespace=namespace, db_path=db_path,
                                               ltm_backend=ltm_backend, **options))
    except BaseException:
        _remove_leftovers(tempdir, namespace, backend, ltm_backend)
        raise
    return SystemHandle(system, tempdir, namespace, backend, ltm_backend)


def new_namespace() -> str:
    """A namespace no other system uses: ``asvbench-<pid>-<random>``."""
    return f"{NAMESPACE_PREFIX}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def release_handle(handle: SystemHandle) -> None:
    """Close the system, then remove its temporary directory and any Redis key or PostgreSQL row of its
    namespace."""
    try:
        handle.system.close()
    except Exception as exc:  # a failing close must not leak files or keys
        print(f"agentmemory-asv: close failed: {exc!r}", file=sys.stderr)
    _remove_leftovers(handle.tempdir, handle.namespace, handle.backend, handle.ltm_backend)


def _remove_leftovers(tempdir: Optional[str], namespace: str, backend: str, ltm_backend: str) -> None:
    if tempdir:
        shutil.rmtree(tempdir, ignore_errors=True)
    if backend == "redis":
        delete_redis_keys(f"*{namespace}*")
    if ltm_backend == "postgres":
        delete_postgres_rows(namespace)


@contextlib.contextmanager
def fresh_system(backend: str = "memory", **options: Any):
    """``with fresh_system(...) as system:`` -- a system released (closed, files and keys removed)
    on exit; for setup_cache code, which has no teardown, and for a system per sample."""
    handle = open_system(backend, **options)
    try:
        yield handle.system
    finally:
        release_handle(handle)
