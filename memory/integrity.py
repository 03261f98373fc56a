"""Corrupt stored data that a listing or search skips: a warning once per record, and a count per agent.

Reading one memory by id raises CorruptDataError; an operation over many memories (a search, a time range,
maintenance, an index rebuild) must not fail for every query of an agent because one record is damaged,
so it skips the record, warns once (CorruptDataWarning) and counts it where statistics can report it.
"""

from __future__ import annotations

import warnings
from typing import Optional

from .errors import CorruptDataError


class CorruptDataWarning(RuntimeWarning):
    """A damaged record was skipped (it stays stored, unread); the message names it and why."""


class CorruptionLog:
    """The distinct damaged records one tier or store skipped, by agent."""

    def __init__(self, where: str) -> None:
        self.where = where
        self._ids: dict[str, set[str]] = {}

    def skip(self, agent_id: str, error: CorruptDataError) -> None:
        """Note a skipped record; the first time it is seen, issue a CorruptDataWarning."""
        memory_id = error.memory_id if error.memory_id is not None else "?"
        seen = self._ids.setdefault(agent_id, set())
        if memory_id not in seen:
            seen.add(memory_id)
            warnings.warn(f"{self.where}: skipped a damaged record: {error}", CorruptDataWarning, stacklevel=3)

    def count(self, agent_id: Optional[str] = None) -> int:
        """How many distinct damaged records were skipped (for one agent, or all)."""
        if agent_id is not None:
            return len(self._ids.get(agent_id, ()))
        return sum(len(ids) for ids in self._ids.values())
