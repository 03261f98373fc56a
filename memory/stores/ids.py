"""Memory ids carry their agent: '<agent_id>:<system prefix><counter>' (the agent part may hold ':' too).

An id splits at its last ':' into its agent part and its suffix. The batch forms parse a whole list in
one call: the stores' batch paths pay no function call per id."""

from __future__ import annotations

from typing import Iterable, Optional, Sequence


def split_id(memory_id: str) -> tuple[str, str]:
    """(agent part, suffix); the agent part is '' when the id has no ':'."""
    head, _, suffix = memory_id.rpartition(":")
    return head, suffix


def agent_of(memory_id: str) -> Optional[str]:
    """The agent id inside a memory id, or None when the id is not of this form."""
    return memory_id.rpartition(":")[0] or None


def suffixes(memory_ids: Iterable[str]) -> list[str]:
    """The suffix of each id, in order."""
    return [m.rpartition(":")[2] for m in memory_ids]


def of_agent(agent_id: str, memory_ids: Iterable) -> list[str]:
    """The ids among `memory_ids` that are str and whose agent part is `agent_id`, in order."""
    return [m for m in memory_ids if type(m) is str and m.rpartition(":")[0] == agent_id]


def by_agent(memory_ids: Sequence) -> dict[str, list[int]]:
    """The positions in `memory_ids` of each agent's ids, in order (ids not str, or with no agent part, left out)."""
    groups: dict[str, list[int]] = {}
    for i, mid in enumerate(memory_ids):
        if type(mid) is str:
            agent_id = mid.rpartition(":")[0]
            if agent_id:
                groups.setdefault(agent_id, []).append(i)
    return groups
