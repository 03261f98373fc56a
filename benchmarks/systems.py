"""Fresh AgentMemorySystems for benchmarks, and their complete removal.

Each system gets a namespace no other system uses (``asvbench-<pid>-<random>``, logged before any
key exists when on Redis) and, with ``ltm="file"``, its SQLite LTM in a private temporary directory
``agentmemory-asv-*``.  Releasing it closes the system, removes the directory and deletes every
Redis key of the namespace.  :class:`benchmarks.lifecycle.SystemBenchmark` opens systems through
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

from .backends import NAMESPACE_PREFIX, delete_redis_keys, log_namespace, make_config, require_backend

TEMP_PREFIX = "agentmemory-asv-"


class SystemHandle:
    """A benchmark's system and what releasing it removes: its temporary directory and Redis namespace."""

    __slots__ = ("system", "tempdir", "namespace", "backend")

    def __init__(self, system: Any, tempdir: Optional[str], namespace: str, backend: str):
        self.system, self.tempdir, self.namespace, self.backend = system, tempdir, namespace, backend


def open_system(backend: str = "memory", ltm: str = "file", namespace: Optional[str] = None,
                **options: Any) -> SystemHandle:
    """Build a fresh system with a unique namespace and its own temporary directory.

    ``ltm="file"`` puts the SQLite LTM in a private temporary directory (removed on release);
    ``ltm="memory"`` uses ``":memory:"`` (no file at all).  Options: :func:`benchmarks.backends.make_config`.
    An unusable backend raises :class:`benchmarks.backends.BackendUnavailable` (asv: skip).
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
    return SystemHandle(system, tempdir, namespace, backend)


def new_namespace() -> str:
    """A namespace no other system uses: ``asvbench-<pid>-<random>``."""
    return f"{NAMESPACE_PREFIX}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def release_handle(handle: SystemHandle) -> None:
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


@contextlib.contextmanager
def fresh_system(backend: str = "memory", **options: Any):
    """``with fresh_system(...) as system:`` -- a system released (closed, files and keys removed)
    on exit; for setup_cache code, which has no teardown, and for a system per sample."""
    handle = open_system(backend, **options)
    try:
        yield handle.system
    finally:
        release_handle(handle)
