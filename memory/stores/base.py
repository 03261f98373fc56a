"""The one store base class every tier runs on: embedded dict, SQLite file or Redis server.

Tiers differ by policy (limits, TTL, codec, embedding size), never by store code. A store keeps
records; the tier keeps an in-process VectorIndex next to it. What a store can do is said here, by class
attributes and methods with defaults, so callers never probe a store's type or look for optional methods:

* ``shared``: other processes may write it. Every write increments a per-agent version counter, so a
  tier can tell its own writes from others' and rebuild its index only when someone else wrote.
* ``keeps_vectors``: ``records()`` returns vectors, so an index can be rebuilt from the store.
* ``live_records``: the records it returns are the stored objects themselves (the embedded store), so a
  retrieval count updated on them needs no write-back (``touch`` is then never called).
* ``answers_step_ranges``: ``records_in_steps`` runs on the store's own index over steps, which beats
  the tier's in-process index when that would have to be built first (SQLite).

A shared store that memories leave (STM, IM) overrides ``claim(agent_id, memory_ids)``: it returns the
records this store alone now holds for moving or forgetting (an atomic claim, so two processes never move
or count the same memory); ``remove`` then deletes them and leaves others' claims alone. The default
claim of a private store just reads the records (one process: nobody else can move them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Optional, Sequence

import numpy as np

from ..entry import MemoryRecord


class MemoryStore(ABC):
    """Record storage for one tier, partitioned by agent; subclasses implement the abstract methods."""

    shared: bool = False
    keeps_vectors: bool = False
    live_records: bool = False
    answers_step_ranges: bool = False

    @abstractmethod
    def add(self, records: Sequence[MemoryRecord]) -> int:
        """Store records (all of one agent); returns that agent's new version."""

    def add_one(self, record: MemoryRecord) -> int:
        """`add` of a single record (the single-store path; a store may make it faster)."""
        return self.add((record,))

    @abstractmethod
    def get(self, memory_id: str) -> Optional[MemoryRecord]:
        """The record with this id, or None."""

    @abstractmethod
    def get_many(self, memory_ids: Sequence[str]) -> list[Optional[MemoryRecord]]:
        """Records for ids, None where absent, in order."""

    def touch(self, records: Sequence[MemoryRecord]) -> None:
        """Persist updated retrieval_count / last_accessed of records (a store may buffer them)."""

    def flush_touches(self) -> None:
        """Write buffered `touch` updates now (maintenance calls it; a store without a buffer has nothing to do)."""

    def claim(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """The records of `memory_ids` this caller alone may now move or forget, in order; this default
        (a private store) just reads them."""
        return [r for r in self.get_many(memory_ids) if r is not None]

    @abstractmethod
    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Delete records of one agent; returns the removed ones (vectors included if kept)."""

    @abstractmethod
    def records(self, agent_id: str) -> list[MemoryRecord]:
        """Every record of one agent."""

    def records_in_steps(self, agent_id: str, start: int, end: int) -> list[MemoryRecord]:
        """The agent's records with start <= step <= end, by step (this default filters `records`)."""
        return sorted((r for r in self.records(agent_id) if start <= r.step_number <= end),
                      key=lambda r: r.step_number)

    @abstractmethod
    def count(self, agent_id: str) -> int:
        """How many records one agent has here."""

    @abstractmethod
    def agent_ids(self) -> Iterable[str]:
        """Agents with at least one record."""

    @abstractmethod
    def stored_bytes(self, agent_id: str) -> tuple[int, int]:
        """(content bytes as stored, raw full-resolution bytes) of one agent's records."""

    @abstractmethod
    def version(self, agent_id: str) -> int:
        """The agent's write counter (0 when it never wrote)."""

    def corrupt_skipped(self, agent_id: Optional[str] = None) -> int:
        """Distinct damaged records `records()` skipped (one agent's, or all); this default: none."""
        return 0

    @abstractmethod
    def update_vectors(self, agent_id: str, memory_ids: Sequence[str], vectors: np.ndarray) -> int:
        """Replace stored vectors (after retraining); returns the new version."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every record this store owns (its namespace only)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""
