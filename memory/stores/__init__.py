"""Stores behind one protocol: embedded (default for STM/IM), SQLite or PostgreSQL (LTM), Redis (STM/IM, shared)."""

from __future__ import annotations

from typing import Optional

from .base import MemoryStore
from .inmemory import InMemoryStore
from .ltm import LTMStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "InMemoryStore", "LTMStore", "SQLiteStore", "create_fast_stores", "create_ltm_store"]


def create_fast_stores(config) -> tuple[MemoryStore, MemoryStore]:
    """The STM and IM stores the config asks for."""
    if config.backend == "memory":
        return InMemoryStore(), InMemoryStore()
    from .redis import create_redis_stores  # imported only when asked for: redis-py is optional at runtime
    return create_redis_stores(config)


def create_ltm_store(config, dim: int, path: Optional[str] = None) -> LTMStore:
    """The LTM store the config asks for: the SQLite file at `path` (default ltm_config.db_path), or the
    PostgreSQL database at ltm_url, its rows under config.namespace."""
    if config.ltm_backend == "postgres":
        from .postgres import PostgresStore  # imported only when asked for: psycopg is an optional extra
        return PostgresStore(config.ltm_url, dim, config.namespace)
    return SQLiteStore(path if path is not None else config.ltm_config.db_path, dim)
