"""The memory record as stores keep it, and the memory dict the public API returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

MEMORY_TYPES = ("state", "action", "interaction")  # a record's memory_type; its code is its position here
TYPE_CODES = {name: code for code, name in enumerate(MEMORY_TYPES)}  # memory_type -> code (indexes, Redis header)


@dataclass(slots=True)
class MemoryRecord:
    """One memory as a store holds it: content already encoded by the tier's codec."""

    memory_id: str
    agent_id: str
    step_number: int
    memory_type: str          # one of MEMORY_TYPES
    content: bytes            # as stored (the tier's codec)
    priority: float
    importance: float
    created_at: float         # when it was first stored (wall clock, seconds)
    entered_at: float         # when it entered its current tier
    last_accessed: float
    retrieval_count: int
    raw_bytes: int            # size of the full-resolution content when first stored
    vector: Optional[np.ndarray] = None  # the tier's unit embedding, where the store keeps it


def to_memory(rec: MemoryRecord, tier: str, content: Any) -> dict[str, Any]:
    """The public memory dict for a record."""
    return {
        "memory_id": rec.memory_id,
        "agent_id": rec.agent_id,
        "step_number": rec.step_number,
        "memory_type": rec.memory_type,
        "tier": tier,
        "content": content,
        "metadata": {
            "importance": rec.importance,
            "priority": rec.priority,
            "retrieval_count": rec.retrieval_count,
            "created_at": rec.created_at,
            "last_accessed": rec.last_accessed,
            "stored_bytes": len(rec.content),
        },
    }
