"""What every LTM store shares (SQLite file, PostgreSQL server): rows as records, damaged rows, the meta
values and preset dictionaries of the LTM codec, buffered retrieval counts.

An LTM store keeps one table of rows in `COLUMNS` order; a row becomes a MemoryRecord here, with a
CorruptDataError naming the memory when a column holds what no write stores. `get`/`get_many` raise it;
listings (`records`, `records_in_steps`, `remove`) skip such rows with a CorruptDataWarning and count them
(`corrupt_skipped`). It is also the LTM codec's DictionarySource (numbered, write-once dictionaries) and
keeps the autoencoder weights (`get_meta`/`set_meta`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Optional, Sequence

import numpy as np

from ..entry import TYPE_CODES, MemoryRecord
from ..errors import CorruptDataError
from ..integrity import CorruptionLog
from .base import MemoryStore

COLUMNS = ("memory_id, agent_id, step_number, memory_type, content, priority, importance, created_at, "
           "entered_at, last_accessed, retrieval_count, raw_bytes, embedding")
COLUMN_TYPES = (str, str, int, str, bytes, float, float, float, float, float, int, int, bytes)
TOUCH_FLUSH = 1024  # pending retrieval-count updates written together
F32 = np.dtype(np.float32)  # a dtype object: np.frombuffer would convert the type on every row


def record_row(r: MemoryRecord) -> tuple:
    """A record as a row in `COLUMNS` order (the vector as float32 bytes, or None)."""
    return (r.memory_id, r.agent_id, r.step_number, r.memory_type, r.content, r.priority, r.importance,
            r.created_at, r.entered_at, r.last_accessed, r.retrieval_count, r.raw_bytes,
            None if r.vector is None else np.asarray(r.vector, dtype=np.float32).tobytes())


class LTMStore(MemoryStore):
    """The LTM store base: rows in `COLUMNS` order as records; a subclass runs the queries.

    `where` names the store in every message ("LTM database '/path/ltm.db'", a masked server URL)."""

    keeps_vectors = True
    answers_step_ranges = True

    def __init__(self, dim: int, where: str) -> None:
        self.dim = dim
        self.where = where
        self._vec_bytes = 4 * int(dim)
        self._touched: dict[str, tuple[int, float]] = {}
        self.corruption = CorruptionLog(where)

    # -- rows as records ----------------------------------------------------------------------
    def _record(self, row: tuple) -> MemoryRecord:
        """A row as a record; CorruptDataError naming the memory when a column holds what no write stores."""
        mid, agent, step, mtype, content, pri, imp, created, entered, last, count, raw, emb = row
        if (type(content) is not bytes or type(step) is not int or mtype not in TYPE_CODES
                or type(agent) is not str or type(count) is not int or type(raw) is not int
                or type(pri) is not float or type(imp) is not float or type(created) is not float
                or type(entered) is not float or type(last) is not float
                or (emb is not None and (type(emb) is not bytes or len(emb) != self._vec_bytes))):
            raise self._damaged(row)
        vec = np.frombuffer(emb, F32) if emb is not None else None
        touched = self._touched.get(mid)
        if touched is not None:
            count, last = touched
        return MemoryRecord(mid, agent, step, mtype, content, pri, imp, created, entered, last, count, raw, vec)

    def _damaged(self, row: tuple) -> CorruptDataError:
        """The error for a row `_record` refused: which columns are wrong."""
        names = COLUMNS.split(", ")
        bad = [n for n, v, t in zip(names, row, COLUMN_TYPES)
               if type(v) is not t and not (n == "embedding" and v is None)]
        if row[3] not in TYPE_CODES and "memory_type" not in bad:
            bad.append("memory_type")
        if type(row[12]) is bytes and len(row[12]) != self._vec_bytes:
            bad.append(f"embedding ({len(row[12])} bytes, not {self._vec_bytes})")
        return CorruptDataError(f"{self.where}: row of memory {row[0]!r} is damaged ({', '.join(bad)})",
                                memory_id=str(row[0]))

    def _records(self, rows: Sequence[tuple]) -> list[MemoryRecord]:
        """Rows of a listing as records, skipping (warning, counting) damaged ones."""
        try:
            return [self._record(row) for row in rows]
        except CorruptDataError:
            pass
        out = []
        for row in rows:
            try:
                out.append(self._record(row))
            except CorruptDataError as exc:
                self.corruption.skip(str(row[1]), exc)
        return out

    def _removed(self, rows: Sequence[tuple]) -> list[MemoryRecord]:
        """The records of rows a `remove` deleted (damaged ones skipped); their buffered touches dropped."""
        removed = self._records(rows)
        for r in removed:
            self._touched.pop(r.memory_id, None)
        return removed

    def corrupt_skipped(self, agent_id: Optional[str] = None) -> int:
        """Distinct damaged rows listings skipped (of one agent, or all) since this store was opened."""
        return self.corruption.count(agent_id)

    # -- retrieval counts, buffered --------------------------------------------------------------
    def touch(self, records: Sequence[MemoryRecord]) -> None:
        for r in records:
            self._touched[r.memory_id] = (r.retrieval_count, r.last_accessed)
        if len(self._touched) >= TOUCH_FLUSH:
            self.flush_touches()

    def _take_touches(self) -> list[tuple[int, float, str]]:
        """The pending retrieval counts as (count, last_accessed, memory_id) rows, emptying the buffer."""
        rows = [(c, t, m) for m, (c, t) in self._touched.items()]
        self._touched.clear()
        return rows

    # -- meta values and the LTM codec's preset dictionaries (a DictionarySource) ------------------
    @abstractmethod
    def get_meta(self, key: str) -> Optional[bytes]:
        """A stored value (encoder weights, dims), or None."""

    @abstractmethod
    def set_meta(self, key: str, value: bytes) -> None:
        """Store a value under `key` (replacing any)."""

    @abstractmethod
    def current_dictionary(self) -> Optional[tuple[int, bytes]]:
        """The newest (number, dictionary), or None before the first was agreed."""

    @abstractmethod
    def dictionary(self, number: int) -> Optional[bytes]:
        """Dictionary `number`, or None."""

    @abstractmethod
    def agree_dictionary(self, proposal: bytes) -> tuple[int, bytes]:
        """Store dictionary 1 unless one exists (the first writer wins, atomically); returns the winner."""

    def legacy_dictionary(self) -> Optional[bytes]:
        """The dictionary of headerless records of the previous format; this default: none were written."""
        return None

    def _dictionary_row(self, row: tuple) -> tuple[int, bytes]:
        if type(row[0]) is not int or type(row[1]) is not bytes:
            raise CorruptDataError(f"{self.where}: preset dictionary {row[0]!r} is damaged")
        return row[0], row[1]
