"""What the in-process peers (numpy, faiss) share: per agent, the rows they hold besides the vectors.

:class:`AgentRows` keeps one agent's ids, steps and states in insertion order, answers step ranges
with a mask over a steps array and attribute equality by a scan of the states (brute force, as the
numpy floor should), and builds the :class:`~memory.benchmarking.peers.protocol.Record` of a row.
:class:`RowBook` maps memory ids to (agent, row) for reads by id.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .protocol import Record, Scalar, same_value


class AgentRows:
    """One agent's memories in insertion order: ids, steps, states."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.ids: List[str] = []
        self.states: List[Dict[str, Any]] = []
        self.step_list: List[int] = []
        self._steps: Optional[np.ndarray] = None  # the array form of step_list, rebuilt after a store

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, steps: Sequence[int], states: Sequence[Dict[str, Any]]) -> List[str]:
        """Append rows; return their new ids (``<agent>:<row>``)."""
        first = len(self.ids)
        new = [f"{self.agent_id}:{first + i}" for i in range(len(states))]
        self.ids.extend(new)
        self.states.extend(states)
        self.step_list.extend(int(s) for s in steps)
        self._steps = None
        return new

    def record(self, row: int) -> Record:
        return Record(self.ids[row], self.agent_id, self.step_list[row], self.states[row])

    def records(self, rows: Sequence[int]) -> List[Record]:
        return [self.record(int(r)) for r in rows]

    def in_steps(self, start: int, end: int) -> List[Record]:
        """Rows with start <= step <= end, by step (then insertion order)."""
        if self._steps is None:
            self._steps = np.asarray(self.step_list, dtype=np.int64)
        rows = np.flatnonzero((self._steps >= start) & (self._steps <= end))
        return self.records(rows[np.argsort(self._steps[rows], kind="stable")])

    def matching(self, attributes: Dict[str, Scalar]) -> List[Record]:
        """Rows whose state equals every given top-level value, by step (then insertion order)."""
        items = list(attributes.items())
        rows = [row for row, state in enumerate(self.states)
                if all(key in state and same_value(state[key], value) for key, value in items)]
        rows.sort(key=lambda row: self.step_list[row])
        return self.records(rows)


class RowBook:
    """Every agent's rows, and where each memory id lives."""

    def __init__(self) -> None:
        self.agents: Dict[str, AgentRows] = {}
        self.where: Dict[str, Tuple[AgentRows, int]] = {}

    def rows(self, agent_id: str) -> AgentRows:
        """The agent's rows (created empty on first use)."""
        rows = self.agents.get(agent_id)
        if rows is None:
            rows = self.agents[agent_id] = AgentRows(agent_id)
        return rows

    def add(self, agent_id: str, steps: Sequence[int], states: Sequence[Dict[str, Any]]) -> List[str]:
        rows = self.rows(agent_id)
        first = len(rows)
        ids = rows.extend(steps, states)
        self.where.update((mid, (rows, first + i)) for i, mid in enumerate(ids))
        return ids

    def read(self, memory_id: str) -> Optional[Record]:
        found = self.where.get(memory_id)
        return found[0].record(found[1]) if found is not None else None
