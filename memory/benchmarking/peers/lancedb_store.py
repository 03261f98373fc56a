"""LanceDB (``lancedb``), embedded: a database directory, one table per agent, searched without an index.

LanceDB answers a vector query by an exact scan until ``create_index`` is called (its default, and
what its documentation suggests below about 100 000 rows), so it is an exact peer here; an ANN index
(IVF-PQ) would trade recall for speed at large counts. One table per agent keeps a top-k free of a
filter (a prefiltered ``agent_id = ...`` on one shared table measured ~0.5 s per top-10 at 100 000
memories, ~0.2 s per table). Columns: ``seq`` (the memory's number in its table), ``step``,
``state`` (JSON), one ``a_<key>`` column per declared attribute, ``vector``. Ids are ``<agent key>:<seq>``.
Step ranges, attribute filters and reads by id are filtered scans (no scalar index).

Not reproducible: disk bytes differ by under 1 % between builds of the same memories. Lance
compresses string columns with FSST, whose symbol table it trains on a random sample of the strings
(an unseeded generator: the ``state`` column's size varied by ~2 %), and each commit's manifest
holds the commit time as a varint whose length varies. Writing strings with zstd (Lance's
``lance-encoding:compression`` field metadata) makes them reproducible but stores 1.3x slower and
step ranges 1.3x slower, so the adapter keeps Lance's defaults: the yardstick measures the library as
users run it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import orjson

from .chroma_store import agent_key
from .protocol import Batch, Hit, Peer, Query, Record, Scalar, UnsupportedQuery, require_module, scalar_attributes

COLUMNS = ["seq", "step", "state"]


def sql_literal(value: Scalar) -> str:
    """`value` as a SQL literal of a Lance filter (strings quoted, quotes doubled)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class LanceDBPeer(Peer):
    """lancedb.connect(directory), a table per agent, flat (exact) cosine search."""

    name = "lancedb"
    description = "LanceDB (embedded, Lance files), one table per agent, exact scan (no ANN index)"
    exact = True
    persistent = True
    reproducible_bytes = False  # FSST's sampled symbol table, commit times in manifests (module docstring)

    def _open(self) -> None:
        lancedb = require_module(self.name, "lancedb", "lancedb")
        self.pa = require_module(self.name, "pyarrow", "lancedb")
        self.db = lancedb.connect(str(self.directory))
        self.tables: Dict[str, Any] = {}
        self.counts: Dict[str, int] = {}
        self.agents: Dict[str, str] = {}  # agent key -> agent id (for records)

    def _close(self) -> None:
        self.tables.clear()

    def _table(self, key: str) -> Optional[Any]:
        """The table of agent `key`, or None when it has none."""
        found = self.tables.get(key)
        if found is None:
            try:
                found = self.db.open_table(f"agent-{key}")
            except ValueError:  # "Table ... was not found"
                return None
            self.tables[key] = found
            self.counts[key] = found.count_rows()
            self.agents[key] = (found.schema.metadata or {}).get(b"agent_id", b"").decode("utf-8")
        return found

    def _store(self, batch: Batch) -> List[str]:
        pa = self.pa
        key = agent_key(batch.agent_id)
        table = self._table(key)
        first = self.counts.get(key, 0)
        seqs = list(range(first, first + len(batch)))
        attrs = [scalar_attributes(state, self.attributes) for state in batch.states]
        vectors = np.ascontiguousarray(batch.vectors, dtype=np.float32)
        columns = {"seq": pa.array(seqs, pa.int64()), "step": pa.array([int(s) for s in batch.steps], pa.int64()),
                   "state": pa.array([orjson.dumps(s).decode("utf-8") for s in batch.states], pa.string())}
        columns.update((f"a_{k}", pa.array([a.get(k) for a in attrs])) for k in self.attributes)
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()),
                                                               vectors.shape[1])
        data = pa.table(columns)
        if table is None:
            data = data.replace_schema_metadata({"agent_id": batch.agent_id})
            self.tables[key] = self.db.create_table(f"agent-{key}", data=data)
            self.agents[key] = batch.agent_id
        else:
            table.add(data.cast(table.schema))
        self.counts[key] = first + len(batch)
        return [f"{key}:{seq}" for seq in seqs]

    def _records(self, key: str, rows: Any) -> List[Record]:
        agent = self.agents[key]
        return [Record(f"{key}:{seq}", agent, int(step), orjson.loads(state))
                for seq, step, state in zip(rows["seq"].to_pylist(), rows["step"].to_pylist(),
                                            rows["state"].to_pylist())]

    def _scan(self, key: str, where: str) -> List[Record]:
        table = self._table(key)
        if table is None:
            return []
        rows = table.search().where(where).select(COLUMNS).limit(max(1, self.counts[key])).to_arrow()
        records = self._records(key, rows)
        records.sort(key=lambda r: (r.step, r.memory_id))
        return records

    def _read(self, memory_id: str) -> Optional[Record]:
        key, _, seq = memory_id.partition(":")
        if not seq.isdigit():
            return None
        found = self._scan(key, f"seq = {int(seq)}")
        return found[0] if found else None

    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        key = agent_key(agent_id)
        table = self._table(key)
        if table is None:
            return []
        rows = (table.search(query.vector).distance_type("cosine").limit(k)
                .select(COLUMNS + ["_distance"]).to_arrow())
        records = self._records(key, rows)
        return [Hit(record, 1.0 - float(d)) for record, d in zip(records, rows["_distance"].to_pylist())]

    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        return self._scan(agent_key(agent_id), f"step >= {int(start)} AND step <= {int(end)}")

    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        key = agent_key(agent_id)
        table = self._table(key)
        if table is None:
            return []
        for name, value in attributes.items():
            if not name.isidentifier():
                raise UnsupportedQuery(f"attribute {name!r} is not a plain column name")
            if not _comparable(table.schema.field(f"a_{name}").type, value):
                return []  # e.g. 1 against a bool column: no state holds that value (True != 1)
        where = " AND ".join(f"a_{name} = {sql_literal(value)}" for name, value in attributes.items())
        return self._scan(key, where)


def _comparable(column: Any, value: Scalar) -> bool:
    """Whether a column of Arrow type `column` can hold `value` (Lance refuses to compare across kinds)."""
    import pyarrow.types as types

    if isinstance(value, bool):
        return types.is_boolean(column)
    if isinstance(value, (int, float)):
        return types.is_integer(column) or types.is_floating(column)
    return types.is_string(column) or types.is_large_string(column)
