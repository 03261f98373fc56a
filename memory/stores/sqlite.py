"""The LTM store: one SQLite file (WAL mode), indexed on (agent_id, step_number), outliving the process."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from ..entry import MemoryRecord
from ..errors import CorruptDataError, StorageError
from .ltm import COLUMNS, LTMStore, record_row

SCHEMA_VERSION = 1
LEGACY_DICTIONARY_KEY = "zlib_dictionary"  # meta key of the one dictionary of files whose records name none


class SQLiteStore(LTMStore):
    """Records in a SQLite table; vectors as raw float32 blobs next to them; the LTM codec's dictionaries.

    Damaged rows: `get`/`get_many` raise CorruptDataError naming the memory; `records`/`records_in_steps`
    skip them with a CorruptDataWarning and count them (`corrupt_skipped`).
    """

    def __init__(self, path: str, dim: int) -> None:
        super().__init__(dim, f"LTM database {path!r}")
        self.path = path
        self.shared = path != ":memory:"
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(f"""
                CREATE TABLE IF NOT EXISTS memories (
                    memory_id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, step_number INTEGER NOT NULL,
                    memory_type TEXT NOT NULL, content BLOB NOT NULL, priority REAL NOT NULL,
                    importance REAL NOT NULL, created_at REAL NOT NULL, entered_at REAL NOT NULL,
                    last_accessed REAL NOT NULL, retrieval_count INTEGER NOT NULL, raw_bytes INTEGER NOT NULL,
                    embedding BLOB);
                CREATE INDEX IF NOT EXISTS memories_agent_step ON memories(agent_id, step_number);
                CREATE TABLE IF NOT EXISTS agent_versions (agent_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
                CREATE TABLE IF NOT EXISTS dictionaries (number INTEGER PRIMARY KEY, data BLOB NOT NULL);
                INSERT OR IGNORE INTO meta VALUES ('schema_version', {SCHEMA_VERSION});
                INSERT OR IGNORE INTO meta VALUES ('ltm_dim', {int(dim)});
            """)
            stored_dim = self.get_meta("ltm_dim")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open LTM database {path!r}: {exc}") from exc
        if type(stored_dim) is not int:
            self._db.close()
            raise CorruptDataError(f"LTM database {path!r}: meta 'ltm_dim' is damaged ({stored_dim!r})")
        if stored_dim != dim:
            self._db.close()
            raise StorageError(f"LTM database {path!r} holds {stored_dim}-dim embeddings; "
                               f"this config uses ltm_dim={dim}")

    # -- helpers -------------------------------------------------------------------------------
    def _run(self, fn):
        with self._lock:
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """`with self._transaction() as db:` the block as one BEGIN IMMEDIATE transaction, under the lock:
        committed when the block ends, rolled back on any exception (re-raised; sqlite3.Error as StorageError)."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _error(self, exc: sqlite3.Error) -> StorageError:
        """A driver error as StorageError naming the file."""
        return StorageError(f"LTM database {self.path!r}: {exc}")

    def _bump(self, db: sqlite3.Connection, agent_id: str) -> int:
        db.execute("INSERT INTO agent_versions VALUES (?, 1) ON CONFLICT(agent_id) DO UPDATE SET version = version + 1",
                   (agent_id,))
        return db.execute("SELECT version FROM agent_versions WHERE agent_id = ?", (agent_id,)).fetchone()[0]

    def get_meta(self, key: str) -> Optional[bytes]:
        """A value from the meta table (encoder weights, dims), or None."""
        row = self._run(lambda db: db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone())
        return None if row is None else row[0]

    def set_meta(self, key: str, value: bytes) -> None:
        """Write a value to the meta table."""
        self._run(lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value)))

    # -- the LTM codec's preset dictionaries (a DictionarySource): numbered, write-once ----------
    def current_dictionary(self) -> Optional[tuple[int, bytes]]:
        """The newest (number, dictionary), or None before the first was agreed."""
        row = self._run(lambda db: db.execute(
            "SELECT number, data FROM dictionaries ORDER BY number DESC LIMIT 1").fetchone())
        return None if row is None else self._dictionary_row(row)

    def dictionary(self, number: int) -> Optional[bytes]:
        """Dictionary `number`, or None."""
        row = self._run(lambda db: db.execute(
            "SELECT number, data FROM dictionaries WHERE number = ?", (number,)).fetchone())
        return None if row is None else self._dictionary_row(row)[1]

    def agree_dictionary(self, proposal: bytes) -> tuple[int, bytes]:
        """Store dictionary 1 unless one exists (first writer wins, in one transaction); returns the winner.

        A file of the previous format keeps its one dictionary: it becomes number 1 instead of `proposal`."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO dictionaries (number, data) VALUES "
                       "(1, COALESCE((SELECT value FROM meta WHERE key = ?), ?))",
                       (LEGACY_DICTIONARY_KEY, bytes(proposal)))
            row = db.execute("SELECT number, data FROM dictionaries ORDER BY number DESC LIMIT 1").fetchone()
        return self._dictionary_row(row)

    def legacy_dictionary(self) -> Optional[bytes]:
        """The dictionary of headerless records (files written before records named theirs), or None."""
        value = self.get_meta(LEGACY_DICTIONARY_KEY)
        if value is not None and type(value) is not bytes:
            raise CorruptDataError(f"LTM database {self.path!r}: meta {LEGACY_DICTIONARY_KEY!r} is damaged")
        return value

    # -- the protocol --------------------------------------------------------------------------
    def add(self, records: Sequence[MemoryRecord]) -> int:
        if not records:
            return 0
        rows = [record_row(r) for r in records]
        with self._transaction() as db:
            db.executemany(f"INSERT OR REPLACE INTO memories ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            return self._bump(db, records[0].agent_id)

    def get(self, memory_id: str) -> Optional[MemoryRecord]:
        row = self._run(lambda db: db.execute(
            f"SELECT {COLUMNS} FROM memories WHERE memory_id = ?", (memory_id,)).fetchone())
        return None if row is None else self._record(row)

    def get_many(self, memory_ids: Sequence[str]) -> list[Optional[MemoryRecord]]:
        ids = list(memory_ids)
        found = {row[0]: self._record(row) for row in self._rows_by_id(ids)}
        return [found.get(m) for m in ids]

    def _rows_by_id(self, ids: list) -> list[tuple]:
        """The rows of these ids (500 per query)."""
        return self._run(lambda db: self._select_by_id(db, ids))

    @staticmethod
    def _select_by_id(db: sqlite3.Connection, ids: list, agent_id: Optional[str] = None) -> list[tuple]:
        """The rows of these ids (of `agent_id` only, when given), 500 per query, on connection `db`."""
        rows: list[tuple] = []
        only = " AND agent_id = ?" if agent_id is not None else ""
        for lo in range(0, len(ids), 500):
            chunk = ids[lo:lo + 500]
            marks = ",".join("?" * len(chunk))
            args = [*chunk, agent_id] if agent_id is not None else chunk
            rows.extend(db.execute(f"SELECT {COLUMNS} FROM memories WHERE memory_id IN ({marks}){only}",
                                   args).fetchall())
        return rows

    def flush_touches(self) -> None:
        """Write pending retrieval counts (kept in memory between flushes to spare a commit per read)."""
        if not self._touched:
            return
        rows = self._take_touches()
        self._run(lambda db: db.executemany(
            "UPDATE memories SET retrieval_count = ?, last_accessed = ? WHERE memory_id = ?", rows))

    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Delete these memories of `agent_id`; return the ones this call deleted. The rows are read
        inside the deleting transaction, so when processes sharing the file remove the same memory at
        once, exactly one of them gets it back (and counts it as forgotten or moved)."""
        ids = list(memory_ids)
        with self._transaction() as db:  # damaged rows of the agent go too: they were asked for
            rows = self._select_by_id(db, ids, agent_id)
            db.executemany("DELETE FROM memories WHERE memory_id = ? AND agent_id = ?", [(m, agent_id) for m in ids])
            self._bump(db, agent_id)
        return self._removed(rows)

    def records(self, agent_id: str) -> list[MemoryRecord]:
        rows = self._run(lambda db: db.execute(
            f"SELECT {COLUMNS} FROM memories WHERE agent_id = ? ORDER BY step_number", (agent_id,)).fetchall())
        return self._records(rows)

    def records_in_steps(self, agent_id: str, start: int, end: int) -> list[MemoryRecord]:
        """Records with start <= step <= end, by step (uses the (agent_id, step) index)."""
        rows = self._run(lambda db: db.execute(
            f"SELECT {COLUMNS} FROM memories WHERE agent_id = ? AND step_number BETWEEN ? AND ? "
            "ORDER BY step_number", (agent_id, start, end)).fetchall())
        return self._records(rows)

    def count(self, agent_id: str) -> int:
        return self._run(lambda db: db.execute(
            "SELECT COUNT(*) FROM memories WHERE agent_id = ?", (agent_id,)).fetchone()[0])

    def agent_ids(self) -> Iterable[str]:
        return [r[0] for r in self._run(lambda db: db.execute("SELECT DISTINCT agent_id FROM memories").fetchall())]

    def stored_bytes(self, agent_id: str) -> tuple[int, int]:
        row = self._run(lambda db: db.execute(
            "SELECT COALESCE(SUM(LENGTH(content)), 0), COALESCE(SUM(raw_bytes), 0) FROM memories WHERE agent_id = ?",
            (agent_id,)).fetchone())
        return int(row[0]), int(row[1])

    def version(self, agent_id: str) -> int:
        row = self._run(lambda db: db.execute(
            "SELECT version FROM agent_versions WHERE agent_id = ?", (agent_id,)).fetchone())
        return 0 if row is None else row[0]

    def update_vectors(self, agent_id: str, memory_ids: Sequence[str], vectors: np.ndarray) -> int:
        rows = [(np.asarray(v, dtype=np.float32).tobytes(), m) for m, v in zip(memory_ids, vectors)]
        with self._transaction() as db:
            db.executemany("UPDATE memories SET embedding = ? WHERE memory_id = ?", rows)
            return self._bump(db, agent_id)

    def clear(self) -> None:
        self._touched.clear()
        with self._transaction() as db:  # a failing statement rolls both back: no transaction is left open
            db.execute("DELETE FROM memories")
            db.execute("UPDATE agent_versions SET version = version + 1")

    def close(self) -> None:
        with self._lock:
            try:
                self.flush_touches()
                self._db.close()
            except sqlite3.Error:
                pass
