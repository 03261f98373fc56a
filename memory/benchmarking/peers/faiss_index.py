"""FAISS (``faiss-cpu``) as an index-only reference: one exact ``IndexFlatIP`` of unit rows per agent.

FAISS holds vectors, nothing else: the states, steps and ids live beside it in Python (as the numpy
floor keeps them), so step ranges and attribute filters are the floor's; what differs from numpy is
the similarity search itself (FAISS's SIMD kernels instead of a BLAS matrix-vector product).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from .protocol import Batch, Hit, Peer, Query, Record, Scalar, normalized, require_module
from .rows import RowBook


class FaissPeer(Peer):
    """faiss.IndexFlatIP per agent over unit vectors (exact inner product = cosine)."""

    name = "faiss"
    description = "faiss-cpu IndexFlatIP per agent (exact); ids, steps and states beside it in Python"
    exact = True
    persistent = False

    def _open(self) -> None:
        self.faiss = require_module(self.name, "faiss", "faiss-cpu")
        self.book = RowBook()
        self.indexes: Dict[str, Any] = {}

    def _store(self, batch: Batch) -> List[str]:
        vectors = np.ascontiguousarray(normalized(batch.vectors))
        index = self.indexes.get(batch.agent_id)
        if index is None:
            index = self.indexes[batch.agent_id] = self.faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        return self.book.add(batch.agent_id, batch.steps, batch.states)

    def _read(self, memory_id: str) -> Optional[Record]:
        return self.book.read(memory_id)

    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        index = self.indexes.get(agent_id)
        if index is None or index.ntotal == 0:
            return []
        sims, rows = index.search(normalized(query.vector)[None, :], min(k, index.ntotal))
        agent = self.book.rows(agent_id)
        return [Hit(agent.record(int(r)), float(s)) for r, s in zip(rows[0], sims[0]) if r >= 0]

    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        return self.book.rows(agent_id).in_steps(start, end)

    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        return self.book.rows(agent_id).matching(attributes)
