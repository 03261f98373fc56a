"""The numpy floor: one float32 matrix of unit rows per agent, searched by one matrix-vector product.

The physical reference for exact search: nothing is stored but the rows themselves (states kept as
the dicts given, not copied), so a peer that is slower than this pays for what it does beyond the
arithmetic. Top-k is ``argpartition`` + sort of the k best (ties by row order).
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from .protocol import Batch, Hit, Peer, Query, Record, Scalar, normalized
from .rows import RowBook


def top_rows(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple:
    """(rows, similarities) of the k largest dot products of the unit rows with the unit query, best first."""
    sims = matrix @ query
    k = min(k, len(sims))
    best = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    order = np.lexsort((best, -sims[best]))
    return best[order], sims[best][order]


class NumpyPeer(Peer):
    """Brute force over one numpy matrix per agent (exact)."""

    name = "numpy"
    description = "numpy brute force: one float32 matrix per agent, one matrix-vector product per query"
    exact = True
    persistent = False

    def _open(self) -> None:
        self.book = RowBook()
        self.chunks: Dict[str, List[np.ndarray]] = {}  # rows stored since the matrix was last joined
        self.matrices: Dict[str, np.ndarray] = {}

    def _store(self, batch: Batch) -> List[str]:
        self.chunks.setdefault(batch.agent_id, []).append(normalized(batch.vectors))
        return self.book.add(batch.agent_id, batch.steps, batch.states)

    def _matrix(self, agent_id: str) -> Optional[np.ndarray]:
        """The agent's rows as one matrix (joining what was stored since the last search)."""
        pending = self.chunks.pop(agent_id, None)
        if pending:
            parts = ([self.matrices[agent_id]] if agent_id in self.matrices else []) + pending
            self.matrices[agent_id] = np.ascontiguousarray(np.concatenate(parts))
        return self.matrices.get(agent_id)

    def _read(self, memory_id: str) -> Optional[Record]:
        return self.book.read(memory_id)

    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        matrix = self._matrix(agent_id)
        if matrix is None:
            return []
        rows, sims = top_rows(matrix, normalized(query.vector), k)
        agent = self.book.rows(agent_id)
        return [Hit(agent.record(int(r)), float(s)) for r, s in zip(rows, sims)]

    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        return self.book.rows(agent_id).in_steps(start, end)

    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        return self.book.rows(agent_id).matching(attributes)
