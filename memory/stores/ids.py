"""Memory ids carry their agent: '<agent_id>:<system prefix><counter>' (the agent part may hold ':' too)."""

from __future__ import annotations

from typing import Optional


def split_id(memory_id: str) -> tuple[str, str]:
    """(agent part, suffix) split at the last ':'; the agent part is '' when the id has no ':'."""
    head, _, suffix = memory_id.rpartition(":")
    return head, suffix


def agent_of(memory_id: str) -> Optional[str]:
    """The agent id inside a memory id, or None when the id is not of this form."""
    return memory_id.rpartition(":")[0] or None


def suffix_of(memory_id: str) -> str:
    """The part of a memory id after its agent id (the whole id when it has no ':')."""
    return memory_id.rpartition(":")[2]
