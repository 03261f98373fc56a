"""sqlite-vec: one SQLite file, a ``vec0`` virtual table partitioned by agent, and a plain table of rows.

``vec0(agent_id text partition key, embedding float[dim] distance_metric=cosine)`` keeps each agent's
vectors apart, so a top-k within an agent scans that agent's vectors only (exact brute force, in C).
The rows table holds step, state (JSON) and one column per declared attribute, indexed on
(agent_id, step) and (agent_id, attribute). Ids are the rowid as a string.

Python's ``sqlite3`` must be able to load extensions; many builds (pyenv's default, this project's CI)
cannot, and then the ``sqlean-py`` package (a drop-in ``sqlite3`` with extension loading) is used.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, Dict, List, Optional

import orjson

from .protocol import (Batch, Hit, Peer, PeerUnavailable, Query, Record, Scalar, require_module, same_value,
                       scalar_attributes)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def sqlite_module(peer: str) -> ModuleType:
    """The stdlib ``sqlite3`` when it can load extensions, else ``sqlean`` (sqlean-py); PeerUnavailable if neither."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import sqlean
    except ImportError:
        raise PeerUnavailable(peer, "this Python's sqlite3 cannot load extensions and the sqlean-py package "
                                    "(a sqlite3 that can) is not installed: pip install sqlean-py") from None
    return sqlean


class SqliteVecPeer(Peer):
    """sqlite-vec's vec0 table (partition key = agent) beside a rows table, in one SQLite file."""

    name = "sqlite-vec"
    description = "sqlite-vec vec0 (exact, partitioned by agent) + a rows table, one SQLite file"
    exact = True
    persistent = True

    def _open(self) -> None:
        sqlite_vec = require_module(self.name, "sqlite_vec", "sqlite-vec")
        for key in self.attributes:
            if not _IDENTIFIER.fullmatch(key):
                raise PeerUnavailable(self.name, f"attribute {key!r} is not a plain SQL column name")
        sqlite = sqlite_module(self.name)
        self.db = sqlite.connect(str(self.directory / "memories.db"))
        self.db.enable_load_extension(True)
        sqlite_vec.load(self.db)
        self.db.enable_load_extension(False)
        self.dim: Optional[int] = self._existing_dim()
        columns = "".join(f', "a_{key}"' for key in self.attributes)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, "
                        f"step INTEGER NOT NULL, state TEXT NOT NULL{columns})")
        self.db.execute("CREATE INDEX IF NOT EXISTS memories_agent_step ON memories (agent_id, step)")
        for key in self.attributes:
            self.db.execute(f'CREATE INDEX IF NOT EXISTS "memories_agent_{key}" ON memories (agent_id, "a_{key}")')
        self.db.commit()
        self.select = ", ".join(("id", "agent_id", "step", "state"))

    def _existing_dim(self) -> Optional[int]:
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'vectors'").fetchone() is None:
            return None
        found = self.db.execute("SELECT vec_length(embedding) FROM vectors LIMIT 1").fetchone()
        return int(found[0]) if found else None

    def _close(self) -> None:
        self.db.close()

    def _store(self, batch: Batch) -> List[str]:
        dim = batch.vectors.shape[1]
        if self.dim is None:
            self.db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS vectors USING vec0(agent_id TEXT PARTITION KEY, "
                            f"embedding FLOAT[{dim}] distance_metric=cosine)")
            self.dim = dim
        names = ["agent_id", "step", "state"] + [f'"a_{key}"' for key in self.attributes]
        insert = f"INSERT INTO memories ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        with self.db:
            first = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM memories").fetchone()[0] + 1
            rows = []
            for step, state in zip(batch.steps, batch.states):
                attrs = scalar_attributes(state, self.attributes)
                rows.append([batch.agent_id, int(step), orjson.dumps(state).decode("utf-8")]
                            + [attrs.get(key) for key in self.attributes])
            self.db.executemany(insert, rows)
            ids = list(range(first, first + len(rows)))
            self.db.executemany("INSERT INTO vectors (rowid, agent_id, embedding) VALUES (?, ?, ?)",
                                [(rowid, batch.agent_id, vector.tobytes())
                                 for rowid, vector in zip(ids, batch.vectors)])
        return [str(rowid) for rowid in ids]

    def _rows(self, sql: str, args: Any) -> List[Record]:
        return [Record(str(i), agent, int(step), orjson.loads(state))
                for i, agent, step, state in self.db.execute(sql, args)]

    def _read(self, memory_id: str) -> Optional[Record]:
        if not memory_id.isdigit():
            return None
        found = self._rows(f"SELECT {self.select} FROM memories WHERE id = ?", (int(memory_id),))
        return found[0] if found else None

    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        if self.dim is None:
            return []
        rows = self.db.execute(
            "SELECT m.id, m.agent_id, m.step, m.state, v.distance FROM (SELECT rowid, distance FROM vectors "
            "WHERE embedding MATCH ? AND k = ? AND agent_id = ?) AS v JOIN memories AS m ON m.id = v.rowid "
            "ORDER BY v.distance, m.id", (query.vector.tobytes(), k, agent_id)).fetchall()
        return [Hit(Record(str(i), agent, int(step), orjson.loads(state)), 1.0 - float(distance))
                for i, agent, step, state, distance in rows]

    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        return self._rows(f"SELECT {self.select} FROM memories WHERE agent_id = ? AND step BETWEEN ? AND ? "
                          "ORDER BY step, id", (agent_id, start, end))

    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        terms = " AND ".join(f'"a_{key}" = ?' for key in attributes)
        values = [_sql_value(v) for v in attributes.values()]
        # SQLite stores a bool as 0/1 and compares 1 = 1.0: check the JSON type for exact equality
        found = self._rows(f"SELECT {self.select} FROM memories WHERE agent_id = ? AND {terms} ORDER BY step, id",
                           [agent_id, *values])
        return [r for r in found if all(same_value(r.state.get(k), v) for k, v in attributes.items())]


def _sql_value(value: Scalar) -> Any:
    return int(value) if isinstance(value, bool) else value
