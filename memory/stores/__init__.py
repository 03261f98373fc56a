"""Stores behind one protocol: embedded (default for STM/IM), SQLite (LTM), Redis (STM/IM, shared)."""

from __future__ import annotations

from .base import MemoryStore
from .inmemory import InMemoryStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "InMemoryStore", "SQLiteStore", "create_fast_stores"]


def create_fast_stores(config) -> tuple[MemoryStore, MemoryStore]:
    """The STM and IM stores the config asks for."""
    if config.backend == "memory":
        return InMemoryStore(), InMemoryStore()
    from .redis import create_redis_stores  # imported only when asked for: redis-py is optional at runtime
    return create_redis_stores(config)
