"""The one store protocol every tier runs on: embedded dict, SQLite file or Redis server.

Tiers differ by policy (limits, TTL, codec, embedding size), never by store code. A store keeps
records; the tier keeps an in-process VectorIndex next to it. A store that other processes may
write (`shared`) exposes a per-agent version counter that every write increments, so a tier can
tell its own writes from others' and rebuild its index only when someone else wrote.

A shared store that memories leave (STM, IM) also offers `claim(agent_id, memory_ids)`: it returns the
records this store alone now holds for moving or forgetting (an atomic claim, so two processes never
move or count the same memory); `remove` then deletes them and leaves others' claims alone. Transitions
read a store without `claim` instead (the embedded store: one process; SQLite: nothing moves out of LTM).
"""

from __future__ import annotations

from typing import Iterable, Optional, Protocol, Sequence, runtime_checkable

import numpy as np

from ..entry import MemoryRecord


@runtime_checkable
class MemoryStore(Protocol):
    """Record storage for one tier, partitioned by agent."""

    shared: bool          # other processes may write it: check version() before trusting an index
    keeps_vectors: bool   # records() returns vectors, so an index can be rebuilt from the store

    def add(self, records: Sequence[MemoryRecord]) -> int:
        """Store records (all of one agent); returns that agent's new version."""

    def get(self, memory_id: str) -> Optional[MemoryRecord]:
        """The record with this id, or None."""

    def get_many(self, memory_ids: Sequence[str]) -> list[Optional[MemoryRecord]]:
        """Records for ids, None where absent, in order."""

    def touch(self, records: Sequence[MemoryRecord]) -> None:
        """Persist updated retrieval_count / last_accessed of records."""

    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Delete records of one agent; returns the removed ones (vectors included if kept)."""

    def records(self, agent_id: str) -> list[MemoryRecord]:
        """Every record of one agent."""

    def count(self, agent_id: str) -> int:
        """How many records one agent has here."""

    def agent_ids(self) -> Iterable[str]:
        """Agents with at least one record."""

    def stored_bytes(self, agent_id: str) -> tuple[int, int]:
        """(content bytes as stored, raw full-resolution bytes) of one agent's records."""

    def version(self, agent_id: str) -> int:
        """The agent's write counter (0 when it never wrote)."""

    def corrupt_skipped(self, agent_id: Optional[str] = None) -> int:
        """Distinct damaged records `records()` skipped (one agent's, or all): 0 where bytes cannot rot."""
        ...

    def update_vectors(self, agent_id: str, memory_ids: Sequence[str], vectors: np.ndarray) -> int:
        """Replace stored vectors (after retraining); returns the new version."""

    def clear(self) -> None:
        """Delete every record this store owns (its namespace only)."""

    def close(self) -> None:
        """Release connections and files."""
