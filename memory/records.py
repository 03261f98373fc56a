"""How new memories become records: a fresh id, the content as the tier stores it, and its importance."""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Optional, Sequence

from .config import MemoryConfig
from .entry import MemoryRecord
from .importance import importance_score


class RecordMaker:
    """Makes the records of one tier's new memories; every tier's maker of a system shares its id counter.

    Ids are "<agent_id>:<12 hex of the system><counter>": unique across processes, and they carry their
    partition key, so a shared store finds an agent's keys from the id alone. Importance is
    `importance_score` with the weights `config` holds at the time of the store, so weights changed after
    construction apply to the next store, single or batch alike.
    """

    def __init__(self, config: MemoryConfig, id_prefix: str, counter: "itertools.count[int]",
                 encode_raw: Callable[[Any], bytes], encode: Optional[Callable[[Any], bytes]] = None) -> None:
        """`encode_raw`: the full-resolution (STM) bytes, whose size is `raw_bytes`; `encode`: the tier's
        bytes when they differ (None: the raw bytes are stored)."""
        self.config = config
        self.id_prefix = id_prefix
        self.counter = counter
        self.encode_raw = encode_raw
        self.encode = encode

    def one(self, agent_id: str, content: Any, step_number: int, priority: float, memory_type: str) -> MemoryRecord:
        """The record of one new memory whose content is already validated."""
        raw = self.encode_raw(content)
        data = raw if self.encode is None else self.encode(content)
        weights = self.config.importance_weights
        # importance_score without a reward is its priority term (the hot path spares the call; tested equal)
        importance = importance_score(content, priority, weights) if "reward" in content else weights.priority * priority
        now = time.time()
        return MemoryRecord(f"{agent_id}:{self.id_prefix}{next(self.counter):x}", agent_id, step_number,
                            memory_type, data, priority, importance, now, now, now, 0, len(raw))

    def many(self, agent_id: str, contents: Sequence[Any], steps: Sequence[int], priorities: Sequence[float],
             memory_type: str) -> list[MemoryRecord]:
        """The records of new memories of one agent (one timestamp for all)."""
        encode_raw, encode, counter = self.encode_raw, self.encode, self.counter
        weights = self.config.importance_weights
        prefix = f"{agent_id}:{self.id_prefix}"
        now = time.time()
        records = []
        for content, step_number, priority in zip(contents, steps, priorities):
            raw = encode_raw(content)
            data = raw if encode is None else encode(content)
            records.append(MemoryRecord(f"{prefix}{next(counter):x}", agent_id, step_number, memory_type, data,
                                        priority, importance_score(content, priority, weights),
                                        now, now, now, 0, len(raw)))
        return records
