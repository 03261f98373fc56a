"""VectorIndex: one agent's memories in one tier as contiguous numpy columns.

Rows hold the unit embedding and the few scalars that search, step-range queries and retention
scoring need, so each of those is a handful of vectorised operations. Rows grow by doubling;
removal is swap-remove. Rows may be added before their vector is known (`pending`): the vectors
of a run of stores are computed together, at the latest on the next read.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ..entry import TYPE_CODES


class VectorIndex:
    """Columns of one agent's memories in one tier; row order is arbitrary."""

    def __init__(self, dim: int, capacity: int = 64) -> None:
        self.dim = dim
        self.n = 0
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        self.vecs = np.zeros((capacity, dim), dtype=np.float32)
        self.steps = np.zeros(capacity, dtype=np.int64)
        self.types = np.zeros(capacity, dtype=np.int8)
        self.entered = np.zeros(capacity, dtype=np.float64)  # when the memory entered this tier
        self.importance = np.zeros(capacity, dtype=np.float32)
        self.retrievals = np.zeros(capacity, dtype=np.int32)
        self.max_step = -1
        self._pending: list[tuple[int, int, float, float]] = []  # (step, type, entered, importance) per appended row
        self._resolve: Optional[Callable[[], np.ndarray]] = None

    def __len__(self) -> int:
        return len(self.ids)

    # -- writes --------------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        cap = len(self.steps)
        if need <= cap:
            return
        new = max(need, cap * 2)
        for name in ("vecs", "steps", "types", "entered", "importance", "retrievals"):
            old = getattr(self, name)
            arr = np.zeros((new,) + old.shape[1:], dtype=old.dtype)
            arr[: self.n] = old[: self.n]
            setattr(self, name, arr)

    def append(self, memory_id: str, step: int, type_code: int, entered: float, importance: float) -> int:
        """Add one row whose columns and vector are written on the next `flush` (the hot write path);
        returns how many rows now wait for it."""
        self.row[memory_id] = len(self.ids)
        self.ids.append(memory_id)
        pending = self._pending
        pending.append((step, type_code, entered, importance))
        if step > self.max_step:
            self.max_step = step
        return len(pending)

    def add(self, ids: Sequence[str], vecs: np.ndarray, steps: Sequence[int], type_codes: Sequence[int],
            entered: Sequence[float], importance: Sequence[float], retrievals: Optional[Sequence[int]] = None) -> None:
        """Add rows with their vectors known."""
        self.flush()
        k = len(ids)
        if k == 0:
            return
        n = self.n
        self._grow(n + k)
        self.ids.extend(ids)
        for j, mid in enumerate(ids):
            self.row[mid] = n + j
        self.vecs[n:n + k] = vecs
        self.steps[n:n + k] = steps
        self.types[n:n + k] = type_codes
        self.entered[n:n + k] = entered
        self.importance[n:n + k] = importance
        self.retrievals[n:n + k] = 0 if retrievals is None else retrievals
        self.max_step = max(self.max_step, int(np.max(self.steps[n:n + k])))
        self.n = n + k

    def add_records(self, records: Sequence, vecs: np.ndarray) -> None:
        """Add rows for memory records (MemoryRecord-like) with their known vectors."""
        self.add([r.memory_id for r in records], vecs, [r.step_number for r in records],
                 [TYPE_CODES[r.memory_type] for r in records], [r.entered_at for r in records],
                 [r.importance for r in records], [r.retrieval_count for r in records])

    def set_pending(self, resolve: Callable[[], np.ndarray]) -> None:
        """Register how to compute the vectors of rows appended since the last flush."""
        self._resolve = resolve

    def flush(self) -> None:
        """Write pending rows: their scalar columns, and their vectors computed together."""
        if not self._pending:
            return
        pending = self._pending
        self._pending = []
        lo, k = self.n, len(pending)
        self._grow(lo + k)
        cols = np.array(pending, dtype=np.float64).reshape(k, 4)
        self.steps[lo:lo + k] = cols[:, 0]
        self.types[lo:lo + k] = cols[:, 1]
        self.entered[lo:lo + k] = cols[:, 2]
        self.importance[lo:lo + k] = cols[:, 3]
        self.retrievals[lo:lo + k] = 0
        self.vecs[lo:lo + k] = self._resolve() if self._resolve is not None else 0.0
        self.n = lo + k

    def remove(self, memory_ids: Sequence[str]) -> int:
        """Delete rows (absent ids are ignored); returns how many were removed. O(removed), not O(rows)."""
        self.flush()
        row = self.row
        gone = sorted({r for r in map(row.get, memory_ids) if r is not None})
        k = len(gone)
        if k == 0:
            return 0
        n = self.n
        m = n - k
        ids = self.ids
        holes = [r for r in gone if r < m]           # removed rows that survivors must fill
        tail = set(gone[len(holes):])                # removed rows already in the tail
        fillers = [r for r in range(m, n) if r not in tail]
        for r in gone:
            del row[ids[r]]
        if holes:
            h = np.asarray(holes)
            f = np.asarray(fillers)
            for arr in (self.vecs, self.steps, self.types, self.entered, self.importance, self.retrievals):
                arr[h] = arr[f]
            for hole, filler in zip(holes, fillers):
                moved = ids[filler]
                ids[hole] = moved
                row[moved] = hole
        del ids[m:]
        self.n = m
        return k

    def take(self, memory_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Copies of the columns for `memory_ids` (which must be present)."""
        self.flush()
        rows = np.fromiter((self.row[m] for m in memory_ids), dtype=np.int64, count=len(memory_ids))
        return {"vecs": self.vecs[rows].copy(), "steps": self.steps[rows].copy(), "types": self.types[rows].copy(),
                "importance": self.importance[rows].copy(), "retrievals": self.retrievals[rows].copy()}

    def note_retrieval(self, memory_id: str) -> None:
        """Count one retrieval of a memory (it raises its retention score)."""
        r = self.row.get(memory_id)
        if r is not None:
            if r >= self.n:
                self.flush()
            self.retrievals[r] += 1

    def clear(self) -> None:
        """Drop every row."""
        self.__init__(self.dim)

    # -- reads ---------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, type_code: Optional[int] = None,
               threshold: Optional[float] = None) -> tuple[list[str], np.ndarray]:
        """Ids and cosine similarities of the k rows most similar to a unit `query`, best first."""
        self.flush()
        n = self.n
        if n == 0 or k <= 0:
            return [], np.zeros(0, dtype=np.float32)
        sims = self.vecs[:n] @ query
        if type_code is not None:
            sims[self.types[:n] != type_code] = -np.inf
        if k < n:
            top = np.argpartition(sims, n - k)[n - k:]
            top = top[np.argsort(-sims[top], kind="stable")]
        else:
            top = np.argsort(-sims, kind="stable")
        best = sims[top]
        keep = best > -np.inf
        if threshold is not None:  # cosines lie in [-1, 1]: a bound beyond ±2 means the same, without overflowing float32
            keep &= best >= min(max(threshold, -2.0), 2.0)
        top, best = top[keep], best[keep]
        ids = self.ids
        return [ids[r] for r in top], best

    def rows_in_steps(self, start: int, end: int, type_code: Optional[int] = None) -> list[str]:
        """Ids with start <= step <= end, ordered by step."""
        self.flush()
        steps = self.steps[: self.n]
        mask = (steps >= start) & (steps <= end)
        if type_code is not None:
            mask &= self.types[: self.n] == type_code
        rows = np.flatnonzero(mask)
        rows = rows[np.argsort(steps[rows], kind="stable")]
        return [self.ids[r] for r in rows]

    def centroid(self) -> np.ndarray:
        """Unit mean of the rows' vectors (zeros when empty)."""
        self.flush()
        if self.n == 0:
            return np.zeros(self.dim, dtype=np.float32)
        c = self.vecs[: self.n].mean(axis=0)
        norm = float(np.linalg.norm(c))
        return c / norm if norm > 0 else c
