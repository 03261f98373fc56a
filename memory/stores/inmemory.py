"""The embedded store: records in process memory; the default for STM and IM."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from ..entry import MemoryRecord
from .base import MemoryStore


class InMemoryStore(MemoryStore):
    """Dict-backed records; vectors live only in the tier's index, so records carry none. The records it
    returns are the stored objects (`live_records`): a retrieval count set on them is already stored."""

    live_records = True

    def __init__(self) -> None:
        self._by_id: dict[str, MemoryRecord] = {}
        self._agents: dict[str, dict[str, MemoryRecord]] = {}
        self._bytes: dict[str, list[int]] = {}
        self._versions: dict[str, int] = {}

    def add(self, records: Sequence[MemoryRecord]) -> int:
        if not records:
            return 0
        agent_id = records[0].agent_id
        mine = self._agents.get(agent_id)
        if mine is None:
            mine = self._agents[agent_id] = {}
            self._bytes[agent_id] = [0, 0]
        by_id = self._by_id
        sizes = self._bytes[agent_id]
        for rec in records:
            rec.vector = None
            old = by_id.get(rec.memory_id)
            if old is not None:  # an id is stored once; replace cleanly
                sizes[0] -= len(old.content)
                sizes[1] -= old.raw_bytes
            by_id[rec.memory_id] = rec
            mine[rec.memory_id] = rec
            sizes[0] += len(rec.content)
            sizes[1] += rec.raw_bytes
        v = self._versions.get(agent_id, 0) + 1
        self._versions[agent_id] = v
        return v

    def add_one(self, rec: MemoryRecord) -> int:
        """`add` for a single record (the hot single-store path)."""
        agent_id = rec.agent_id
        mine = self._agents.get(agent_id)
        if mine is None or rec.memory_id in self._by_id:
            return self.add((rec,))
        rec.vector = None
        self._by_id[rec.memory_id] = rec
        mine[rec.memory_id] = rec
        sizes = self._bytes[agent_id]
        sizes[0] += len(rec.content)
        sizes[1] += rec.raw_bytes
        v = self._versions[agent_id] + 1
        self._versions[agent_id] = v
        return v

    def get(self, memory_id: str) -> Optional[MemoryRecord]:
        return self._by_id.get(memory_id)

    def get_many(self, memory_ids: Sequence[str]) -> list[Optional[MemoryRecord]]:
        get = self._by_id.get
        return [get(m) for m in memory_ids]

    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        mine = self._agents.get(agent_id)
        if not mine:
            return []
        sizes = self._bytes[agent_id]
        out = []
        for mid in memory_ids:
            rec = mine.pop(mid, None)
            if rec is None:
                continue
            del self._by_id[mid]
            sizes[0] -= len(rec.content)
            sizes[1] -= rec.raw_bytes
            out.append(rec)
        if not mine:
            del self._agents[agent_id]
            del self._bytes[agent_id]
        self._versions[agent_id] = self._versions.get(agent_id, 0) + 1
        return out

    def records(self, agent_id: str) -> list[MemoryRecord]:
        return list(self._agents.get(agent_id, {}).values())

    def count(self, agent_id: str) -> int:
        return len(self._agents.get(agent_id, ()))

    def agent_ids(self) -> Iterable[str]:
        return list(self._agents)

    def stored_bytes(self, agent_id: str) -> tuple[int, int]:
        sizes = self._bytes.get(agent_id)
        return (sizes[0], sizes[1]) if sizes else (0, 0)

    def version(self, agent_id: str) -> int:
        return self._versions.get(agent_id, 0)

    def update_vectors(self, agent_id: str, memory_ids: Sequence[str], vectors: np.ndarray) -> int:
        v = self._versions.get(agent_id, 0) + 1
        self._versions[agent_id] = v
        return v

    def clear(self) -> None:
        self._by_id.clear()
        self._agents.clear()
        self._bytes.clear()
        self._versions.clear()

    def close(self) -> None:
        self.clear()
