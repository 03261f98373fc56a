"""Memory ids carry their agent: '<agent_id>:<system prefix><counter>'."""

from __future__ import annotations

from typing import Optional


def agent_of(memory_id: str) -> Optional[str]:
    """The agent id inside a memory id, or None when the id is not of this form."""
    head, sep, _ = memory_id.rpartition(":")
    return head if sep and head else None
